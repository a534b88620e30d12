"""Plain PyTorch reference for block-mask prediction and layout (float64, one row at a time).

The fused kernels in ``kernel.py`` and the PyTorch path in ``accel.attention.block_mask`` (its
CPU fallback) both compute what is written here straight from the rule, one (batch, head,
query block) row at a time: pooled scores, softmax, the ranking (larger probability first,
equal ones lower key block first), the budget and mass conditions on it, then the diagonal,
the sink and the causal validity; the layout lists the kept blocks in ascending order, those
that need no element mask counted first.
"""

from __future__ import annotations

import math

import torch

__all__ = ["block_layout_reference", "predict_block_mask_reference"]


def _row_probs(q, k, bi, hi, i, *, block_q, block_k, causal, scale) -> tuple[torch.Tensor, list[bool]]:
    """Softmax over key blocks of query block ``i``'s pooled scores, and which blocks are valid."""
    sq, sk = q.shape[2], k.shape[2]
    pq = q[bi, hi, i * block_q:(i + 1) * block_q].double().mean(0)
    kv_head = hi // (q.shape[1] // k.shape[1])
    last_row = min((i + 1) * block_q, sq) - 1
    scores, valid = [], []
    for j in range(math.ceil(sk / block_k)):
        keys = k[bi, kv_head, j * block_k:(j + 1) * block_k].double()
        valid.append(not causal or j * block_k <= last_row)
        # a block's mass grows with its size: log(keys) added to its score
        scores.append(float(scale * (pq @ keys.mean(0))) + math.log(keys.shape[0]) if valid[-1] else -math.inf)
    return torch.softmax(torch.tensor(scores, dtype=torch.float64), 0), valid


def predict_block_mask_reference(q, k, *, block_q, block_k, causal, scale, sparsity=0.5, mass=None,
                                 keep_sink=True) -> torch.Tensor:
    """``predict_block_mask``'s ``[B, H, nq, nk]`` bool mask, row by row (arguments as there)."""
    b, h, sq, _ = q.shape
    sk = k.shape[2]
    nq, nk = math.ceil(sq / block_q), math.ceil(sk / block_k)
    mask = torch.zeros(b, h, nq, nk, dtype=torch.bool)
    for bi in range(b):
        for hi in range(h):
            for i in range(nq):
                p, valid = _row_probs(q, k, bi, hi, i, block_q=block_q, block_k=block_k, causal=causal, scale=scale)
                budget = nk if sparsity is None else max(math.ceil((1.0 - sparsity) * sum(valid)), 1)
                before = 0.0
                for rank, j in enumerate(sorted(range(nk), key=lambda j: (-float(p[j]), j))):
                    if p[j] <= 0 or rank >= budget or (mass is not None and before >= mass):
                        break
                    mask[bi, hi, i, j] = True
                    before += float(p[j])
                r0 = i * block_q
                r1 = min(r0 + block_q - 1, min(sq, sk) - 1)
                for j in range(nk):  # the blocks on the diagonal, and the sink
                    on_diagonal = j * block_k <= r1 and (j + 1) * block_k - 1 >= r0 and r0 < sk
                    mask[bi, hi, i, j] |= on_diagonal or (keep_sink and j == 0)
                    mask[bi, hi, i, j] &= valid[j]
    return mask


def block_layout_reference(mask: torch.Tensor, *, sq: int, sk: int, block_q: int, block_k: int,
                           causal: bool) -> tuple[list, list, list]:
    """Per row, the kept key blocks ascending, their count, and how many need no element mask.

    Returns:
        ``(kv_idx, kv_cnt, kv_full)`` as nested lists ``[B][H][nq]`` (``kv_idx`` entries are lists),
        to hold against ``BlockLayout``'s tensors (its ``kv_idx`` rows padded with zeros).
    """
    b, h, nq, nk = mask.shape
    idx = [[[[] for _ in range(nq)] for _ in range(h)] for _ in range(b)]
    cnt = [[[0] * nq for _ in range(h)] for _ in range(b)]
    full = [[[0] * nq for _ in range(h)] for _ in range(b)]
    for bi in range(b):
        for hi in range(h):
            for i in range(nq):
                for j in range(nk):
                    valid = not causal or j * block_k <= min((i + 1) * block_q, sq) - 1
                    if not (mask[bi, hi, i, j] and valid):
                        continue
                    idx[bi][hi][i].append(j)
                    end = (j + 1) * block_k  # exclusive
                    needs_mask = end > sk or (causal and end - 1 > i * block_q)
                    full[bi][hi][i] += not needs_mask
                cnt[bi][hi][i] = len(idx[bi][hi][i])
    return idx, cnt, full
