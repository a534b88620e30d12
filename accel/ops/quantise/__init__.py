"""Quantisation kernels of the int8 attention path (``kernel.py``) and their references (``naive.py``)."""

from accel.ops.quantise.kernel import fp8_channel_scales, launch_quantise, launch_quantise_v_fp8

__all__ = ["fp8_channel_scales", "launch_quantise", "launch_quantise_v_fp8"]
