"""Scale-out: index a whole archive of videos, or report on a folder of EEG recordings, on Ray.

Workers (Ray actors, models loaded once each) decode and encode; the driver is the one writer of
the store and commits in the store's own transactions, so an interrupted job resumes with no
segment lost or stored twice. Without Ray the same jobs run in this process. See docs/scale.md.
"""
from agentkit.scale.files import EEG_EXTENSIONS, VIDEO_EXTENSIONS, find_files
from agentkit.scale.pool import RayPool, require_ray
from agentkit.scale.video_job import ENGINES, FileReport, JobReport, VideoFile, index_videos, plan_videos

__all__ = ["EEG_EXTENSIONS", "ENGINES", "FileReport", "JobReport", "RayPool", "VIDEO_EXTENSIONS", "VideoFile",
           "find_files", "index_videos", "plan_videos", "require_ray"]
