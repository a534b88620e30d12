"""Plain PyTorch references for the quantisation kernels in ``kernel.py`` (float64, loops).

Written independently of the kernels and of ``accel.attention.int8``'s PyTorch path, so a test
holding them together can catch a mistake in either.
"""

from __future__ import annotations

import torch

__all__ = ["fp8_channel_reference", "quantise_rows"]


def quantise_rows(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per block of ``block`` rows, one loop iteration per block (float64).

    Args:
        x: ``[B, H, S, D]`` float tensor (already scaled, smoothed and balanced as wanted).
        block: rows per scale.

    Returns:
        ``(values, scales)``: the rounded values ``[B, H, S, D]`` (integers held in x's dtype,
        in [-127, 127]) and the scales ``[B, H, ceil(S/block), 1]`` (``amax / 127``, 1 for an
        all-zero block). Rounding is half to even (``torch.round``); the kernel rounds half
        away from zero, so the two differ only on exact halves.
    """
    b, h, s, d = x.shape
    vals = torch.empty_like(x)
    scales = []
    for start in range(0, s, block):
        chunk = x[:, :, start:start + block]
        amax = chunk.abs().amax(dim=(-1, -2), keepdim=True)
        sc = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
        vals[:, :, start:start + block] = torch.clamp(torch.round(chunk / sc), -127, 127)
        scales.append(sc)
    return vals, torch.cat([sc.expand(b, h, 1, 1) for sc in scales], dim=2)


def fp8_channel_reference(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """V in float8 e4m3 with one scale per channel, channel by channel (``launch_quantise_v_fp8``).

    Args:
        v: ``[B, Hk, S, D]`` float tensor.

    Returns:
        ``(values, scales)``: the e4m3 values as float64 ``[B, Hk, S, D]`` and float64 scales
        ``[B, Hk, D]`` (``amax / 448`` over the sequence, 1 for an all-zero channel).
    """
    v64 = v.double()
    vals = torch.empty_like(v64)
    scales = torch.empty(v.shape[0], v.shape[1], v.shape[3], dtype=torch.float64, device=v.device)
    for c in range(v.shape[3]):
        amax = v64[..., c].abs().amax(dim=-1)  # (B, Hk)
        sc = torch.where(amax > 0, amax / 448.0, torch.ones_like(amax))
        scales[..., c] = sc
        vals[..., c] = (v64[..., c] / sc[..., None]).clamp(-448, 448).to(torch.float8_e4m3fn).double()
    return vals, scales
