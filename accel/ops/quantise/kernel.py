"""Quantisation kernels of the int8 attention path: int8 Q/K per block of rows, float8 V per channel.

- ``launch_quantise``: one pass per tensor, ``round((x - mean) * mul * factor / scale)`` to int8
  with one scale (``amax / 127``) per block of rows (K smoothing and Q/K range balancing fused in).
- ``launch_quantise_v_fp8``: V as float8 e4m3 with one scale per channel (``amax / 448``), stored
  transposed (keys contiguous) for the fp8 P·V product.

References beside them in ``naive.py``: ``quantise_rows`` (float64, one loop per block).
"""

from __future__ import annotations

import torch

from accel.ops.runtime import HAVE_TRITON, next_pow2, prepare_interpreter, tl, triton

__all__ = ["fp8_channel_scales", "launch_quantise", "launch_quantise_v_fp8"]

if HAVE_TRITON:

    @triton.jit
    def _quantise_fwd(
        X, MEAN, MUL, OUT, SCALE,
        stride_xb, stride_xh, stride_xs, stride_xd,
        H, S, NB, factor,
        BLOCK: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr, HAS_MEAN: tl.constexpr,
        HAS_MUL: tl.constexpr,
    ):
        pid = tl.program_id(0)
        off_bh = tl.program_id(1)
        off_b = off_bh // H
        off_h = off_bh % H
        rows = pid * BLOCK + tl.arange(0, BLOCK)
        cols = tl.arange(0, BLOCK_D)
        m = (rows[:, None] < S) & (cols[None, :] < D)
        x = tl.load(X + off_b * stride_xb + off_h * stride_xh + rows[:, None] * stride_xs + cols[None, :] * stride_xd,
                    mask=m, other=0).to(tl.float32)
        if HAS_MEAN:
            mu = tl.load(MEAN + off_bh * D + cols, mask=cols < D, other=0)
            x = tl.where(m, x - mu[None, :], 0.0)
        if HAS_MUL:
            mul = tl.load(MUL + off_bh * D + cols, mask=cols < D, other=0)
            x = x * mul[None, :]
        x = x * factor
        amax = tl.max(tl.max(tl.abs(x), 1), 0)
        scale = tl.where(amax > 0, amax / 127.0, 1.0)
        y = x / scale
        y = tl.where(y >= 0, tl.floor(y + 0.5), tl.ceil(y - 0.5))  # round half away from zero
        y = tl.minimum(tl.maximum(y, -127.0), 127.0)
        tl.store(OUT + off_bh * S * D + rows[:, None] * D + cols[None, :], y.to(tl.int8), mask=m)
        tl.store(SCALE + off_bh * NB + pid, scale)


def launch_quantise(x: torch.Tensor, block: int, *, factor: float = 1.0, mean: torch.Tensor | None = None,
                    mul: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One-pass int8 quantisation per block of rows: ``round((x - mean) * mul * factor / scale)``.

    Args:
        x: ``[B, H, S, D]`` float tensor (any strides).
        block: rows per scale.
        factor: multiplied in after subtracting ``mean``.
        mean: optional ``[B, H, D]`` float32 mean to subtract first (K smoothing).
        mul: optional ``[B, H, D]`` float32 per-channel factor (Q/K range balancing).

    Returns:
        int8 ``[B, H, S, D]`` (contiguous) and float32 scales ``[B, H, ceil(S/block)]``.
    """
    prepare_interpreter()
    b, h, s, d = x.shape
    nb = triton.cdiv(s, block)
    out = torch.empty((b, h, s, d), device=x.device, dtype=torch.int8)
    scales = torch.empty((b, h, nb), device=x.device, dtype=torch.float32)
    has_mean = mean is not None
    mean_arg = mean.float().contiguous() if has_mean else scales
    mul_arg = mul.float().contiguous() if mul is not None else scales
    _quantise_fwd[(nb, b * h)](
        x, mean_arg, mul_arg, out, scales, *x.stride(), h, s, nb, float(factor),
        BLOCK=block, BLOCK_D=next_pow2(d), D=d, HAS_MEAN=has_mean, HAS_MUL=mul is not None, num_warps=4,
    )
    return out, scales


if HAVE_TRITON:

    @triton.jit
    def _quantise_v_fp8(
        V, VS, OUT, stride_vb, stride_vh, stride_vs, stride_vd, HK, S,
        BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr,
    ):
        """Rows ``[pid*BLOCK_S, ...)`` of V divided by their channel's scale, as e4m3 into ``OUT``
        stored ``[B, Hk, D, S]`` (the transpose written by the same program that read the tile)."""
        pid = tl.program_id(0)
        off_bh = tl.program_id(1)
        rows = pid * BLOCK_S + tl.arange(0, BLOCK_S)
        cols = tl.arange(0, BLOCK_D)
        m = (rows[:, None] < S) & (cols[None, :] < D)
        x = tl.load(V + (off_bh // HK) * stride_vb + (off_bh % HK) * stride_vh + rows[:, None] * stride_vs
                    + cols[None, :] * stride_vd, mask=m, other=0).to(tl.float32)
        inv = 1.0 / tl.load(VS + off_bh * D + cols, mask=cols < D, other=1.0)
        y = tl.minimum(tl.maximum(x * inv[None, :], -448.0), 448.0)
        tl.store(OUT + off_bh.to(tl.int64) * D * S + cols[:, None] * S + rows[None, :],
                 tl.trans(y).to(tl.float8e4nv), mask=(cols[:, None] < D) & (rows[None, :] < S))


def fp8_channel_scales(v: torch.Tensor) -> torch.Tensor:
    """float32 ``[B, Hk, D]``: ``amax / 448`` of each channel over the sequence (1 where it is all
    zero), the e4m3 scales of V; the PyTorch path uses the same ones."""
    vmin, vmax = torch.aminmax(v, dim=2)
    amax = torch.maximum(vmin.float().abs(), vmax.float().abs())
    return torch.where(amax > 0, amax / 448.0, torch.ones_like(amax)).contiguous()


def launch_quantise_v_fp8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """V as float8 e4m3 with one scale per channel (``amax / 448`` over the sequence).

    Args:
        v: ``[B, Hk, S, D]`` float tensor (any strides).

    Returns:
        ``(values, scales)``: float8_e4m3fn ``[B, Hk, S, D]`` whose storage is ``[B, Hk, D, S]``
        (keys contiguous, what the fp8 P·V product needs), and float32 ``[B, Hk, D]``.
    """
    prepare_interpreter()
    b, hk, s, d = v.shape
    scales = fp8_channel_scales(v)
    out = torch.empty((b, hk, d, s), device=v.device, dtype=torch.float8_e4m3fn)
    block_s = 64
    _quantise_v_fp8[(triton.cdiv(s, block_s), b * hk)](
        v, scales, out, *v.stride(), hk, s, BLOCK_S=block_s, BLOCK_D=next_pow2(d), D=d, num_warps=4,
    )
    return out.transpose(-1, -2), scales
