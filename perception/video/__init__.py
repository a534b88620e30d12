"""Video: streaming decode, time-grid sampling, redundancy skipping, observations.

Synthetic test videos (many scenes, needles at known times) are in ``agentkit.demo_video``.
"""
from perception.video.observe import FrameMark, IndexStats, KeepRule, ObserveSettings, observe_video
from perception.video.reader import (DECODE_MODES, TimedFrame, VideoInfo, VideoSampling, check_video_path,
                                     iter_frames, probe)
from perception.video.signature import DEFAULT_THRESHOLD, RedundancyFilter, signature_of

__all__ = ["DECODE_MODES", "DEFAULT_THRESHOLD", "FrameMark", "IndexStats", "KeepRule", "ObserveSettings", "RedundancyFilter", "TimedFrame",
           "VideoInfo", "VideoSampling", "check_video_path", "iter_frames", "observe_video", "probe", "signature_of"]
