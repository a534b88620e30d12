"""Triton kernel for the size-weighted merge: one read of the tokens, one write of the result.

``merge.merge_weighted`` in PyTorch makes about ten passes over ``[B, N, C]`` (gathers, a
weighted scatter-add, a division, concatenations): 0.29 ms a layer for ViT-B at batch 256 on an
H200, against 0.06 ms for this kernel (docs/benchmarks.md). One program writes one output token: a
kept A token is copied, a B token is the size-weighted mean of itself and the A tokens folded
into it, found by scanning the ``r`` destinations (r is tens of tokens; no atomics, no extra
launches to build lists), and the sum runs in float32.

Used on CUDA tensors when Triton is present; ``TRITON_INTERPRET=1`` runs it on CPU for tests. Its
reference is ``naive.merge_weighted_reference`` beside it (float64, one output token at a time).
"""

from __future__ import annotations

import torch

from accel.ops.runtime import HAVE_TRITON, prepare_interpreter, tl, triton

__all__ = ["launch_merge_weighted"]

if HAVE_TRITON:
    @triton.jit
    def _merge_rows(
        X, S, KEPT, MERGED, DST, OUT, OUT_S,
        stride_xb, stride_xn, stride_sb, stride_sn, stride_ob, stride_on, stride_kb, stride_mb, stride_db,
        N_KEPT, NB, R, C,
        HAS_SIZE: tl.constexpr, BLOCK_C: tl.constexpr,
    ):
        row = tl.program_id(0)
        b = tl.program_id(1)
        offs = tl.arange(0, BLOCK_C)
        cm = offs < C
        xb = X + b * stride_xb
        n_out = N_KEPT + NB
        if row < N_KEPT:  # a kept A token (even position): copied
            kept = 2 * tl.load(KEPT + b * stride_kb + row)
            val = tl.load(xb + kept * stride_xn + offs, mask=cm)
            tl.store(OUT + b * stride_ob + row * stride_on + offs, val, mask=cm)
            if HAS_SIZE:
                s = tl.load(S + b * stride_sb + kept * stride_sn).to(tl.float32)
            else:
                s = tl.full((), 1.0, tl.float32)
            tl.store(OUT_S + b * n_out + row, s.to(OUT_S.dtype.element_ty))
        else:  # a B token (odd position) and the A tokens merged into it
            j = row - N_KEPT
            tok = 2 * j + 1
            if HAS_SIZE:
                s = tl.load(S + b * stride_sb + tok * stride_sn).to(tl.float32)
            else:
                s = tl.full((), 1.0, tl.float32)
            acc = tl.load(xb + tok * stride_xn + offs, mask=cm, other=0.0).to(tl.float32) * s
            total = s
            for t in range(0, R):  # r is small (tens): scanning the destinations beats building lists
                if tl.load(DST + b * stride_db + t) == j:
                    a = 2 * tl.load(MERGED + b * stride_mb + t)
                    if HAS_SIZE:
                        sa = tl.load(S + b * stride_sb + a * stride_sn).to(tl.float32)
                    else:
                        sa = tl.full((), 1.0, tl.float32)
                    acc += tl.load(xb + a * stride_xn + offs, mask=cm, other=0.0).to(tl.float32) * sa
                    total += sa
            tl.store(OUT + b * stride_ob + row * stride_on + offs, (acc / total).to(OUT.dtype.element_ty), mask=cm)
            tl.store(OUT_S + b * n_out + row, total.to(OUT_S.dtype.element_ty))


def launch_merge_weighted(
    x: torch.Tensor, size: torch.Tensor | None, kept_a: torch.Tensor, merged_a: torch.Tensor, dst_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``merge.merge_weighted`` for a plan's index tensors, in one kernel launch.

    Args:
        x: ``[B, N, C]`` tokens (channels contiguous).
        size: ``[B, N, 1]`` sizes or ``None`` (all ones).
        kept_a, merged_a, dst_b: the plan's index tensors (see ``merge.MergePlan``).

    Returns:
        ``(x, size)``: ``[B, N - r, C]`` in x's dtype and ``[B, N - r, 1]`` in the sizes' dtype
        (x's when ``size`` is None), laid out as ``merge_weighted``'s.
    """
    prepare_interpreter()
    bsz, n, c = x.shape
    r = merged_a.shape[1]
    n_kept, nb = kept_a.shape[1], n // 2
    if x.stride(2) != 1:
        x = x.contiguous()
    kept_a, merged_a, dst_b = (t if t.stride(1) == 1 else t.contiguous() for t in (kept_a, merged_a, dst_b))
    out = torch.empty(bsz, n_kept + nb, c, dtype=x.dtype, device=x.device)
    size_dtype = x.dtype if size is None else size.dtype
    out_size = torch.empty(bsz, n_kept + nb, 1, dtype=size_dtype, device=x.device)
    s_arg = size if size is not None else out_size
    _merge_rows[(n_kept + nb, bsz)](
        x, s_arg, kept_a, merged_a, dst_b, out, out_size,
        x.stride(0), x.stride(1), s_arg.stride(0), s_arg.stride(1), out.stride(0), out.stride(1),
        kept_a.stride(0), merged_a.stride(0), dst_b.stride(0),
        n_kept, nb, r, c,
        HAS_SIZE=size is not None, BLOCK_C=triton.next_power_of_2(c), num_warps=4,
    )
    return out, out_size
