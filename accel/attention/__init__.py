"""Attention backends behind one call, with a per-call error report and module patching.

``attention(q, k, v, backend=...)`` on ``[B, H, S, D]`` tensors; backends ``sdpa``,
``block_sparse``, ``int8``, ``linear`` and ``auto``. Triton kernels run on CUDA when Triton is
installed; every backend has a PyTorch path (used on CPU) and a float64 reference in
``accel.ops.attention.naive`` (also importable as ``accel.attention.naive``). The kernels live in
``accel.ops``; ``LaunchSettings`` tunes their launch.

``accel.attention`` is both this package and callable: ``accel.attention(q, k, v)`` is
``accel.attention.attention(q, k, v)``.
"""

import sys as _sys
import types as _types

from accel.attention.api import BACKENDS, attention
from accel.attention.block_mask import BlockLayout, predict_block_mask
from accel.attention.block_sparse import block_sparse_attention
from accel.attention.int8 import int8_attention
from accel.attention.linear import linear_attention
from accel.attention.patch import (
    AttentionConfig,
    apply_attention,
    attention_backend,
    attention_state,
    remove_attention,
)
from accel.attention.report import ErrorMonitor, ErrorReport, error_reports
from accel.ops import HAVE_TRITON, LaunchSettings

__all__ = [
    "BACKENDS",
    "HAVE_TRITON",
    "AttentionConfig",
    "BlockLayout",
    "ErrorMonitor",
    "ErrorReport",
    "LaunchSettings",
    "apply_attention",
    "attention",
    "attention_backend",
    "attention_state",
    "block_sparse_attention",
    "error_reports",
    "int8_attention",
    "linear_attention",
    "predict_block_mask",
    "remove_attention",
]


class _CallableModule(_types.ModuleType):
    """Lets ``accel.attention(q, k, v, ...)`` call the function while ``accel.attention.naive``,
    ``import accel.attention.patch as p`` and friends keep naming the package."""

    def __call__(self, *args, **kwargs):
        return attention(*args, **kwargs)


_CallableModule.__call__.__doc__ = attention.__doc__
_sys.modules[__name__].__class__ = _CallableModule
