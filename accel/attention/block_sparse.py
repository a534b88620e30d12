"""Block-sparse attention: compute only the predicted (query block, key block) pairs.

GPU: the Triton kernel in ``accel.ops.attention.kernel`` walks each query block's kept key blocks.
CPU (or without Triton): ``gathered_attention`` gathers the kept key blocks and runs a masked
softmax over them, chunked over query blocks so memory stays bounded. Both compute exactly the
attention restricted to the kept blocks (``naive.block_sparse_reference``).
"""

from __future__ import annotations

import math

import torch

from accel.attention._checks import check_block, check_fraction, default_scale
from accel.attention.block_mask import BlockLayout, block_layout, predict_block_layout
from accel.attention.grad import with_recompute_grad
from accel.ops.attention.kernel import LaunchSettings, launch_attention
from accel.ops.runtime import triton_usable

__all__ = ["block_sparse_attention", "gathered_attention"]

_LOG2E = 1.4426950408889634
_GATHER_BUDGET = 1 << 25  # elements of gathered scores per chunk on the PyTorch path


def _blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """``[B, H, S, D]`` -> ``[B, H, nb, block, D]`` with zero padding."""
    b, h, s, d = x.shape
    nb = math.ceil(s / block)
    if nb * block != s:
        x = torch.nn.functional.pad(x, (0, 0, 0, nb * block - s))
    return x.reshape(b, h, nb, block, d)


