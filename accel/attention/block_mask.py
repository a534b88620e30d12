"""Which (query block, key block) pairs matter: prediction from mean-pooled blocks.

SpargeAttn's observation, re-derived: when the tokens of a block are alike, the mean of the
block stands in for each of them, so ``softmax(mean(Q_i) · mean(K_j)ᵀ * scale)`` over key blocks
predicts where a query block's attention mass goes, at ``(S/block)²`` cost instead of ``S²``.

Kept blocks per query-block row are chosen in order of predicted mass (equal masses: the lower
key block first) until either the budget (``1 - sparsity`` of the row's valid blocks: top-k) is
spent or the kept mass reaches ``mass`` (cumulative threshold), whichever comes first. The
blocks on the diagonal are always kept, so every query row attends its own block (and, under a
causal mask, its own position); optionally the first key block is kept as well (an "attention
sink" that language models lean on).

``predict_block_layout`` is prediction plus ``block_layout`` in one call; on CUDA it runs as
four fused Triton launches (``accel.ops.block_mask``) that produce the same layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from accel.attention._checks import expand_kv
from accel.ops.block_mask.kernel import launch_predict_layout
from accel.ops.runtime import triton_usable

__all__ = ["BlockLayout", "block_layout", "predict_block_layout", "predict_block_mask", "valid_blocks"]


@dataclass(frozen=True)
class BlockLayout:
    """A block mask plus the index lists the Triton kernel walks.

    Attributes:
        mask: ``[B, H, nq, nk]`` bool, True = computed.
        kv_idx: ``[B, H, nq, nk]`` int32 kept key blocks first, ascending; entries past
            ``kv_cnt`` are zero and never read.
        kv_cnt: ``[B, H, nq]`` int32 number of kept blocks per query block.
        kv_full: ``[B, H, nq]`` int32 leading kept blocks that need no element mask.
        sparsity: 0-dim tensor, fraction of valid blocks skipped (causal: of the blocks on or
            below the diagonal); a tensor so that building the layout never waits for the GPU.
    """

    mask: torch.Tensor
    kv_idx: torch.Tensor
    kv_cnt: torch.Tensor
    kv_full: torch.Tensor
    sparsity: torch.Tensor


def _pool(x: torch.Tensor, block: int) -> torch.Tensor:
    """Mean over each block of ``block`` rows along dim 2 (the last block may be short).

    One pass over ``x`` in its own dtype with float32 accumulation (no float32 copy of x).
    """
    b, h, s, d = x.shape
    n_full = s // block
    parts = []
    if n_full:
        full = x[:, :, : n_full * block].reshape(b, h, n_full, block, d)
        parts.append(full.sum(dim=3, dtype=torch.float32) / block)
    if s > n_full * block:
        tail = x[:, :, n_full * block:]
        parts.append(tail.sum(dim=2, keepdim=True, dtype=torch.float32) / tail.shape[2])
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


@dataclass(frozen=True)
class _Geometry:
    """Shape-only tensors of a block grid, cached per (sq, sk, blocks, causal, device)."""

    valid: torch.Tensor  # (nq, nk) bool
    forced: torch.Tensor  # (nq, nk) bool: diagonal blocks
    n_valid: torch.Tensor  # (nq, 1) float
    log_kcount: torch.Tensor  # (nk,) float: log of real keys per block
    needs_mask: torch.Tensor  # (nq, nk) bool: ragged or crossing the causal diagonal
    rank: torch.Tensor  # (nk,) long
    n_valid_total: int  # valid block pairs, counted on the host (no device sync)


_GEOMETRY: dict[tuple, _Geometry] = {}


def _geometry(sq: int, sk: int, block_q: int, block_k: int, causal: bool, device) -> _Geometry:
    key = (sq, sk, block_q, block_k, causal, str(device))
    geo = _GEOMETRY.get(key)
    if geo is not None:
        return geo
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    valid = valid_blocks(sq, sk, block_q, block_k, causal, device)
    counts = torch.full((nk,), float(block_k), device=device)
    counts[-1] = sk - block_k * (nk - 1)
    kb_end = (torch.arange(nk, device=device) + 1) * block_k  # exclusive
    needs = (kb_end > sk)[None, :].expand(nq, nk)
    if causal:
        first_row = torch.arange(nq, device=device) * block_q
        needs = needs | (kb_end[None, :] - 1 > first_row[:, None])
    geo = _Geometry(
        valid=valid,
        forced=_diagonal_blocks(sq, sk, block_q, block_k, device),
        n_valid=valid.sum(-1, keepdim=True).float(),
        log_kcount=counts.log(),
        needs_mask=needs.contiguous(),
        rank=torch.arange(nk, device=device),
        n_valid_total=_count_valid(sq, sk, block_q, block_k, causal),
    )
    if len(_GEOMETRY) > 64:  # bounded: shapes seen by one process are few
        _GEOMETRY.clear()
    _GEOMETRY[key] = geo
    return geo


def valid_blocks(sq: int, sk: int, block_q: int, block_k: int, causal: bool, device=None) -> torch.Tensor:
    """``[nq, nk]`` bool: block pairs holding at least one visible (query, key) pair."""
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    if not causal:
        return torch.ones(nq, nk, dtype=torch.bool, device=device)
    last_row = torch.clamp((torch.arange(nq, device=device) + 1) * block_q - 1, max=sq - 1)
    first_key = torch.arange(nk, device=device) * block_k
    return first_key[None, :] <= last_row[:, None]


def _count_valid(sq: int, sk: int, block_q: int, block_k: int, causal: bool) -> int:
    """``valid_blocks(...).sum()`` in Python arithmetic: key blocks up to each row block's last row."""
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    if not causal:
        return nq * nk
    return sum(min(nk, min((i + 1) * block_q - 1, sq - 1) // block_k + 1) for i in range(nq))


def _diagonal_blocks(sq: int, sk: int, block_q: int, block_k: int, device=None) -> torch.Tensor:
    """``[nq, nk]`` bool: key blocks that share positions with the query block's rows."""
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    r0 = torch.arange(nq, device=device) * block_q
    r1 = torch.clamp(r0 + block_q - 1, max=min(sq, sk) - 1)
    c0 = torch.arange(nk, device=device) * block_k
    c1 = c0 + block_k - 1
    return (c0[None, :] <= r1[:, None]) & (c1[None, :] >= r0[:, None]) & (r0[:, None] < sk)


def predict_block_mask(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    block_q: int,
    block_k: int,
    causal: bool,
    scale: float,
    sparsity: float | None = 0.5,
    mass: float | None = None,
    keep_sink: bool = True,
) -> torch.Tensor:
    """Predict the kept block pairs.

    Args:
        q: ``[B, H, Sq, D]``.
        k: ``[B, Hk, Sk, D]`` (Hk divides H).
        block_q: query rows per block.
        block_k: keys per block.
        causal: top-left causal mask (blocks above the diagonal are never kept).
        scale: softmax scale.
        sparsity: target fraction of valid blocks to skip per row (top-k budget); None = no budget.
        mass: stop once the kept predicted mass reaches this (cumulative threshold); None = off.
        keep_sink: also keep the first key block.

    Returns:
        ``[B, H, nq, nk]`` bool mask. Among equal predicted masses the lower key block ranks
        first (a stable sort), the rule the fused Triton path follows too.
    """
    sq, sk = q.shape[2], k.shape[2]
    geo = _geometry(sq, sk, block_q, block_k, causal, q.device)
    pq = _pool(q, block_q)
    pk = expand_kv(q, _pool(k, block_k))
    scores = torch.matmul(pq, pk.transpose(-1, -2))
    scores = scores * scale + geo.log_kcount  # a block's mass grows with its size
    scores = scores.masked_fill(~geo.valid, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    sorted_p, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    keep_sorted = sorted_p > 0
    if sparsity is not None:
        budget = torch.clamp(torch.ceil((1.0 - sparsity) * geo.n_valid), min=1)  # (nq, 1)
        keep_sorted = keep_sorted & (geo.rank < budget)
    if mass is not None:
        before = torch.cumsum(sorted_p, dim=-1) - sorted_p
        keep_sorted = keep_sorted & (before < mass)
    keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
    keep = keep | geo.forced
    if keep_sink:
        keep[..., 0] = True
    return keep & geo.valid


def block_layout(mask: torch.Tensor, *, sq: int, sk: int, block_q: int, block_k: int, causal: bool) -> BlockLayout:
    """Turn a ``[B, H, nq, nk]`` bool mask into the kernel's ascending index lists.

    Compaction by prefix sum (no sort): kept block ``kb`` goes to slot ``cumsum(mask)[kb] - 1``.
    Slots past ``kv_cnt`` hold zeros and are never read.
    """
    b, h, nq, nk = mask.shape
    geo = _geometry(sq, sk, block_q, block_k, causal, mask.device)
    mask = mask & geo.valid
    slot = torch.cumsum(mask, dim=-1, dtype=torch.int32) - 1
    cnt = slot[..., -1] + 1
    target = torch.where(mask, slot, torch.full_like(slot, nk))
    idx = torch.zeros(b, h, nq, nk + 1, dtype=torch.int32, device=mask.device)
    idx.scatter_(-1, target.long(), geo.rank.to(torch.int32).expand(b, h, nq, nk))
    full = (mask & ~geo.needs_mask).sum(-1, dtype=torch.int32)
    sparsity = 1.0 - cnt.sum() / (geo.valid.sum() * b * h).clamp(min=1)
    return BlockLayout(
        mask=mask,
        kv_idx=idx[..., :nk].contiguous(),
        kv_cnt=cnt.to(torch.int32).contiguous(),
        kv_full=full.contiguous(),
        sparsity=sparsity,
    )


def predict_block_layout(
    q: torch.Tensor,
    k: torch.Tensor,
    *,
    block_q: int,
    block_k: int,
    causal: bool,
    scale: float,
    sparsity: float | None = 0.5,
    mass: float | None = None,
    keep_sink: bool = True,
    use_triton: bool | None = None,
) -> BlockLayout:
    """``block_layout(predict_block_mask(...))``, fused into four Triton launches where it can.

    The PyTorch chain is ~25 small ops whose launch overhead is most of its time; the fused
    path (pooling, scores, per-row selection and layout, sparsity) gives the same layout without a
    host sync. Arguments as ``predict_block_mask``.

    Args:
        use_triton: force (True, also on CPU under ``TRITON_INTERPRET=1``) or forbid (False)
            the fused path; default: on CUDA when Triton is installed and q is fp16/bf16/fp32.

    Returns:
        The ``BlockLayout`` of the predicted mask.

    Raises:
        RuntimeError: ``use_triton=True`` but Triton cannot run on q's device or dtype.
    """
    usable = triton_usable(q)
    if use_triton is None:
        use_triton = usable and q.is_cuda
    if use_triton and not usable:
        raise RuntimeError("use_triton=True but triton is unavailable for this device/dtype "
                           f"({q.device}, {q.dtype}; it needs float16, bfloat16 or float32)")
    sq, sk = q.shape[2], k.shape[2]
    if not use_triton:
        mask = predict_block_mask(q, k, block_q=block_q, block_k=block_k, causal=causal, scale=scale,
                                  sparsity=sparsity, mass=mass, keep_sink=keep_sink)
        return block_layout(mask, sq=sq, sk=sk, block_q=block_q, block_k=block_k, causal=causal)
    geo = _geometry(sq, sk, block_q, block_k, causal, q.device)
    mask, kv_idx, kv_cnt, kv_full, spars = launch_predict_layout(
        q, k, geo.log_kcount, block_q=block_q, block_k=block_k, causal=causal, scale=scale,
        sparsity=sparsity, mass=mass, keep_sink=keep_sink, n_valid=geo.n_valid_total,
    )
    return BlockLayout(mask=mask, kv_idx=kv_idx, kv_cnt=kv_cnt, kv_full=kv_full, sparsity=spars)
