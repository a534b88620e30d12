"""Argument checks shared by the attention backends: clear errors naming the argument."""

from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_option(name: str, value, allowed) -> object:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError naming ``name``."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"Invalid value for {name!r}: allowed values are {options}, got {value!r}")
    return value


def check_fraction(name: str, value, *, low_open: bool = False, allow_none: bool = True):
    """Return ``value`` if it is None (when allowed) or a float in [0, 1] ((0, 1] if ``low_open``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(value).__name__}")
    lo_ok = value > 0 if low_open else value >= 0
    if not (lo_ok and value <= 1):
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {bound}, got {value}")
    return float(value)


def check_block(name: str, value: int) -> int:
    """Block sizes are powers of two from 16 up (Triton's smallest matrix tile)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 16 or value & (value - 1):
        raise ValueError(f"{name} must be a power of two >= 16, got {value}")
    return value


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Validate ``[B, H, S, D]`` query/key/value tensors (keys may have fewer heads: GQA)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must have shape (batch, heads, seq, head_dim), got {tuple(t.shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on one device, got {q.device}, {k.device}, {v.device}")
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"k and v must agree in (batch, heads, seq), got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"q and k must share the batch size, got {q.shape[0]} and {k.shape[0]}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share head_dim, got {q.shape[-1]} and {k.shape[-1]}")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"q heads ({q.shape[1]}) must be a multiple of k heads ({k.shape[1]})")
    if k.shape[2] == 0 or q.shape[2] == 0:
        raise ValueError("q and k need at least one position along seq")


def expand_kv(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Repeat key/value heads to match the query heads (grouped-query attention)."""
    groups = q.shape[1] // t.shape[1]
    return t if groups == 1 else t.repeat_interleave(groups, dim=1)


def default_scale(q: torch.Tensor, scale: float | None) -> float:
    """The softmax scale SDPA would use: ``1/sqrt(head_dim)`` unless given."""
    return q.shape[-1] ** -0.5 if scale is None else float(scale)
