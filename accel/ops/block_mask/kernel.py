"""Fused block-mask prediction and layout: four Triton launches instead of ~25 PyTorch ops.

Its reference is ``naive.py`` beside it. The tests hold the PyTorch path
(``accel.attention.block_mask``: ``predict_block_mask`` then ``block_layout``, the CPU fallback)
to that reference, and this kernel to the PyTorch path, layout for layout, in the interpreter.

``predict_block_mask`` followed by ``block_layout`` is a chain of small ops whose launch
overhead, not their arithmetic, dominated: 0.6-1.1 ms at S = 16k-32k on an H200
(docs/benchmarks.md). The same ``BlockLayout`` comes from:

1. ``_pool_qk``: the mean of every block of rows of Q and of K (float32), one read of each.
2. ``_block_scores``: for ``ROWS`` query blocks of one head, the pooled scores against every
   key block of its kv head (one ``tl.dot`` per key chunk, so pooled K is read once per
   ``ROWS`` rows).
3. ``_select_rows``: per query block, the softmax, the selection and the layout row itself. A
   row is a few elements per thread of one warp (more warps only for very long rows), so
   thousands of rows run side by side. Done inside the scoring programs, 16 rows one after
   another, this step took 331 us at 32k; on its own, 41 us.
4. ``_sparsity``: one program sums ``kv_cnt`` into the 0-dim sparsity tensor.

Selection follows the PyTorch path's ranking: probabilities descending, equal ones lower key
block first (its sort is stable). Each condition of the rule (``p > 0``, rank under the budget,
mass before the block under ``mass``) holds on a prefix of that ranking, so it is enough to know
the prefix's length ``n`` and its last value ``cut``; back in block order the kept blocks are
those with ``p > cut`` plus, of those with ``p == cut``, the lowest ones until ``n`` are kept (a
cumulative sum). With a ``mass`` rule ``tl.sort`` of the probabilities gives both; with the
top-k budget alone ``n`` is known up front and ``cut``, the ``n``-th largest probability, comes
from a bisection on its float bits (30 counting passes, no sort). Both are exact.

Both paths run the same float32 formulas, but pooled sums and dot products are added up in a
different order, so the probabilities can differ in the last bits; the masks agree unless two
blocks' probabilities (or a cumulative mass and ``mass``) are that close at the cut.

No host synchronisation: every shape is known from the arguments, so the launches queue
asynchronously. The interpreter (``TRITON_INTERPRET=1``) runs the same code on CPU tensors.
"""

from __future__ import annotations

import torch

from accel.ops.runtime import HAVE_TRITON, next_pow2, pow2_ceil, prepare_interpreter, tl, triton

__all__ = ["launch_predict_layout"]

# Scoring: ROWS query blocks a program, so pooled K is read once for all of them; the dot runs
# on tensor cores as three tf32 products ("tf32x3", about float32 accuracy): on an H200 at 32k
# that took 29 us against 212 us for float32 FMAs, and gave the same layouts (docs/benchmarks.md).
_ROWS = 64
_SCORE_CHUNK = 64  # key blocks per tl.dot
_SCORE_WARPS = 4
_SCORE_PRECISION = "tf32x3"
# Selection: up to _PER_THREAD key blocks per thread, one warp per row while a row fits (short
# rows share a warp). The sort of the mass rule keeps 4: compiled for sm_90 (triton.compile and
# ptxas, no GPU) 8 per thread took 170-255 registers and spilled at some shapes. The bisection
# keeps fewer values live: 16 per thread compiled to 119-163 registers without spills (up to
# 2048 key blocks) and timed best on the H200 (4, 8 and 32 per thread were 2-6 % slower overall).
_PER_THREAD = {"sort": 4, "bisect": 16}
# Pooling: loads of [_POOL_TILE // D, D] elements, about _POOL_ROWS rows a program (whole
# blocks), all issued up front.
_POOL_TILE = 4096
_POOL_ROWS = 128
_POOL_WARPS = 4


