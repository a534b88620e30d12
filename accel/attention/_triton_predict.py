"""Fused block-mask prediction and layout: three Triton launches instead of ~25 PyTorch ops.

``predict_block_mask`` followed by ``block_layout`` is a chain of small ops whose launch
overhead, not their arithmetic, dominated: 0.6-1.1 ms at S = 16k-32k on an H200, against
0.19-0.54 ms for this path (docs/benchmarks.md). The same ``BlockLayout`` comes from:

1. ``_pool_qk``: the mean of every block of rows of Q and of K (float32), one read of each.
2. ``_select_rows``: for ``ROWS`` query blocks of one head, the pooled scores against every
   key block of its kv head (one ``tl.dot`` per key chunk, so pooled K is read once per
   ``ROWS`` rows), then per row the softmax, the selection and the layout row itself.
3. ``_sparsity``: one program sums ``kv_cnt`` into the 0-dim sparsity tensor.

Selection follows the PyTorch path's ranking: probabilities descending, equal ones lower key
block first (its sort is stable). Each condition of the rule (``p > 0``, rank under the budget,
mass before the block under ``mass``) holds on a prefix of that ranking, so ``tl.sort`` of the
probabilities alone gives the prefix's length ``n`` and its last value ``cut``; back in block
order the kept blocks are those with ``p > cut`` plus, of those with ``p == cut``, the lowest
ones until ``n`` are kept (a cumulative sum). That is exact and sorts 32-bit values only.

Both paths run the same float32 formulas, but pooled sums and dot products are added up in a
different order, so the probabilities can differ in the last bits; the masks agree unless two
blocks' probabilities (or a cumulative mass and ``mass``) are that close at the cut.

No host synchronisation: every shape is known from the arguments, so the launches queue
asynchronously. The interpreter (``TRITON_INTERPRET=1``) runs the same code on CPU tensors.
"""

from __future__ import annotations

import torch

from accel.attention._triton import HAVE_TRITON, _fix_interpreter_index, _next_pow2, interpreting

if HAVE_TRITON:
    import triton
    import triton.language as tl

__all__ = ["launch_predict_layout"]

_ROWS = 16  # query blocks per program: pooled K is read once for all of them (tl.dot needs >= 16)
# Selection tiles: _TILE // NK_PAD rows (at least one) of NK_PAD padded key blocks, on 4 warps or
# one per 128 key blocks: at most 4 elements per thread. Compiled for sm_90 (triton.compile and
# ptxas, no GPU) that stayed at <= 128 registers without spills for nk up to 2048; 8 elements per
# thread took 170-255 registers and spilled at some shapes.
_TILE = 256


