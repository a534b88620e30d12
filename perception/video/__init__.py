"""Video: streaming decode, time-grid sampling, redundancy skipping, observations.

``perception.video.compose`` (multi-scene test videos with needles) is imported on demand.
"""
from perception.video.reader import DECODE_MODES, TimedFrame, VideoInfo, iter_frames, probe

__all__ = ["DECODE_MODES", "TimedFrame", "VideoInfo", "iter_frames", "probe"]