if HAVE_TRITON:

    @triton.jit
    def _pool_rows(
        X, OUT, first, NBLK, NH, S, NB, stride_b, stride_h, stride_s, stride_d,
        BLOCK: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr,
        GROUP: tl.constexpr,
    ):
        """Means of blocks ``first .. first + GROUP - 1`` (those ``< NBLK``): block ``blk`` holds
        rows ``[i*BLOCK, min((i+1)*BLOCK, S))`` of head ``blk // NB`` and goes to ``OUT[blk]``.
        Unrolled and unbranched (masks, not ifs), so every load is in flight at once."""
        cols = tl.arange(0, BLOCK_D)
        for g in tl.static_range(GROUP):
            blk = first + g
            bh = blk // NB
            i = blk % NB
            base = X + (bh // NH).to(tl.int64) * stride_b + (bh % NH).to(tl.int64) * stride_h
            r0 = i * BLOCK
            r_end = tl.where(blk < NBLK, tl.minimum(r0 + BLOCK, S), r0)
            acc = tl.zeros([CHUNK, BLOCK_D], dtype=tl.float32)
            for c in tl.static_range(0, BLOCK, CHUNK):
                rows = r0 + c + tl.arange(0, CHUNK)
                m = rows[:, None] < r_end  # constant along D, so the loads stay vectorised
                if BLOCK_D != D:
                    m = m & (cols[None, :] < D)
                x = tl.load(base + rows[:, None].to(tl.int64) * stride_s + cols[None, :] * stride_d, mask=m, other=0)
                acc += x.to(tl.float32)
            total = tl.sum(acc, 0)
            mean = tl.div_rn(total, tl.zeros_like(total) + tl.maximum(r_end - r0, 1).to(tl.float32))
            tl.store(OUT + blk.to(tl.int64) * D + cols, mean, mask=(cols < D) & (blk < NBLK))

    @triton.jit
    def _pool_qk(
        Q, K, PQ, PK,
        stride_qb, stride_qh, stride_qs, stride_qd,
        stride_kb, stride_kh, stride_ks, stride_kd,
        H, HK, SQ, SK, NQ, NK, NBQ, NBK, NQP,
        BQ: tl.constexpr, BK: tl.constexpr, CHUNK_Q: tl.constexpr, CHUNK_K: tl.constexpr,
        BLOCK_D: tl.constexpr, D: tl.constexpr, GROUP_Q: tl.constexpr, GROUP_K: tl.constexpr,
    ):
        """One launch pools both: programs ``< NQP`` take query blocks, the rest key blocks."""
        pid = tl.program_id(0)
        if pid < NQP:
            _pool_rows(Q, PQ, pid * GROUP_Q, NBQ, H, SQ, NQ, stride_qb, stride_qh, stride_qs, stride_qd,
                       BQ, CHUNK_Q, BLOCK_D, D, GROUP_Q)
        else:
            _pool_rows(K, PK, (pid - NQP) * GROUP_K, NBK, HK, SK, NK, stride_kb, stride_kh, stride_ks, stride_kd,
                       BK, CHUNK_K, BLOCK_D, D, GROUP_K)

    @triton.jit
    def _block_scores(
        PQ, PK, LOGC, SCORES, H, GROUP, NQ, NK, scale,
        ROWS: tl.constexpr, KB_CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr,
        PREC: tl.constexpr,
    ):
        """Pooled scores of query blocks ``[pid*ROWS, (pid+1)*ROWS)`` of head ``bh`` against
        every key block of its kv head: one ``tl.dot`` per key chunk, so pooled K is read once
        per ``ROWS`` rows. Written as float32 bits into ``SCORES`` (the int32 index buffer,
        which ``_select_rows`` overwrites with the index lists row by row)."""
        bh = tl.program_id(1)
        i0 = tl.program_id(0) * ROWS
        kv_row = (bh // H) * (H // GROUP) + (bh % H) // GROUP  # b * Hk + h // GROUP
        d = tl.arange(0, BLOCK_D)
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
            s = tl.dot(pq, tl.trans(pk), input_precision=PREC)  # (ROWS, KB_CHUNK)
            s = s * scale + tl.load(LOGC + kj, mask=k_ok, other=0.0)[None, :]
            tl.store(SCORES + q_base[:, None] + kj[None, :], s.to(tl.int32, bitcast=True),
                     mask=q_ok[:, None] & k_ok[None, :])

    @triton.jit
    def _ranking_prefix(p, j, n_valid, keep_frac, mass, HAS_BUDGET: tl.constexpr, HAS_MASS: tl.constexpr):
        """Length ``n_keep`` and last value ``cut`` of the prefix of each row's ranking that the
        rule keeps (see the module docstring)."""
        # the rule on the ranking (largest p first, equal p: lower key block first); each
        # condition holds on a prefix of it, of n_keep blocks ending at probability `cut`
        if HAS_MASS:
            ranked = tl.sort(p, dim=1, descending=True)
            keep_r = ranked > 0
            if HAS_BUDGET:
                budget = tl.maximum(tl.ceil(n_valid.to(tl.float32) * keep_frac), 1.0)
                keep_r = keep_r & (j[None, :].to(tl.float32) < budget[:, None])
            before = tl.cumsum(ranked, 1) - ranked
            keep_r = keep_r & (before < mass)
            n_keep = tl.sum(tl.where(keep_r, 1, 0), 1)
            cut = tl.min(tl.where(keep_r, ranked, float("inf")), 1)
        else:
            # top-k alone: the prefix is the n_keep largest, so `cut` is the n_keep-th largest
            # p, found without sorting by bisection on its bits (p >= 0 orders like its int32
            # bits): the largest t with count(bits >= t) >= n_keep is that value's bits
            n_keep = tl.sum(tl.where(p > 0, 1, 0), 1)
            if HAS_BUDGET:
                budget = tl.maximum(tl.ceil(n_valid.to(tl.float32) * keep_frac), 1.0)
                n_keep = tl.minimum(n_keep, budget.to(tl.int32))
            bits = p.to(tl.int32, bitcast=True)
            lo = tl.zeros_like(n_keep) + 1  # count(bits >= lo) = count(p > 0) >= n_keep
            hi = tl.zeros_like(n_keep) + 0x3F800001  # above 1.0: count 0 < n_keep
            for _ in range(30):  # hi - lo < 2**30 halves to 1
                mid = lo + (hi - lo) // 2
                enough = tl.sum(tl.where(bits >= mid[:, None], 1, 0), 1) >= n_keep
                lo = tl.where(enough, mid, lo)
                hi = tl.where(enough, hi, mid)
            cut = tl.where(n_keep > 0, lo.to(tl.float32, bitcast=True), float("inf"))
        return n_keep, cut

    @triton.jit
    def _select_rows(
        MASK, IDX, CNT, FULL,
        NQ, NK, SQ, SK, BQ, BK, keep_frac, mass,
        SUB: tl.constexpr, NK_PAD: tl.constexpr, CAUSAL: tl.constexpr, HAS_BUDGET: tl.constexpr,
        HAS_MASS: tl.constexpr, KEEP_SINK: tl.constexpr,
    ):
        """Query blocks ``[pid*SUB, (pid+1)*SUB)`` of head ``bh``: softmax of their scores (read
        from ``IDX``), the selection, and their layout rows (written back over the scores)."""
        bh = tl.program_id(1)
        ri = tl.program_id(0) * SUB + tl.arange(0, SUB)
        j = tl.arange(0, NK_PAD)
        c0 = j * BK  # first key of each block
        kb_end = c0 + BK  # exclusive
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

        n_keep, cut = _ranking_prefix(p, j, n_valid, keep_frac, mass, HAS_BUDGET, HAS_MASS)
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
    """Run the four kernels; the caller wraps the result in a ``BlockLayout``.

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
    prepare_interpreter()
    b, h, sq, d = q.shape
    hk, sk = k.shape[1], k.shape[2]
    nq, nk = triton.cdiv(sq, block_q), triton.cdiv(sk, block_k)
    dev = q.device
    block_d = next_pow2(d)
    pq = torch.empty((b, h, nq, d), device=dev, dtype=torch.float32)
    pk = torch.empty((b, hk, nk, d), device=dev, dtype=torch.float32)
    rows = max(1, _POOL_TILE // block_d)  # rows per load
    chunk_q, chunk_k = min(pow2_ceil(block_q), rows), min(pow2_ceil(block_k), rows)
    # blocks per program: about _POOL_ROWS rows of loads in flight per program
    group_q, group_k = max(1, _POOL_ROWS // block_q), max(1, _POOL_ROWS // block_k)
    nbq, nbk = b * h * nq, b * hk * nk
    nqp = triton.cdiv(nbq, group_q)
    _pool_qk[(nqp + triton.cdiv(nbk, group_k),)](
        q, k, pq, pk, *q.stride(), *k.stride(), h, hk, sq, sk, nq, nk, nbq, nbk, nqp,
        BQ=block_q, BK=block_k, CHUNK_Q=chunk_q, CHUNK_K=chunk_k, BLOCK_D=block_d, D=d,
        GROUP_Q=group_q, GROUP_K=group_k, num_warps=_POOL_WARPS,
    )

    mask = torch.empty((b, h, nq, nk), device=dev, dtype=torch.int8)
    kv_idx = torch.empty((b, h, nq, nk), device=dev, dtype=torch.int32)
    kv_cnt = torch.empty((b, h, nq), device=dev, dtype=torch.int32)
    kv_full = torch.empty((b, h, nq), device=dev, dtype=torch.int32)
    nk_pad = max(16, pow2_ceil(nk))
    rows_s = _ROWS if block_d <= 128 else 16  # shared memory: [ROWS, D] and [KB_CHUNK, D] float32 tiles
    _block_scores[(triton.cdiv(nq, rows_s), b * h)](
        pq, pk, log_kcount.float(), kv_idx, h, h // hk, nq, nk, float(scale),
        ROWS=rows_s, KB_CHUNK=_SCORE_CHUNK if block_d <= 128 else _SCORE_CHUNK // 2, BLOCK_D=block_d, D=d,
        PREC=_SCORE_PRECISION, num_warps=_SCORE_WARPS,
    )
    per_warp = 32 * _PER_THREAD["sort" if mass is not None else "bisect"]
    sub = max(1, per_warp // nk_pad)
    _select_rows[(triton.cdiv(nq, sub), b * h)](
        mask, kv_idx, kv_cnt, kv_full, nq, nk, sq, sk, block_q, block_k,
        1.0 - sparsity if sparsity is not None else 1.0, mass if mass is not None else 1.0,
        SUB=sub, NK_PAD=nk_pad, CAUSAL=causal, HAS_BUDGET=sparsity is not None, HAS_MASS=mass is not None,
        KEEP_SINK=keep_sink, num_warps=min(16, max(1, nk_pad // per_warp)),
    )

    out = torch.empty((), device=dev, dtype=torch.float32)
    _sparsity[(1,)](kv_cnt, out, b * h * nq, float(max(n_valid * b * h, 1)), BLOCK=1024, num_warps=4)
    return mask.view(torch.bool), kv_idx, kv_cnt, kv_full, out

