"""Fused block-mask prediction and layout (``kernel.py``) and its reference (``naive.py``)."""

from accel.ops.block_mask.kernel import launch_predict_layout

__all__ = ["launch_predict_layout"]