if HAVE_TRITON:

    @triton.jit
    def _pool_rows(
        X, OUT, blk, NH, S, NB, stride_b, stride_h, stride_s, stride_d,
        BLOCK: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr,
    ):
        """Mean of rows ``[i*BLOCK, min((i+1)*BLOCK, S))`` of head ``blk // NB`` into ``OUT[blk]``."""
        bh = blk // NB
        i = blk % NB
        base = X + (bh // NH).to(tl.int64) * stride_b + (bh % NH).to(tl.int64) * stride_h
        r0 = i * BLOCK
        r_end = tl.minimum(r0 + BLOCK, S)
        cols = tl.arange(0, BLOCK_D)
        acc = tl.zeros([CHUNK, BLOCK_D], dtype=tl.float32)
        for c in range(0, BLOCK, CHUNK):
            rows = r0 + c + tl.arange(0, CHUNK)
            m = rows[:, None] < r_end  # constant along D, so the loads stay vectorised
            if BLOCK_D != D:
                m = m & (cols[None, :] < D)
            x = tl.load(base + rows[:, None].to(tl.int64) * stride_s + cols[None, :] * stride_d, mask=m, other=0)
            acc += x.to(tl.float32)
        total = tl.sum(acc, 0)
        mean = tl.div_rn(total, tl.zeros_like(total) + (r_end - r0).to(tl.float32))
        tl.store(OUT + blk.to(tl.int64) * D + cols, mean, mask=cols < D)

    @triton.jit
    def _pool_qk(
        Q, K, PQ, PK,
        stride_qb, stride_qh, stride_qs, stride_qd,
        stride_kb, stride_kh, stride_ks, stride_kd,
        H, HK, SQ, SK, NQ, NK, NQP,
        BQ: tl.constexpr, BK: tl.constexpr, CHUNK_Q: tl.constexpr, CHUNK_K: tl.constexpr,
        BLOCK_D: tl.constexpr, D: tl.constexpr,
    ):
        """One launch pools both: programs ``< NQP`` take a query block, the rest a key block."""
        pid = tl.program_id(0)
        if pid < NQP:
            _pool_rows(Q, PQ, pid, H, SQ, NQ, stride_qb, stride_qh, stride_qs, stride_qd,
                       BQ, CHUNK_Q, BLOCK_D, D)
        else:
            _pool_rows(K, PK, pid - NQP, HK, SK, NK, stride_kb, stride_kh, stride_ks, stride_kd,
                       BK, CHUNK_K, BLOCK_D, D)

    @triton.jit
    def _select_rows(
        PQ, PK, LOGC, MASK, IDX, CNT, FULL,
        H, GROUP, SQ, SK, NQ, NK, BQ, BK, scale, keep_frac, mass,
        ROWS: tl.constexpr, SUB: tl.constexpr, KB_CHUNK: tl.constexpr, NK_PAD: tl.constexpr,
        BLOCK_D: tl.constexpr, D: tl.constexpr, CAUSAL: tl.constexpr, HAS_BUDGET: tl.constexpr,
        HAS_MASS: tl.constexpr, KEEP_SINK: tl.constexpr,
    ):
        """Query blocks ``[pid*ROWS, (pid+1)*ROWS)`` of head ``bh``: scores, selection, layout rows."""
        bh = tl.program_id(1)
        i0 = tl.program_id(0) * ROWS
        kv_row = (bh // H) * (H // GROUP) + (bh % H) // GROUP  # b * Hk + h // GROUP
        d = tl.arange(0, BLOCK_D)

        # Phase 1: scores of ROWS query blocks against every key block. IDX has the scores'
        # shape and 4-byte elements, and these rows belong to this program alone, so it holds
        # them (as float32 bits) until phase 2 overwrites them with the index lists.
        qi = i0 + tl.arange(0, ROWS)
        q_ok = qi < NQ
        pq = tl.load(PQ + (bh * NQ + qi).to(tl.int64)[:, None] * D + d[None, :],
                     mask=q_ok[:, None] & (d[None, :] < D), other=0.0)
        q_base = (bh * NQ + qi).to(tl.int64) * NK  # (ROWS,)
        for c in range(0, NK, KB_CHUNK):
            kj = c + tl.arange(0, KB_CHUNK)
            k_ok = kj < NK
            pk = tl.load(PK + (kv_row * NK + kj).to(tl.int64)[:, None] * D + d[None, :],
                         mask=k_ok[:, None] & (d[None, :] < D), other=0.0)
            s = tl.dot(pq, tl.trans(pk), input_precision="ieee")  # (ROWS, KB_CHUNK)
            s = s * scale + tl.load(LOGC + kj, mask=k_ok, other=0.0)[None, :]
            tl.store(IDX + q_base[:, None] + kj[None, :], s.to(tl.int32, bitcast=True),
                     mask=q_ok[:, None] & k_ok[None, :])
        tl.debug_barrier()  # phase 2 reads scores other threads wrote

        # Phase 2: SUB rows at a time, each row's key blocks along the last axis.
        j = tl.arange(0, NK_PAD)
        c0 = j * BK  # first key of each block
        kb_end = c0 + BK  # exclusive
        for t in range(0, ROWS, SUB):
            ri = i0 + t + tl.arange(0, SUB)
            in_row = ri < NQ
            r_base = (bh * NQ + ri).to(tl.int64) * NK  # (SUB,)
            ok = in_row[:, None] & (j[None, :] < NK)
            s = tl.load(IDX + r_base[:, None] + j[None, :], mask=ok, other=0).to(tl.float32, bitcast=True)
            r0 = ri * BQ  # first query row of each block
            valid = tl.broadcast_to(j[None, :] < NK, (SUB, NK_PAD))
            n_valid = tl.zeros_like(ri) + NK
            if CAUSAL:  # key blocks starting at or before the block's last row
                last = tl.minimum(r0 + BQ - 1, SQ - 1)
                valid = valid & (c0[None, :] <= last[:, None])
                n_valid = tl.minimum(last // BK + 1, NK)
            s = tl.where(valid, s, float("-inf"))
            m = tl.max(s, 1)
            e = tl.exp(s - m[:, None])
            p = tl.div_rn(e, tl.zeros_like(e) + tl.sum(e, 1)[:, None])

            # the rule on the ranking (largest p first, equal p: lower key block first); each
            # condition holds on a prefix of it, of n_keep blocks ending at probability `cut`
            ranked = tl.sort(p, dim=1, descending=True)
            keep_r = ranked > 0
            if HAS_BUDGET:
                budget = tl.maximum(tl.ceil(n_valid.to(tl.float32) * keep_frac), 1.0)
                keep_r = keep_r & (j[None, :].to(tl.float32) < budget[:, None])
            if HAS_MASS:
                before = tl.cumsum(ranked, 1) - ranked
                keep_r = keep_r & (before < mass)
            n_keep = tl.sum(tl.where(keep_r, 1, 0), 1)
            cut = tl.min(tl.where(keep_r, ranked, float("inf")), 1)
            # back in block order: every p above the cut, and of the p equal to it the lowest
            # blocks, as many as the prefix still holds
            above = p > cut[:, None]
            tied = tl.where(p == cut[:, None], 1, 0)
            n_above = tl.sum(tl.where(above, 1, 0), 1)
            tie_rank = tl.cumsum(tied, 1) - tied
            keep = above | ((tied > 0) & (tie_rank < (n_keep - n_above)[:, None]))

            # the diagonal blocks, the sink, and only valid pairs
            r1 = tl.minimum(r0 + BQ - 1, tl.minimum(SQ, SK) - 1)
            forced = (c0[None, :] <= r1[:, None]) & (kb_end[None, :] - 1 >= r0[:, None]) & (r0[:, None] < SK)
            keep = keep | forced
            if KEEP_SINK:
                keep = keep | (j[None, :] == 0)
            keep = keep & valid

            # the layout row: kept blocks ascending, the unmasked ones first (they are a prefix:
            # only the ragged last block and blocks crossing the diagonal need the mask)
            needs = tl.broadcast_to(kb_end[None, :] > SK, (SUB, NK_PAD))
            if CAUSAL:
                needs = needs | (kb_end[None, :] - 1 > r0[:, None])
            k32 = tl.where(keep, 1, 0)
            cnt = tl.sum(k32, 1)
            full = tl.sum(tl.where(needs, 0, k32), 1)
            slot = tl.cumsum(k32, 1) - 1
            tl.store(MASK + r_base[:, None] + j[None, :], k32.to(tl.int8), mask=ok)
            tl.debug_barrier()  # every score of these rows is read before IDX is overwritten
            tl.store(IDX + r_base[:, None] + slot, tl.zeros_like(slot) + j[None, :], mask=keep & in_row[:, None])
            tl.store(IDX + r_base[:, None] + j[None, :], tl.zeros_like(slot), mask=ok & (j[None, :] >= cnt[:, None]))
            tl.store(CNT + bh * NQ + ri, cnt, mask=in_row)
            tl.store(FULL + bh * NQ + ri, full, mask=in_row)

    @triton.jit
    def _sparsity(CNT, OUT, N, denom, BLOCK: tl.constexpr):
        """``1 - sum(CNT) / denom`` in float32, as ``block_layout`` computes it."""
        acc = tl.zeros([BLOCK], dtype=tl.int64)
        for s in range(0, N, BLOCK):
            o = s + tl.arange(0, BLOCK)
            acc += tl.load(CNT + o, mask=o < N, other=0).to(tl.int64)
        kept = tl.sum(acc, 0).to(tl.float32)
        tl.store(OUT, 1.0 - tl.div_rn(kept, denom))


def launch_predict_layout(
    q: torch.Tensor,
    k: torch.Tensor,
    log_kcount: torch.Tensor,
    *,
    block_q: int,
    block_k: int,
    causal: bool,
    scale: float,
    sparsity: float | None,
    mass: float | None,
    keep_sink: bool,
    n_valid: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the three kernels; the caller wraps the result in a ``BlockLayout``.

    Args:
        q: ``[B, H, Sq, D]`` float16/bfloat16/float32, any strides.
        k: ``[B, Hk, Sk, D]`` (Hk divides H), any strides.
        log_kcount: ``[nk]`` float32 log of the real keys per key block (the PyTorch path's).
        block_q, block_k, causal, scale, sparsity, mass, keep_sink: as ``predict_block_mask``.
        n_valid: valid block pairs of one head (the sparsity's denominator per head).

    Returns:
        ``(mask, kv_idx, kv_cnt, kv_full, sparsity)`` as the ``BlockLayout`` fields.
    """
    if not HAVE_TRITON:
        raise RuntimeError("launch_predict_layout needs triton, which is not installed")
    if interpreting():
        _fix_interpreter_index()
    b, h, sq, d = q.shape
    hk, sk = k.shape[1], k.shape[2]
    nq, nk = triton.cdiv(sq, block_q), triton.cdiv(sk, block_k)
    dev = q.device
    block_d = _next_pow2(d)
    pq = torch.empty((b, h, nq, d), device=dev, dtype=torch.float32)
    pk = torch.empty((b, hk, nk, d), device=dev, dtype=torch.float32)
    rows = max(1, 8192 // block_d)  # rows per load: an [rows, D] float32 tile, 64 registers a thread
    _pool_qk[(b * h * nq + b * hk * nk,)](
        q, k, pq, pk, *q.stride(), *k.stride(), h, hk, sq, sk, nq, nk, b * h * nq,
        BQ=block_q, BK=block_k, CHUNK_Q=min(_pow2_ceil(block_q), rows), CHUNK_K=min(_pow2_ceil(block_k), rows),
        BLOCK_D=block_d, D=d, num_warps=4,
    )

    mask = torch.empty((b, h, nq, nk), device=dev, dtype=torch.int8)
    kv_idx = torch.empty((b, h, nq, nk), device=dev, dtype=torch.int32)
    kv_cnt = torch.empty((b, h, nq), device=dev, dtype=torch.int32)
    kv_full = torch.empty((b, h, nq), device=dev, dtype=torch.int32)
    nk_pad = max(16, _pow2_ceil(nk))
    sub = max(1, min(_ROWS, _TILE // nk_pad))
    _select_rows[(triton.cdiv(nq, _ROWS), b * h)](
        pq, pk, log_kcount.float(), mask, kv_idx, kv_cnt, kv_full,
        h, h // hk, sq, sk, nq, nk, block_q, block_k, float(scale),
        1.0 - sparsity if sparsity is not None else 1.0, mass if mass is not None else 1.0,
        ROWS=_ROWS, SUB=sub, KB_CHUNK=64 if block_d <= 128 else 32, NK_PAD=nk_pad, BLOCK_D=block_d, D=d,
        CAUSAL=causal, HAS_BUDGET=sparsity is not None, HAS_MASS=mass is not None, KEEP_SINK=keep_sink,
        num_warps=min(16, max(4, sub * nk_pad // 128)),
    )

    out = torch.empty((), device=dev, dtype=torch.float32)
    _sparsity[(1,)](kv_cnt, out, b * h * nq, float(max(n_valid * b * h, 1)), BLOCK=1024, num_warps=4)
    return mask.view(torch.bool), kv_idx, kv_cnt, kv_full, out


def _pow2_ceil(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
