"""int8 attention: Q·Kᵀ in int8 with per-block scales, P·V in fp16/bf16 (or fp8 on request).

SageAttention's smoothing idea, re-derived: subtracting K's mean over the sequence from every
key shifts all scores of a query row by the same constant, which softmax ignores, yet it removes
the large shared channel offsets that otherwise eat int8's range. Q (pre-multiplied by the
softmax scale and log2(e)) and smoothed K are then rounded to int8 with one scale per block of
rows (``amax / 127``). Scores are dequantised in float32, the softmax runs in float32, and P·V
runs in V's dtype (fp32 inputs keep fp32).

``pv_fp8=True`` also runs P·V in float8 e4m3 (Hopper's fp8 tensor cores): V gets one scale per
channel (``amax / 448``), P (in [0, 1]) is multiplied by 448, both are rounded to e4m3 (3
mantissa bits), and the product accumulates in float32. On an H200 at S = 32k, D = 128 that took
the call from 30.2 to 25.8 ms (cuDNN's bf16 kernel: 29.2 ms), at a cost in accuracy: cosine to
exact attention 0.9992 on random normal inputs against 0.9999 (docs/benchmarks.md). At D = 64
it gains nothing.

GPU: ``accel.ops.attention.launch_attention`` (int8 tensor-core products, int32 accumulation); on Hopper,
with bf16/fp16 P·V at D = 128, that is the warp-specialised kernel in ``accel.ops.attention.hopper``,
which makes ``block_k=128`` the faster choice there (1.13-1.19x of cuDNN on an H200 at 32k).
CPU: the same quantised values multiplied in float32 (exact: every product sum stays below
2**24; with ``pv_fp8`` the same e4m3 roundings), chunked over query rows. The CPU path is a
reference, not a speed-up.
"""

from __future__ import annotations

import math

import torch

from accel.attention._checks import check_block, default_scale, expand_kv
from accel.attention.grad import with_recompute_grad
from accel.attention.report import ORIGINAL_SDPA
from accel.ops.attention.kernel import LaunchSettings, launch_attention
from accel.ops.quantise.kernel import fp8_channel_scales, launch_quantise, launch_quantise_v_fp8
from accel.ops.runtime import triton_usable

__all__ = ["channel_balance", "int8_attention", "quantise_blocks", "smooth_keys"]

_LOG2E = 1.4426950408889634
_SCORE_BUDGET = 1 << 25  # float32 scores per chunk on the PyTorch path


def smooth_keys(k: torch.Tensor) -> torch.Tensor:
    """Subtract each head's channel mean over the sequence (softmax-invariant); float32 out."""
    work = torch.float64 if k.dtype == torch.float64 else torch.float32
    kf = k.to(work)
    return kf - kf.mean(dim=2, keepdim=True)


