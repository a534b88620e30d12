"""Video: streaming decode, time-grid sampling, redundancy skipping, observations.

``perception.video.compose`` (multi-scene test videos with needles) is imported on demand.
"""
from perception.video.observe import IndexStats, observe_video
from perception.video.reader import DECODE_MODES, TimedFrame, VideoInfo, iter_frames, probe
from perception.video.signature import DEFAULT_THRESHOLD, RedundancyFilter, signature_of

__all__ = ["DECODE_MODES", "DEFAULT_THRESHOLD", "IndexStats", "RedundancyFilter", "TimedFrame",
           "VideoInfo", "iter_frames", "observe_video", "probe", "signature_of"]
