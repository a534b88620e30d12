"""Which (query block, key block) pairs matter: prediction from mean-pooled blocks.

SpargeAttn's observation, re-derived: when the tokens of a block are alike, the mean of the
block stands in for each of them, so ``softmax(mean(Q_i) · mean(K_j)ᵀ * scale)`` over key blocks
predicts where a query block's attention mass goes, at ``(S/block)²`` cost instead of ``S²``.

Kept blocks per query-block row are chosen in order of predicted mass until either the budget
(``1 - sparsity`` of the row's valid blocks: top-k) is spent or the kept mass reaches ``mass``
(cumulative threshold), whichever comes first. The blocks on the diagonal are always kept, so
every query row attends its own block (and, under a causal mask, its own position); optionally
the first key block is kept as well (an "attention sink" that language models lean on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from accel.attention._checks import expand_kv

__all__ = ["BlockLayout", "predict_block_mask", "block_layout", "valid_blocks"]


@dataclass(frozen=True)
class BlockLayout:
    """A block mask plus the index lists the Triton kernel walks.

    Attributes:
        mask: ``[B, H, nq, nk]`` bool, True = computed.
        kv_idx: ``[B, H, nq, maxk]`` int32 kept key blocks, ascending (padding repeats the last).
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
    """Mean over each block of ``block`` rows along dim 2 (the last block may be short)."""
    b, h, s, d = x.shape
    nb = math.ceil(s / block)
    pad = nb * block - s
    xf = x.float()
    if pad:
        xf = torch.nn.functional.pad(xf, (0, 0, 0, pad))
    sums = xf.view(b, h, nb, block, d).sum(dim=3)
    counts = torch.full((nb,), float(block), device=x.device)
    counts[-1] = block - pad
    return sums / counts[:, None], counts


def valid_blocks(sq: int, sk: int, block_q: int, block_k: int, causal: bool, device=None) -> torch.Tensor:
    """``[nq, nk]`` bool: block pairs holding at least one visible (query, key) pair."""
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    if not causal:
        return torch.ones(nq, nk, dtype=torch.bool, device=device)
    last_row = torch.clamp((torch.arange(nq, device=device) + 1) * block_q - 1, max=sq - 1)
    first_key = torch.arange(nk, device=device) * block_k
    return first_key[None, :] <= last_row[:, None]


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
        k: ``[B, Hk, Sk, D]``.
        block_q: query rows per block.
        block_k: keys per block.
        causal: top-left causal mask (blocks above the diagonal are never kept).
        scale: softmax scale.
        sparsity: target fraction of valid blocks to skip per row (top-k budget); None = no budget.
        mass: stop once the kept predicted mass reaches this (cumulative threshold); None = off.
        keep_sink: also keep the first key block.

    Returns:
        ``[B, H, nq, nk]`` bool mask.
    """
    k = expand_kv(q, k)
    sq, sk = q.shape[2], k.shape[2]
    pq, _ = _pool(q, block_q)
    pk, kcount = _pool(k, block_k)
    scores = (pq @ pk.transpose(-1, -2)) * scale + kcount.log()  # a block's mass grows with its size
    valid = valid_blocks(sq, sk, block_q, block_k, causal, q.device)
    scores = scores.masked_fill(~valid, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    order = torch.argsort(probs, dim=-1, descending=True)
    sorted_p = torch.gather(probs, -1, order)
    rank = torch.arange(order.shape[-1], device=q.device)
    keep_sorted = sorted_p > 0
    if sparsity is not None:
        n_valid = valid.sum(-1, keepdim=True)  # (nq, 1)
        budget = torch.clamp(torch.ceil((1.0 - sparsity) * n_valid), min=1)
        keep_sorted = keep_sorted & (rank < budget)
    if mass is not None:
        before = torch.cumsum(sorted_p, dim=-1) - sorted_p
        keep_sorted = keep_sorted & (before < mass)
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    forced = _diagonal_blocks(sq, sk, block_q, block_k, q.device)
    if keep_sink:
        forced = forced.clone()
        forced[:, 0] = True
    return (keep | forced) & valid


def block_layout(mask: torch.Tensor, *, sq: int, sk: int, block_q: int, block_k: int, causal: bool) -> BlockLayout:
    """Turn a ``[B, H, nq, nk]`` bool mask into the kernel's sorted index lists."""
    b, h, nq, nk = mask.shape
    valid = valid_blocks(sq, sk, block_q, block_k, causal, mask.device)
    mask = mask & valid
    cnt = mask.sum(-1)
    maxk = nk  # no host sync: the list is as long as a full row, the kernel reads kv_cnt entries
    # stable sort puts kept blocks first, in ascending key-block order
    idx = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True)[..., :maxk]
    last = torch.gather(idx, -1, torch.clamp(cnt - 1, min=0)[..., None])
    slot = torch.arange(maxk, device=mask.device)
    idx = torch.where(slot < cnt[..., None], idx, last)
    # a key block needs the element mask if it is ragged or (causal) reaches past the block's first row
    kb_end = (torch.arange(nk, device=mask.device) + 1) * block_k  # exclusive
    needs = kb_end > sk
    if causal:
        first_row = torch.arange(nq, device=mask.device) * block_q
        needs = needs[None, :] | (kb_end[None, :] - 1 > first_row[:, None])
    else:
        needs = needs[None, :].expand(nq, nk)
    full = (mask & ~needs).sum(-1)
    sparsity = 1.0 - cnt.sum() / (valid.sum() * b * h).clamp(min=1)
    return BlockLayout(
        mask=mask,
        kv_idx=idx.to(torch.int32).contiguous(),
        kv_cnt=cnt.to(torch.int32).contiguous(),
        kv_full=full.to(torch.int32).contiguous(),
        sparsity=sparsity,
    )
