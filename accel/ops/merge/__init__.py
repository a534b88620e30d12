"""The size-weighted token merge kernel (``kernel.py``) and its reference (``naive.py``)."""

from accel.ops.merge.kernel import launch_merge_weighted

__all__ = ["launch_merge_weighted"]
