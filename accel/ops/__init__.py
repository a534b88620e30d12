"""Kernels (Triton, Gluon), each op with its plain PyTorch reference beside it.

One folder per op; in each, ``kernel.py`` holds the kernels and their launcher, and ``naive.py``
the float64 reference the tests hold them to::

    runtime.py             shared: optional Triton import, CPU interpreter, tile sizes
    attention/kernel.py    flash-style forward: dense, block-sparse, int8 Q·Kᵀ, fp8 P·V
    attention/hopper.py    the warp-specialised Hopper (sm_90) forward, in Gluon
    attention/naive.py     dense, block-sparse, int8 and linear attention references
    quantise/kernel.py     int8 Q/K per row block, float8 V per channel
    quantise/naive.py      their references
    block_mask/kernel.py   fused block-mask prediction and layout
    block_mask/naive.py    its reference
    merge/kernel.py        size-weighted token merge (accel.tokens)
    merge/naive.py         its reference

Launch settings are arguments (``LaunchSettings``), never environment variables. This package
imports torch and, when installed, Triton; nothing else of accel.
"""

from accel.ops.attention.kernel import LaunchSettings
from accel.ops.runtime import HAVE_TRITON, triton_usable

__all__ = ["HAVE_TRITON", "LaunchSettings", "triton_usable"]