def gathered_attention(q, k, v, layout: BlockLayout, *, block_q, block_k, causal, scale) -> torch.Tensor:
    """Attention over the kept blocks of ``layout`` in PyTorch (any device).

    Works in float32 (float64 for float64 inputs) and returns q's dtype.
    """
    b, h, sq, d = q.shape
    sk = k.shape[2]
    groups = h // k.shape[1]
    work = torch.float64 if q.dtype == torch.float64 else torch.float32
    qb = _blocks(q.to(work), block_q)  # (B, H, nq, bq, D)
    kb = _blocks(k.to(work), block_k)  # (B, Hk, nk, bk, D)
    vb = _blocks(v.to(work), block_k)
    if groups > 1:
        kb = kb.repeat_interleave(groups, dim=1)
        vb = vb.repeat_interleave(groups, dim=1)
    cnt = layout.kv_cnt.long()
    maxk = max(int(cnt.max().item()), 1)  # the index lists are padded to a full row; trim them
    idx = layout.kv_idx[..., :maxk].long()
    nq = idx.shape[2]
    out = torch.empty(b, h, nq, block_q, v.shape[-1], dtype=work, device=q.device)
    per_block = b * h * block_q * maxk * block_k
    step = max(1, _GATHER_BUDGET // max(per_block, 1))
    rows_in_block = torch.arange(block_q, device=q.device)
    cols_in_block = torch.arange(block_k, device=q.device)
    for start in range(0, nq, step):
        stop = min(nq, start + step)
        ids = idx[:, :, start:stop]  # (B, H, c, maxk)
        gk = torch.gather(kb[:, :, None].expand(-1, -1, stop - start, -1, -1, -1), 3,
                          ids[..., None, None].expand(-1, -1, -1, -1, block_k, d))
        gv = torch.gather(vb[:, :, None].expand(-1, -1, stop - start, -1, -1, -1), 3,
                          ids[..., None, None].expand(-1, -1, -1, -1, block_k, vb.shape[-1]))
        gk = gk.flatten(3, 4)  # (B, H, c, maxk*bk, D)
        gv = gv.flatten(3, 4)
        scores = qb[:, :, start:stop] @ gk.transpose(-1, -2) * scale  # (B, H, c, bq, maxk*bk)
        key_pos = (ids[..., None] * block_k + cols_in_block).flatten(3)  # (B, H, c, maxk*bk)
        slot_ok = (torch.arange(maxk, device=q.device)[:, None] < cnt[:, :, start:stop, None, None])
        ok = slot_ok.expand(-1, -1, -1, maxk, block_k).flatten(3) & (key_pos < sk)
        ok = ok[:, :, :, None, :]
        if causal:
            row_pos = (torch.arange(start, stop, device=q.device)[:, None] * block_q + rows_in_block)
            ok = ok & (key_pos[:, :, :, None, :] <= row_pos[None, None, :, :, None])
        scores = scores.masked_fill(~ok, float("-inf"))
        probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        out[:, :, start:stop] = probs @ gv
    return out.reshape(b, h, nq * block_q, -1)[:, :, :sq].to(q.dtype)


def block_sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
    sparsity: float | None = 0.5,
    mass: float | None = None,
    block_q: int = 128,
    block_k: int = 64,
    keep_sink: bool = True,
    block_mask: torch.Tensor | None = None,
    use_triton: bool | None = None,
    launch: LaunchSettings | None = None,
) -> tuple[torch.Tensor, BlockLayout]:
    """Training-free block-sparse attention.

    Args:
        q: ``[B, H, Sq, D]``; k, v: ``[B, Hk, Sk, D]`` (Hk divides H).
        causal: top-left causal mask.
        scale: softmax scale, default ``1/sqrt(D)``.
        sparsity: fraction of valid blocks to skip per query block (top-k budget), in [0, 1].
        mass: cumulative predicted mass at which to stop keeping blocks, in (0, 1].
        block_q: query rows per block (power of two >= 16).
        block_k: keys per block (power of two >= 16).
        keep_sink: always keep the first key block.
        block_mask: a ``[B, H, nq, nk]`` bool mask to use instead of predicting one.
        use_triton: force (True) or forbid (False) the Triton kernels (attention and the fused
            mask prediction); default: on CUDA when usable.
        launch: the attention kernel's launch settings (warps, stages, Hopper kernel or not);
            default ``LaunchSettings()``.

    Returns:
        ``(out, layout)``: output like SDPA's, and the block layout actually used. The output is
        differentiable: the gradient of attention over the same kept blocks (the mask itself is
        a discrete choice and gets no gradient).
    """
    check_fraction("sparsity", sparsity)
    check_fraction("mass", mass, low_open=True)
    check_block("block_q", block_q)
    check_block("block_k", block_k)
    s = default_scale(q, scale)
    sq, sk = q.shape[2], k.shape[2]
    triton_ok = triton_usable(q)
    if use_triton is None:
        use_triton = triton_ok and q.is_cuda
    if use_triton and not triton_ok:
        raise RuntimeError("use_triton=True but triton is unavailable for this device/dtype")
    if block_mask is None:  # prediction and layout fused on the Triton path
        layout = predict_block_layout(q, k, block_q=block_q, block_k=block_k, causal=causal, scale=s,
                                      sparsity=sparsity, mass=mass, keep_sink=keep_sink, use_triton=use_triton)
    else:
        want = (q.shape[0], q.shape[1], math.ceil(sq / block_q), math.ceil(sk / block_k))
        if tuple(block_mask.shape) != want or block_mask.dtype != torch.bool:
            raise ValueError(f"block_mask must be a bool tensor of shape {want}, got "
                             f"{block_mask.dtype} {tuple(block_mask.shape)}")
        layout = block_layout(block_mask, sq=sq, sk=sk, block_q=block_q, block_k=block_k, causal=causal)
    if use_triton:  # forward-only kernel; gradients through the PyTorch path on the same layout
        def fast(q, k, v):
            return launch_attention(
                q, k, v, causal=causal, block_q=block_q, block_k=block_k, qk_scale=s * _LOG2E,
                kv_idx=layout.kv_idx, kv_cnt=layout.kv_cnt, kv_full=layout.kv_full, launch=launch,
            )

        def slow(q, k, v):
            return gathered_attention(q, k, v, layout, block_q=block_q, block_k=block_k, causal=causal, scale=s)

        out = with_recompute_grad(fast, slow, q, k, v)
    else:
        out = gathered_attention(q, k, v, layout, block_q=block_q, block_k=block_k, causal=causal, scale=s)
    return out, layout
