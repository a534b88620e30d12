"""The attention forward kernels (``kernel.py``: Triton; ``hopper.py``: Gluon, sm_90) and their
references (``naive.py``)."""

from accel.ops.attention.kernel import LaunchSettings, launch_attention

__all__ = ["LaunchSettings", "launch_attention"]
