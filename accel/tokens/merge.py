"""Bipartite soft matching: merge the ``r`` most redundant tokens of a sequence.

The idea is ToMe's (Bolya et al., 2023, https://arxiv.org/abs/2210.09461): split the tokens
into two alternating sets A and B, connect each A token to its most similar B token, keep the
``r`` strongest edges and fold those A tokens into their B partners. This file is pure tensor
code with no model dependency; the adapters in ``accel.tokens.patch`` call it.

Shapes are ``[B, N, C]`` (batch, tokens, channels) throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from accel.ops.merge.kernel import launch_merge_weighted
from accel.ops.runtime import triton_usable

__all__ = [
    "MergePlan",
    "bipartite_soft_matching",
    "merge_weighted",
    "merge_source",
    "CROSS_REGION_PENALTY",
]

# Cosine similarity lives in [-1, 1]; subtracting 4 puts every cross-region pair below every
# same-region pair, so a region-guided plan crosses a boundary only when it has to.
CROSS_REGION_PENALTY = 4.0


@dataclass(frozen=True)
class MergePlan:
    """Which tokens go where in one merge step; apply it to any ``[B, N, C]`` tensor.

    Attributes:
        num_tokens: ``N``, the sequence length the plan was made for.
        r: number of tokens removed (the output has ``N - r`` tokens).
        kept_a: ``[B, Na - r]`` indices into set A of the A tokens that stay, ascending.
        merged_a: ``[B, r]`` indices into set A of the A tokens folded into B.
        dst_b: ``[B, r]`` index into set B of the partner of each ``merged_a`` token.
    """

    num_tokens: int
    r: int
    kept_a: torch.Tensor
    merged_a: torch.Tensor
    dst_b: torch.Tensor

    @property
    def num_out(self) -> int:
        """Sequence length after merging."""
        return self.num_tokens - self.r

    def merge(self, x: torch.Tensor, mode: str = "sum") -> torch.Tensor:
        """Fold the merged A tokens into their B partners.

        Args:
            x: ``[B, N, C]`` tensor aligned with the tokens the plan was made from.
            mode: ``"sum"``, ``"mean"``, ``"amax"`` or ``"amin"``: how a B token combines
                with the A tokens folded into it (``torch.scatter_reduce`` semantics,
                self included).

        Returns:
            ``[B, N - r, C]``: the kept A tokens (original order) followed by set B.
        """
        if x.dim() != 3 or x.shape[1] != self.num_tokens:
            raise ValueError(f"x must be [B, {self.num_tokens}, C], got {tuple(x.shape)}")
        if self.r == 0:
            return x
        a, b = x[:, ::2], x[:, 1::2]
        c = x.shape[-1]
        kept = a.gather(1, self.kept_a[..., None].expand(-1, -1, c))  # [B, Na - r, C]
        src = a.gather(1, self.merged_a[..., None].expand(-1, -1, c))  # [B, r, C]
        b = b.scatter_reduce(1, self.dst_b[..., None].expand(-1, -1, c), src, reduce=mode)
        return torch.cat([kept, b], dim=1)

    def unmerge(self, x: torch.Tensor) -> torch.Tensor:
        """Spread merged tokens back to the original positions (each member gets its group's value).

        Args:
            x: ``[B, N - r, C]`` tensor in the layout ``merge`` produces.

        Returns:
            ``[B, N, C]``.
        """
        if x.dim() != 3 or x.shape[1] != self.num_out:
            raise ValueError(f"x must be [B, {self.num_out}, C], got {tuple(x.shape)}")
        if self.r == 0:
            return x
        bsz, _, c = x.shape
        n_kept = self.kept_a.shape[1]
        kept, b = x[:, :n_kept], x[:, n_kept:]
        src = b.gather(1, self.dst_b[..., None].expand(-1, -1, c))  # [B, r, C]
        out = x.new_empty(bsz, self.num_tokens, c)
        out[:, 1::2] = b
        a_full = x.new_empty(bsz, (self.num_tokens + 1) // 2, c)
        a_full.scatter_(1, self.kept_a[..., None].expand(-1, -1, c), kept)
        a_full.scatter_(1, self.merged_a[..., None].expand(-1, -1, c), src)
        out[:, ::2] = a_full
        return out


def bipartite_soft_matching(
    metric: torch.Tensor,
    r: int,
    *,
    protect_first: bool = False,
    regions: torch.Tensor | None = None,
) -> MergePlan:
    """Plan the removal of ``r`` tokens by merging each into its most similar partner.

    Args:
        metric: ``[B, N, C]`` features to compare (ToMe uses the attention keys); cosine
            similarity decides the pairs.
        r: tokens to remove; clamped to what set A can give (``ceil(N / 2)``, less one when
            ``protect_first``).
        protect_first: never merge token 0 away (a class token), and keep it first.
        regions: optional ``[B, N]`` integer region label per token (superpixels, a caller's
            mask). Pairs in different regions are ranked below every same-region pair, so
            merges respect region boundaries whenever the budget allows.

    Returns:
        A :class:`MergePlan`. ``r == 0`` gives the identity plan.
    """
    if metric.dim() != 3:
        raise ValueError(f"metric must be [B, N, C], got shape {tuple(metric.shape)}")
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ValueError(f"r must be a non-negative int, got {r!r}")
    bsz, n, _ = metric.shape
    n_a = (n + 1) // 2
    r = min(r, n_a - (1 if protect_first else 0)) if n > 1 else 0
    device = metric.device
    if r <= 0:
        kept = torch.arange(n_a, device=device).expand(bsz, n_a)
        empty = torch.zeros(bsz, 0, dtype=torch.long, device=device)
        return MergePlan(n, 0, kept, empty, empty)

    with torch.no_grad():
        m = metric if metric.dtype == torch.float32 else metric.float()
        m = m / m.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        scores = m[:, ::2] @ m[:, 1::2].transpose(1, 2)  # [B, Na, Nb]
        if regions is not None:
            if regions.shape != (bsz, n):
                raise ValueError(f"regions must be [B, N] = {(bsz, n)}, got {tuple(regions.shape)}")
            same = regions[:, ::2, None] == regions[:, None, 1::2]
            scores = torch.where(same, scores, scores - CROSS_REGION_PENALTY)
        if protect_first:
            scores[:, 0].fill_(-torch.inf)
        best, partner = scores.max(dim=-1)  # [B, Na]
        order = best.argsort(dim=-1, descending=True)
        merged_a = order[:, :r]
        kept_a = order[:, r:].sort(dim=-1).values
        dst_b = partner.gather(1, merged_a)
    return MergePlan(n, r, kept_a, merged_a, dst_b)


def merge_weighted(
    plan: MergePlan, x: torch.Tensor, size: torch.Tensor | None = None, *, use_triton: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge by size-weighted mean and track sizes (how many original tokens each one holds).

    Args:
        plan: the merge plan.
        x: ``[B, N, C]`` token features.
        size: ``[B, N, 1]`` sizes, ones when ``None``.
        use_triton: run the one-pass Triton kernel (``accel.ops.merge``; sums in float32).
            Default: on CUDA half/float tensors that need no gradient.

    Returns:
        ``(x, size)`` merged: ``x`` is the size-weighted mean of its members, so
        ``sum(x * size)`` over tokens is unchanged, and ``size`` sums to the original count.
    """
    if x.dim() != 3 or x.shape[1] != plan.num_tokens:
        raise ValueError(f"x must be [B, {plan.num_tokens}, C], got {tuple(x.shape)}")
    if use_triton is None:
        grad = torch.is_grad_enabled() and (x.requires_grad or (size is not None and size.requires_grad))
        use_triton = x.is_cuda and triton_usable(x) and plan.r > 0 and not grad
    elif use_triton and not triton_usable(x):
        raise RuntimeError(f"use_triton=True but the merge kernel cannot run on {x.device} {x.dtype} "
                           "(it needs Triton, CUDA or TRITON_INTERPRET=1, and float16/bfloat16/float32)")
    if use_triton and plan.r > 0:
        return launch_merge_weighted(x, size, plan.kept_a, plan.merged_a, plan.dst_b)
    if size is None:
        size = x.new_ones(x.shape[0], x.shape[1], 1)
    if plan.r == 0:
        return x, size
    # Only B tokens change, so touch A once (gather) and B once (weighted scatter-add):
    # fewer passes over memory than merging x * size and size through plan.merge.
    c = x.shape[-1]
    a, b = x[:, ::2], x[:, 1::2]
    s_a, s_b = size[:, ::2], size[:, 1::2]
    kept = a.gather(1, plan.kept_a[..., None].expand(-1, -1, c))
    s_src = s_a.gather(1, plan.merged_a[..., None])
    src = a.gather(1, plan.merged_a[..., None].expand(-1, -1, c)) * s_src
    dst = plan.dst_b[..., None]
    b_size = s_b.scatter_add(1, dst, s_src)
    b_new = (b * s_b).scatter_add_(1, dst.expand(-1, -1, c), src) / b_size
    out_size = torch.cat([s_a.gather(1, plan.kept_a[..., None]), b_size], dim=1)
    return torch.cat([kept, b_new], dim=1), out_size


def merge_source(plan: MergePlan, source: torch.Tensor | None, num_tokens: int | None = None) -> torch.Tensor:
    """Track which original tokens each current token holds.

    Args:
        plan: the merge plan.
        source: ``[B, N, N0]`` 0/1 membership matrix, identity when ``None``.
        num_tokens: ``N0`` when ``source`` is ``None`` (defaults to ``plan.num_tokens``).

    Returns:
        ``[B, N - r, N0]`` membership after the merge.
    """
    if source is None:
        n0 = num_tokens or plan.num_tokens
        bsz = plan.kept_a.shape[0]
        source = torch.eye(n0, device=plan.kept_a.device).expand(bsz, n0, n0)
    return plan.merge(source, mode="amax")
