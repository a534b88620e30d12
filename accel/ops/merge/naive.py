"""Plain PyTorch reference for the size-weighted merge kernel in ``kernel.py`` (float64, loops).

One output token at a time, straight from the plan's definition: kept A tokens are copied, and
each B token becomes the size-weighted mean of itself and the A tokens folded into it. Written
independently of ``accel.tokens.merge.merge_weighted`` (gathers and scatter-adds) and of the
kernel (a scan over the destinations), so a test holding them together can catch either.
"""

from __future__ import annotations

import torch

__all__ = ["merge_weighted_reference"]


def merge_weighted_reference(
    x: torch.Tensor, size: torch.Tensor | None, kept_a: torch.Tensor, merged_a: torch.Tensor, dst_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Size-weighted merge of ``x`` by a plan's index tensors, in float64.

    Args:
        x: ``[B, N, C]`` tokens; A are the even positions, B the odd ones.
        size: ``[B, N, 1]`` sizes or ``None`` (all ones).
        kept_a: ``[B, Na - r]`` A indices that stay, in output order.
        merged_a: ``[B, r]`` A indices folded into B.
        dst_b: ``[B, r]`` the B index each ``merged_a`` token joins.

    Returns:
        ``(x, size)`` as float64: ``[B, Na - r + Nb, C]`` (kept A tokens, then every B token)
        and ``[B, Na - r + Nb, 1]``. With ``r == 0`` nothing merges and the tokens keep their
        original order (the identity plan, as ``merge_weighted``).
    """
    bsz, n, c = x.shape
    x64 = x.double()
    s64 = torch.ones(bsz, n, 1, dtype=torch.float64, device=x.device) if size is None else size.double()
    if merged_a.shape[1] == 0:
        return x64, s64
    nb = n // 2
    n_kept = kept_a.shape[1]
    out = torch.empty(bsz, n_kept + nb, c, dtype=torch.float64, device=x.device)
    out_size = torch.empty(bsz, n_kept + nb, 1, dtype=torch.float64, device=x.device)
    for b in range(bsz):
        for row in range(n_kept):
            a = 2 * int(kept_a[b, row])
            out[b, row], out_size[b, row] = x64[b, a], s64[b, a]
        for j in range(nb):
            members = [2 * j + 1] + [2 * int(merged_a[b, t]) for t in range(merged_a.shape[1])
                                     if int(dst_b[b, t]) == j]
            weights = s64[b, members]  # (m, 1)
            total = weights.sum()
            out[b, n_kept + j] = (x64[b, members] * weights).sum(0) / total
            out_size[b, n_kept + j] = total
    return out, out_size
