"""Temporal token reduction for video streams: recompute only the tokens that changed.

Consecutive video frames repeat most patches. A :class:`TemporalTokenCache` keeps, for every
token position, the input it last computed and the output it got; a new frame's token is
recomputed only when it moved more than ``threshold`` (relative L2) away from that stored
input, otherwise the stored output is reused. Comparing against the last *computed* input,
not the previous frame, stops slow drifts from accumulating unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["TemporalTokenCache", "TemporalReport", "changed_tokens"]


def changed_tokens(tokens: torch.Tensor, reference: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean ``[..., N]`` mask of tokens whose relative L2 change exceeds ``threshold``.

    Args:
        tokens: ``[..., N, C]`` current tokens.
        reference: same shape, the tokens to compare against.
        threshold: relative change ``|x - ref| / (|ref| + eps)`` above which a token counts
            as changed; 0 marks every token that differs at all.
    """
    if tokens.shape != reference.shape:
        raise ValueError(f"tokens {tuple(tokens.shape)} and reference {tuple(reference.shape)} differ in shape")
    diff = (tokens.float() - reference.float()).norm(dim=-1)
    scale = reference.float().norm(dim=-1) + 1e-6
    return diff / scale > threshold


@dataclass
class TemporalReport:
    """Counts since the last reset.

    Attributes:
        frames: frames seen.
        tokens_total: tokens seen.
        tokens_computed: tokens actually recomputed.
        errors: relative L2 error of each frame's output against full recomputation
            (only when ``measure_error`` was on).
    """

    frames: int = 0
    tokens_total: int = 0
    tokens_computed: int = 0
    errors: list[float] = field(default_factory=list)

    @property
    def reuse_fraction(self) -> float:
        """Share of tokens served from the cache."""
        return 1.0 - self.tokens_computed / max(self.tokens_total, 1)


class TemporalTokenCache:
    """Per-position cache over a stream of ``[N, C]`` (or ``[B, N, C]``) token frames.

    Args:
        threshold: relative L2 change under which a token reuses its cached output.
        measure_error: also compute every frame in full and record the error the reuse causes
            (costs the full computation; for evaluation).

    Example:
        >>> cache = TemporalTokenCache(threshold=0.05)
        >>> for frame_tokens in stream:            # [N, C]
        ...     out = cache.step(frame_tokens, encoder)
        >>> cache.report.reuse_fraction
    """

    def __init__(self, threshold: float, *, measure_error: bool = False) -> None:
        if not isinstance(threshold, (int, float)) or threshold < 0:
            raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
        self.threshold = float(threshold)
        self.measure_error = measure_error
        self.report = TemporalReport()
        self._inputs: torch.Tensor | None = None
        self._outputs: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the cache and the counts (start of a new stream)."""
        self.report = TemporalReport()
        self._inputs = None
        self._outputs = None

    def step(self, tokens: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Outputs for one frame, recomputing only changed tokens.

        Args:
            tokens: ``[N, C]`` or ``[B, N, C]`` tokens of this frame (same positions each frame).
            fn: a token-wise map ``[M, C] -> [M, D]`` (it must not mix tokens; for a
                contextual encoder the reuse is an approximation, which ``measure_error``
                quantifies).

        Returns:
            ``[..., N, D]`` outputs: fresh where the token changed, cached elsewhere.
        """
        if tokens.dim() not in (2, 3):
            raise ValueError(f"tokens must be [N, C] or [B, N, C], got shape {tuple(tokens.shape)}")
        flat = tokens.reshape(-1, tokens.shape[-1])
        if self._outputs is None or self._inputs.shape != flat.shape:
            out = fn(flat)
            self._inputs = flat.clone()
            computed = flat.shape[0]
        else:
            idx = changed_tokens(flat, self._inputs, self.threshold).nonzero(as_tuple=True)[0]
            out = self._outputs.clone()
            if idx.numel():
                out[idx] = fn(flat[idx]).to(out.dtype)
                self._inputs[idx] = flat[idx]
            computed = int(idx.numel())
        if self.measure_error:
            full = fn(flat)
            err = (out.float() - full.float()).norm() / (full.float().norm() + 1e-12)
            self.report.errors.append(float(err))
        self._outputs = out
        self.report.frames += 1
        self.report.tokens_total += flat.shape[0]
        self.report.tokens_computed += computed
        return out.reshape(*tokens.shape[:-1], out.shape[-1])