def channel_balance(q: torch.Tensor, k: torch.Tensor, k_mean: torch.Tensor | None) -> torch.Tensor:
    """Per-channel factors ``a`` with ``q·k = (q * a)·(k / a)`` that equalise Q's and K's ranges.

    SmoothQuant's migration applied inside attention: a channel where K has outliers and Q does
    not is scaled down in K and up in Q (and vice versa), so one per-block int8 scale fits both.
    Exact before rounding. ``a = sqrt(max|k_c| / max|q_c|)`` over the sequence (and over the
    query heads sharing a key head), clamped to [1e-3, 1e3].

    Returns:
        float32 ``[B, Hk, D]``.
    """
    b, h, _, d = q.shape
    hk = k.shape[1]
    qmin, qmax = torch.aminmax(q, dim=2)
    q_range = torch.maximum(qmax.float().abs(), qmin.float().abs()).view(b, hk, h // hk, d).amax(dim=2)
    kmin, kmax = torch.aminmax(k, dim=2)
    kmin, kmax = kmin.float(), kmax.float()
    if k_mean is not None:
        kmin, kmax = kmin - k_mean, kmax - k_mean
    k_range = torch.maximum(kmax.abs(), kmin.abs())
    return (k_range.clamp(min=1e-6) / q_range.clamp(min=1e-6)).sqrt().clamp(1e-3, 1e3)


def quantise_blocks(x: torch.Tensor, block: int, *, factor: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per block of ``block`` rows.

    Args:
        x: ``[B, H, S, D]`` float tensor.
        block: rows per scale.
        factor: multiplied into ``x`` first (the softmax scale for Q).

    Returns:
        ``(values, scales)``: int8 ``[B, H, S, D]`` and float32 ``[B, H, ceil(S/block)]``.
    """
    b, h, s, d = x.shape
    nb = math.ceil(s / block)
    xf = x.float() * factor
    pad = nb * block - s
    if pad:
        xf = torch.nn.functional.pad(xf, (0, 0, 0, pad))
    xb = xf.view(b, h, nb, block, d)
    amax = xb.abs().amax(dim=(-1, -2))
    scales = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    vals = torch.clamp(torch.round(xb / scales[..., None, None]), -127, 127).to(torch.int8)
    return vals.view(b, h, nb * block, d)[:, :, :s], scales.contiguous()


def _fp8(x: torch.Tensor) -> torch.Tensor:
    """Round to float8 e4m3 (saturating at 448) and back to float32."""
    return x.float().clamp(-448.0, 448.0).to(torch.float8_e4m3fn).float()


def _torch_int8(qv, qs, kv, ks, v, *, block_q, block_k, causal, pv_fp8=False) -> torch.Tensor:
    """Attention from quantised Q/K in PyTorch; scores are in log2 units."""
    b, h, sq, d = qv.shape
    sk = kv.shape[2]
    kd = (kv.float() * ks.repeat_interleave(block_k, dim=2)[:, :, :sk, None])
    kd = expand_kv(qv, kd)
    pv_dtype = v.dtype if v.dtype in (torch.float16, torch.bfloat16) else torch.float32
    if pv_fp8:  # V in e4m3 with one scale per channel, as launch_quantise_v_fp8
        v_scale = fp8_channel_scales(v)[:, :, None]  # (B, Hk, 1, D)
        vv = expand_kv(qv, _fp8(v.float() / v_scale))
        v_scale = expand_kv(qv, v_scale)
    else:
        vv = expand_kv(qv, v.to(pv_dtype)).float()
    out = torch.empty(b, h, sq, v.shape[-1], dtype=torch.float32, device=qv.device)
    rows = max(block_q, (_SCORE_BUDGET // max(b * h * sk, 1)) // block_q * block_q)
    for start in range(0, sq, rows):
        stop = min(sq, start + rows)
        qs_rows = qs.repeat_interleave(block_q, dim=2)[:, :, start:stop]
        qd = qv[:, :, start:stop].float() * qs_rows[..., None]
        scores = qd @ kd.transpose(-1, -2)
        if causal:
            i = torch.arange(start, stop, device=qv.device)[:, None]
            j = torch.arange(sk, device=qv.device)[None, :]
            scores = scores.masked_fill(j > i, float("-inf"))
        m = scores.amax(dim=-1, keepdim=True).clamp(min=-1e30)
        p = torch.exp2(scores - m)
        l_sum = p.sum(dim=-1, keepdim=True)
        l_sum = torch.where(l_sum > 0, l_sum, torch.ones_like(l_sum))
        if pv_fp8:  # P * 448 rounded to e4m3, as in the kernel
            out[:, :, start:stop] = (_fp8(p * 448.0) @ vv) * (v_scale / 448.0) / l_sum
        else:
            p = p.to(pv_dtype).float()  # P is rounded to V's dtype, as in the kernel
            out[:, :, start:stop] = (p @ vv) / l_sum
    return out.to(v.dtype)


def int8_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    block_q: int = 128,
    block_k: int = 64,
    smooth: bool = True,
    balance: bool = True,
    pv_fp8: bool = False,
    use_triton: bool | None = None,
    launch: LaunchSettings | None = None,
) -> torch.Tensor:
    """int8 Q·Kᵀ attention with K smoothing and per-block scales.

    Args:
        q: ``[B, H, Sq, D]``; k, v: ``[B, Hk, Sk, D]`` (Hk divides H).
        causal: top-left causal mask.
        scale: softmax scale, default ``1/sqrt(D)``.
        block_q: query rows per quantisation block (power of two >= 16).
        block_k: keys per quantisation block (power of two >= 16).
        smooth: subtract K's channel mean before quantising (recommended).
        balance: move range between Q's and K's channels before quantising (``channel_balance``;
            recommended: it took Gemma 3's worst layer from cosine 0.989 to 0.9994).
        pv_fp8: P·V in float8 e4m3 as well (faster on Hopper, less accurate: see above).
        use_triton: force (True) or forbid (False) the Triton kernel; default: on CUDA when usable.
        launch: the attention kernel's launch settings (warps, stages, Hopper kernel or not);
            default ``LaunchSettings()``.

    Returns:
        ``[B, H, Sq, D]`` output in q's dtype. Differentiable with a straight-through backward:
        the gradient of exact attention at the same inputs (see ``accel.attention.grad``).
    """
    check_block("block_q", block_q)
    check_block("block_k", block_k)
    s = default_scale(q, scale)

    def fast(q, k, v):
        return _int8_forward(q, k, v, causal=causal, s=s, block_q=block_q, block_k=block_k, smooth=smooth,
                             balance=balance, pv_fp8=pv_fp8, use_triton=use_triton, launch=launch)

    def exact(q, k, v):
        return ORIGINAL_SDPA(q, expand_kv(q, k), expand_kv(q, v), is_causal=causal, scale=s)

    return with_recompute_grad(fast, exact, q, k, v)


def _int8_forward(q, k, v, *, causal, s, block_q, block_k, smooth, balance, pv_fp8, use_triton,
                  launch=None) -> torch.Tensor:
    triton_ok = triton_usable(q)
    if use_triton is None:
        use_triton = triton_ok and q.is_cuda
    if use_triton and not triton_ok:
        raise RuntimeError("use_triton=True but triton is unavailable for this device/dtype")
    mean = k.mean(dim=2, dtype=torch.float32) if smooth else None  # (B, Hk, D)
    a = channel_balance(q, k, mean) if balance else None  # (B, Hk, D)
    if use_triton:  # one fused pass per tensor: (smooth,) balance, scale, round, store int8 + scales
        a_q = expand_kv(q, a[:, :, None])[:, :, 0] if a is not None else None
        qv, qs = launch_quantise(q, block_q, factor=s * _LOG2E, mul=a_q)
        kv, ks = launch_quantise(k, block_k, mean=mean, mul=None if a is None else 1.0 / a)
        v_scale = None
        if pv_fp8:
            v, v_scale = launch_quantise_v_fp8(v)
        return launch_attention(qv, kv, v, causal=causal, block_q=block_q, block_k=block_k, q_scale=qs,
                                k_scale=ks, v_scale=v_scale, out_dtype=q.dtype, launch=launch)
    work = torch.float64 if q.dtype == torch.float64 else torch.float32
    ks_in = k.to(work) - mean[:, :, None].to(work) if smooth else k.to(work)
    q_in = q.to(work)
    if a is not None:
        ks_in = ks_in / a[:, :, None].to(work)
        q_in = q_in * expand_kv(q, a[:, :, None])[:, :, 0, None].to(work)
    qv, qs = quantise_blocks(q_in, block_q, factor=s * _LOG2E)
    kv, ks = quantise_blocks(ks_in, block_k)
    return _torch_int8(qv, qs, kv, ks, v, block_q=block_q, block_k=block_k, causal=causal, pv_fp8=pv_fp8)
