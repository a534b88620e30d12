"""Kernelised linear attention in chunked form, for very long streams.

Softmax's ``exp(q·k)`` is replaced by ``phi(q)·phi(k)`` with ``phi(x) = elu(x) + 1`` (positive,
so the normaliser never vanishes). Causal attention is then a recurrence over a fixed-size
state per (batch, head):

- ``S_t = decay * S_{t-1} + phi(k_t) v_tᵀ``   a ``D x Dv`` matrix,
- ``z_t = decay * z_{t-1} + phi(k_t)``        a ``D`` vector,
- ``out_t = phi(q_t) S_t / (phi(q_t) · z_t + eps)``.

So memory is ``(D * Dv + D)`` floats per head whatever the length, and time is linear in it.
``decay`` in (0, 1] forgets old positions geometrically (a half-life of ``log(0.5)/log(decay)``
positions); 1 keeps everything. The chunked form computes chunks of ``chunk`` positions with
matrix products (quadratic inside a chunk, the state carried between chunks), which is what
makes it fast on matrix hardware. This is a different function from softmax attention: its
error report against exact attention is large on most inputs, and that is the honest number.

`linear_update` and `linear_read` are the recurrence one step at a time (a stream that gets one
position at a time and keeps only the state); a loop of them equals ``linear_attention(causal=True)``.
"""

from __future__ import annotations

import math

import torch

from accel.attention._checks import check_fraction, expand_kv

__all__ = ["feature_map", "linear_attention", "linear_read", "linear_update"]


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """``elu(x) + 1``: positive features, so every normaliser is positive."""
    return torch.nn.functional.elu(x) + 1


def linear_update(state: torch.Tensor, z: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                  decay: float = 1.0) -> None:
    """One step of the causal recurrence, in place: ``S = decay * S + phi(k) vᵀ``, ``z = decay * z + phi(k)``.

    Args:
        state: ``[..., D, Dv]`` the running ``S`` (updated in place).
        z: ``[..., D]`` the running normaliser (updated in place).
        k: ``[..., D]`` this position's key; v: ``[..., Dv]`` its value (cast to the state's dtype).
        decay: per-step forgetting factor in (0, 1].
    """
    check_fraction("decay", decay, low_open=True, allow_none=False)
    fk = feature_map(k if k.dtype == state.dtype else k.to(state.dtype))
    v = v if v.dtype == state.dtype else v.to(state.dtype)
    if decay != 1.0:
        state.mul_(decay)
        z.mul_(decay)
    state.add_(fk[..., :, None] * v[..., None, :])
    z.add_(fk)


def linear_read(state: torch.Tensor, z: torch.Tensor, q: torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """The attention output of query ``q [..., D]`` over the state: ``phi(q) S / (phi(q) · z + eps)``,
    ``[..., Dv]`` in the state's dtype. Reading after `linear_update` with the same position's query
    gives that position's causal output."""
    fq = feature_map(q if q.dtype == state.dtype else q.to(state.dtype))
    num = (fq[..., None, :] @ state)[..., 0, :]
    return num / ((fq * z).sum(-1, keepdim=True) + eps)


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    decay: float = 1.0,
    chunk: int = 128,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Linear attention, chunked.

    Args:
        q: ``[B, H, Sq, D]``; k, v: ``[B, Hk, Sk, D]`` (Hk divides H; causal needs Sq == Sk).
        causal: position ``t`` sees positions ``<= t``.
        decay: per-step forgetting factor in (0, 1]; only meaningful when causal.
        chunk: positions per chunk (intra-chunk work is quadratic in it).
        eps: added to the normaliser.

    Returns:
        ``[B, H, Sq, Dv]`` in q's dtype; computed in float32 (float64 for float64 inputs).
    """
    check_fraction("decay", decay, low_open=True, allow_none=False)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    if not causal and decay != 1.0:
        raise ValueError("decay must be 1.0 when causal=False (decay orders positions in time)")
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(f"causal linear attention needs as many queries as keys, got {q.shape[2]} and {k.shape[2]}")
    work = torch.float64 if q.dtype == torch.float64 else torch.float32
    k, v = expand_kv(q, k), expand_kv(q, v)
    fq = feature_map(q.to(work))
    fk = feature_map(k.to(work))
    vw = v.to(work)
    if not causal:
        state = fk.transpose(-1, -2) @ vw  # (B, H, D, Dv)
        z = fk.sum(dim=2)  # (B, H, D)
        den = (fq @ z[..., None]) + eps
        return ((fq @ state) / den).to(q.dtype)

    b, h, s, d = fq.shape
    dv = vw.shape[-1]
    n = math.ceil(s / chunk)
    pad = n * chunk - s
    if pad:  # padded keys get zero features and zero values: they add nothing to the state
        fq = torch.nn.functional.pad(fq, (0, 0, 0, pad))
        fk = torch.nn.functional.pad(fk, (0, 0, 0, pad))
        vw = torch.nn.functional.pad(vw, (0, 0, 0, pad))
    fq = fq.view(b, h, n, chunk, d)
    fk = fk.view(b, h, n, chunk, d)
    vw = vw.view(b, h, n, chunk, dv)
    pos = torch.arange(chunk, device=q.device, dtype=work)
    diff = pos[:, None] - pos[None, :]
    intra_w = torch.where(diff >= 0, decay ** diff.clamp(min=0), torch.zeros((), dtype=work, device=q.device))
    scores = (fq @ fk.transpose(-1, -2)) * intra_w  # (B, H, n, C, C)
    num = scores @ vw
    den = scores.sum(-1, keepdim=True)
    # chunk summaries, each key weighted by its decay to the chunk's end
    to_end = decay ** (chunk - 1 - pos)  # (C,)
    kw = fk * to_end[:, None]
    chunk_state = kw.transpose(-1, -2) @ vw  # (B, H, n, D, Dv)
    chunk_z = kw.sum(dim=3)  # (B, H, n, D)
    # state entering chunk c: sum over c' < c of decay**(C*(c-1-c')) * chunk_state[c']
    if decay == 1.0:
        enter = torch.cumsum(chunk_state, dim=2) - chunk_state
        enter_z = torch.cumsum(chunk_z, dim=2) - chunk_z
    else:
        c = torch.arange(n, device=q.device, dtype=work)
        gap = c[:, None] - 1 - c[None, :]
        w = torch.where(gap >= 0, (decay ** chunk) ** gap.clamp(min=0), torch.zeros((), dtype=work, device=q.device))
        enter = torch.einsum("cx,bhxij->bhcij", w, chunk_state)
        enter_z = torch.einsum("cx,bhxi->bhci", w, chunk_z)
    from_start = decay ** (pos + 1)  # decay from the previous chunk's end to each row
    num = num + (fq @ enter) * from_start[:, None]
    den = den + (fq @ enter_z[..., None]) * from_start[:, None]
    out = num / (den + eps)
    return out.reshape(b, h, n * chunk, dv)[:, :, :s].to(q.dtype)
