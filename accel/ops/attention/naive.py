"""Plain PyTorch references for the attention kernels and backends (float64, loops where clearer).

Beside ``kernel.py`` (dense, block-sparse and int8 forward) and ``hopper.py``; ``linear_reference``
is the reference of ``accel.attention.linear`` (a PyTorch path, no kernel). These are slow on
purpose: each one is written independently of the fast path it checks, so a test holding the
two together can catch a mistake in either. Not exported from ``accel``; tests and benchmarks
import ``accel.ops.attention.naive`` (``accel.attention.naive`` names the same module).
"""

from __future__ import annotations

import math

import torch

from accel.ops.quantise.naive import quantise_rows

__all__ = [
    "block_sparse_reference",
    "causal_mask",
    "dense_reference",
    "int8_reference",
    "linear_reference",
]


def _expand(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Key/value heads repeated to the query heads (grouped-query attention)."""
    return t.repeat_interleave(q.shape[1] // t.shape[1], dim=1)


def _scale(q: torch.Tensor, scale: float | None) -> float:
    return q.shape[-1] ** -0.5 if scale is None else float(scale)


def causal_mask(sq: int, sk: int, device=None) -> torch.Tensor:
    """``[Sq, Sk]`` bool mask, True where query ``i`` may see key ``j`` (``j <= i``, top-left)."""
    i = torch.arange(sq, device=device)[:, None]
    j = torch.arange(sk, device=device)[None, :]
    return j <= i


def dense_reference(q, k, v, *, causal=False, scale=None, mask=None) -> torch.Tensor:
    """Exact softmax attention in float64: ``softmax(q kᵀ * scale + mask) v``.

    Args:
        q: ``[B, H, Sq, D]``; k, v: ``[B, Hk, Sk, D]`` (Hk divides H).
        causal: top-left causal mask, as ``F.scaled_dot_product_attention(is_causal=True)``.
        scale: softmax scale, default ``1/sqrt(D)``.
        mask: optional bool mask broadcastable to ``[B, H, Sq, Sk]``, True = attend.

    Returns:
        float64 ``[B, H, Sq, D]``; rows with no visible key are zero.
    """
    s = _scale(q, scale)
    k, v = _expand(q, k), _expand(q, v)
    q64, k64, v64 = q.double(), k.double(), v.double()
    scores = q64 @ k64.transpose(-1, -2) * s
    allowed = torch.ones(scores.shape, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed & causal_mask(q.shape[2], k.shape[2], q.device)
    if mask is not None:
        allowed = allowed & mask
    scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return probs @ v64


def block_sparse_reference(q, k, v, block_mask, *, block_q, block_k, causal=False, scale=None):
    """Dense attention restricted to the kept (query block, key block) pairs, in float64.

    ``block_mask`` is ``[B, H, ceil(Sq/block_q), ceil(Sk/block_k)]`` bool; it is blown up to an
    element mask by repeating each entry over its block and cropping to ``(Sq, Sk)``.
    """
    sq, sk = q.shape[2], k.shape[2]
    elem = block_mask.repeat_interleave(block_q, dim=2).repeat_interleave(block_k, dim=3)
    elem = elem[:, :, :sq, :sk]
    return dense_reference(q, k, v, causal=causal, scale=scale, mask=elem)


def int8_reference(q, k, v, *, block_q, block_k, causal=False, scale=None, balance=True) -> torch.Tensor:
    """What the int8 backend computes, in float64: smoothing, balancing, per-block int8 Q and K.

    K's channel mean is subtracted first (it shifts every score of a row by the same amount, so
    softmax ignores it); with ``balance`` each channel c is multiplied by
    ``a_c = sqrt(max|k_c| / max|q_c|)`` in Q and divided by it in K (the max over the sequence
    and the query heads sharing the key head); Q is pre-multiplied by the softmax scale, each
    block of rows is rounded to int8 with scale ``amax/127``, and the dequantised scores go
    through an exact softmax. P is not rounded to V's dtype here, so the kernel differs by that
    rounding only.
    """
    s = _scale(q, scale)
    q64 = q.to(torch.float64, copy=True)  # balanced in place below
    k64 = k.double()
    k64 = k64 - k64.mean(dim=2, keepdim=True)
    if balance:
        groups = q.shape[1] // k.shape[1]
        for hk in range(k.shape[1]):
            heads = slice(hk * groups, (hk + 1) * groups)
            q_range = q64[:, heads].abs().amax(dim=(1, 2))  # (B, D)
            k_range = k64[:, hk].abs().amax(dim=1)  # (B, D)
            a = (k_range.clamp(min=1e-6) / q_range.clamp(min=1e-6)).sqrt().clamp(1e-3, 1e3)
            q64[:, heads] = q64[:, heads] * a[:, None, None, :]
            k64[:, hk] = k64[:, hk] / a[:, None, :]
    q64 = q64 * s
    qv, qs = quantise_rows(q64, block_q)
    kv, ks = quantise_rows(k64, block_k)
    qd = qv * qs.repeat_interleave(block_q, dim=2)[:, :, : q.shape[2]]
    kd = kv * ks.repeat_interleave(block_k, dim=2)[:, :, : k.shape[2]]
    return dense_reference(qd, kd, v.double(), causal=causal, scale=1.0)


def linear_reference(q, k, v, *, causal=False, decay=1.0, eps=1e-6) -> torch.Tensor:
    """Kernelised linear attention by its recurrence, one step per position (float64).

    ``phi(x) = elu(x) + 1``; state ``S_t = decay * S_{t-1} + phi(k_t) v_tᵀ`` and normaliser
    ``z_t = decay * z_{t-1} + phi(k_t)``; output ``phi(q_t) S_t / (phi(q_t) z_t + eps)``.
    Non-causal uses the final state for every query (``decay`` must then be 1).
    """
    k, v = _expand(q, k), _expand(q, v)
    fq = torch.nn.functional.elu(q.double()) + 1
    fk = torch.nn.functional.elu(k.double()) + 1
    v64 = v.double()
    b, h, sq, d = q.shape
    if not causal:
        state = fk.transpose(-1, -2) @ v64  # (B, H, D, Dv)
        z = fk.sum(dim=2)  # (B, H, D)
        return (fq @ state) / ((fq * z[:, :, None]).sum(-1, keepdim=True) + eps)
    state = torch.zeros(b, h, d, v.shape[-1], dtype=torch.float64, device=q.device)
    z = torch.zeros(b, h, d, dtype=torch.float64, device=q.device)
    out = torch.zeros(b, h, sq, v.shape[-1], dtype=torch.float64, device=q.device)
    for t in range(sq):
        if t < k.shape[2]:
            state = decay * state + fk[:, :, t, :, None] * v64[:, :, t, None, :]
            z = decay * z + fk[:, :, t]
        num = (fq[:, :, t, :, None] * state).sum(dim=-2)
        den = (fq[:, :, t] * z).sum(dim=-1, keepdim=True) + eps
        out[:, :, t] = num / den
    return out


def tokens_per_block(n: int, block: int) -> torch.Tensor:
    """How many real positions each block of ``block`` holds (the last may be short)."""
    nb = math.ceil(n / block)
    counts = torch.full((nb,), block, dtype=torch.long)
    counts[-1] = n - block * (nb - 1)
    return counts
