"""``accel.attention``: one entry point over every backend, with an optional error report."""

from __future__ import annotations

import torch

from accel.attention import auto as _auto
from accel.attention._checks import check_option, check_qkv, expand_kv
from accel.attention.block_sparse import block_sparse_attention
from accel.attention.int8 import int8_attention
from accel.attention.linear import linear_attention
from accel.attention.report import (
    ORIGINAL_SDPA,
    ErrorReport,
    active_monitor,
    exact_attention,
    make_report,
)
from accel.ops.attention.kernel import LaunchSettings

__all__ = ["BACKENDS", "attention"]

BACKENDS = ("auto", "sdpa", "block_sparse", "int8", "linear")
_LOSSY = ("block_sparse", "int8", "linear")
_HAS_GQA = "enable_gqa" in (ORIGINAL_SDPA.__doc__ or "")  # a builtin: no inspect.signature


def _sdpa(q, k, v, *, causal, scale, kernel: str | None = None) -> torch.Tensor:
    if q.shape[1] != k.shape[1]:
        if _HAS_GQA and kernel is None:
            return ORIGINAL_SDPA(q, k, v, is_causal=causal, scale=scale, enable_gqa=True)
        k, v = expand_kv(q, k), expand_kv(q, v)
    if kernel is None:
        return ORIGINAL_SDPA(q, k, v, is_causal=causal, scale=scale)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    which = {"sdpa:flash": SDPBackend.FLASH_ATTENTION, "sdpa:cudnn": SDPBackend.CUDNN_ATTENTION,
             "sdpa:efficient": SDPBackend.EFFICIENT_ATTENTION}[kernel]
    with sdpa_kernel([which]):
        return ORIGINAL_SDPA(q, k, v, is_causal=causal, scale=scale)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    backend: str = "auto",
    causal: bool = False,
    scale: float | None = None,
    sparsity: float | None = 0.5,
    mass: float | None = None,
    block_q: int = 128,
    block_k: int = 64,
    keep_sink: bool = True,
    pv_fp8: bool = False,
    decay: float = 1.0,
    chunk: int = 128,
    auto_allow: tuple[str, ...] = (),
    report: bool = False,
    launch: LaunchSettings | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ErrorReport]:
    """Scaled dot-product attention through a chosen backend.

    Returns what ``F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)``
    returns, within the backend's tolerance:

    - ``sdpa``: torch's own (exact up to its kernel's rounding).
    - ``block_sparse``: attention over predicted blocks only (``sparsity``, ``mass``,
      ``keep_sink``, ``block_q`` x ``block_k``); cosine >= 0.99 against exact on structured inputs
      at moderate sparsity, exact for the kept blocks.
    - ``int8``: int8 Q·Kᵀ after smoothing K, per-block scales (``block_q``, ``block_k``), P·V in
      fp16/bf16 (``pv_fp8``: in float8, faster on Hopper, cosine ~0.9992 instead of 0.9999 on
      random normal inputs).
    - ``linear``: kernelised linear attention (``decay``, ``chunk``; ``scale`` is not used); a
      different function, for very long streams; see ``accel.attention.linear``.
    - ``auto``: the fastest SDPA kernel for this shape (timed once, cached), or a backend from
      ``auto_allow`` when that is faster; ``sdpa`` on CPU.

    Args:
        q: ``[B, H, Sq, D]`` query, float16/bfloat16/float32 (float64 runs the PyTorch paths).
        k: ``[B, Hk, Sk, D]`` key; ``Hk`` divides ``H`` (grouped-query attention).
        v: ``[B, Hk, Sk, Dv]`` value.
        backend: one of ``BACKENDS``.
        causal: top-left causal mask, as SDPA's ``is_causal``.
        scale: softmax scale, default ``1/sqrt(D)``.
        sparsity: block_sparse: fraction of valid blocks to skip per query block.
        mass: block_sparse: stop keeping blocks once this predicted mass is covered.
        block_q: block_sparse/int8: query rows per block.
        block_k: block_sparse/int8: keys per block.
        keep_sink: block_sparse: always keep the first key block.
        pv_fp8: int8: P·V in float8 e4m3 too.
        decay: linear: per-step forgetting factor (causal only).
        chunk: linear: positions per chunk.
        auto_allow: auto: lossy backends it may choose when faster.
        report: also return an ``ErrorReport`` against exact attention (costs an exact pass).
        launch: block_sparse/int8: the GPU kernel's launch settings (``LaunchSettings``: warps,
            stages, Hopper kernel or not); default ``LaunchSettings()``.

    Returns:
        The ``[B, H, Sq, Dv]`` output, or ``(output, report)`` when ``report`` is True.

    Raises:
        ValueError, TypeError: on bad shapes, dtypes or options (the message names the argument).

    Example:
        >>> q = k = v = torch.randn(1, 2, 300, 64)
        >>> out, rep = attention(q, k, v, backend="int8", report=True)
        >>> rep.cosine > 0.99
        True
    """
    check_qkv(q, k, v)
    check_option("backend", backend, BACKENDS)
    for name in auto_allow:
        check_option("auto_allow item", name, _LOSSY)
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")

    sparsity_used: torch.Tensor | float = 0.0

    def run(name: str) -> torch.Tensor:
        nonlocal sparsity_used
        if name == "sdpa":
            return _sdpa(q, k, v, causal=causal, scale=scale)
        if name.startswith("sdpa:"):
            return _sdpa(q, k, v, causal=causal, scale=scale, kernel=name)
        if name == "block_sparse":
            out, layout = block_sparse_attention(q, k, v, causal=causal, scale=scale, sparsity=sparsity,
                                                 mass=mass, block_q=block_q, block_k=block_k,
                                                 keep_sink=keep_sink, launch=launch)
            sparsity_used = layout.sparsity
            return out
        if name == "int8":
            return int8_attention(q, k, v, causal=causal, scale=scale, block_q=block_q, block_k=block_k,
                                  pv_fp8=pv_fp8, launch=launch)
        return linear_attention(q, k, v, causal=causal, decay=decay, chunk=chunk)

    chosen = backend
    if backend == "auto":
        chosen = _auto.choose_backend(q, k, causal=causal, allow=tuple(auto_allow), run=run)
    out = run(chosen)

    monitor = active_monitor()
    sampled = monitor is not None and monitor.should_sample()
    if not (report or sampled):
        return out
    exact = exact_attention(q, k, v, causal=causal, scale=scale)
    sp = float(sparsity_used.item()) if isinstance(sparsity_used, torch.Tensor) else float(sparsity_used)
    rep = make_report(out, exact, backend=chosen, sparsity=sp)
    if sampled:
        monitor.record(rep)
    return (out, rep) if report else out
