"""One frozen config per step-caching policy.

All three skip the transformer blocks at a denoising step and reuse a cached residual
when the step is predicted to change little; they differ in how they predict it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

__all__ = ["FBCacheConfig", "TeaCacheConfig", "SenCacheConfig", "StepCacheConfig"]


def _check_common(threshold: float, name: str, max_reuse: int | None, warmup: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ValueError(f"{name} must be a number >= 0, got {threshold!r}")
    if max_reuse is not None and (isinstance(max_reuse, bool) or not isinstance(max_reuse, int) or max_reuse < 1):
        raise ValueError(f"max_consecutive_reuse must be None or an int >= 1, got {max_reuse!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
        raise ValueError(f"warmup_steps must be an int >= 1, got {warmup!r}")


class _CheckedKnobs:
    """Checks the knobs every policy has: its reuse bound (named by ``_bound``),
    ``max_consecutive_reuse`` and ``warmup_steps``."""

    _bound: ClassVar[str] = "threshold"

    def __post_init__(self) -> None:
        _check_common(getattr(self, self._bound), self._bound, self.max_consecutive_reuse, self.warmup_steps)


@dataclass(frozen=True)
class FBCacheConfig(_CheckedKnobs):
    """First-block cache: run block 0 every step; if its residual barely changed, skip the rest.

    Args:
        threshold (`float`, defaults to 0.1): reuse when ``mean|r1 - r1_ref| / mean|r1_ref|``
            is below it, ``r1`` being block 0's output minus its input and ``r1_ref`` that of
            the last fully computed step. 0 never reuses.
        max_consecutive_reuse (`int`, *optional*): force a full step after this many reuses.
        warmup_steps (`int`, defaults to 1): steps always computed at the start of a run.
        measure_error (`bool`, defaults to False): also run the full stack on reused steps and
            record the error the reuse causes (evaluation only: no speed-up).
        blocks (`str`, *optional*): dotted attribute path of the block list; found
            automatically when omitted.

    Reference: ParaAttention's First Block Cache, as adopted by diffusers.
    """

    threshold: float = 0.1
    max_consecutive_reuse: int | None = None
    warmup_steps: int = 1
    measure_error: bool = False
    blocks: str | None = None


@dataclass(frozen=True)
class TeaCacheConfig(_CheckedKnobs):
    """TeaCache: accumulate the change of block 0's (timestep-modulated) input; skip all blocks
    while the sum stays under the threshold.

    Args:
        threshold (`float`, defaults to 0.1): bound on the accumulated, rescaled relative L1
            change of the indicator since the last computed step. 0 never reuses.
        coefficients (`tuple[float, ...]`, *optional*): polynomial (highest power first) that
            maps the input change to the expected output change; identity when omitted.
        indicator (`Callable`, *optional*): ``f(block0, args, kwargs) -> Tensor``, the
            indicator. Default: ``block0.modulated_input(*args, **kwargs)`` when the block
            has that method, else the block's tensor arguments.
        max_consecutive_reuse, warmup_steps, measure_error, blocks: as in :class:`FBCacheConfig`.

    Reference: Liu et al., "Timestep Embedding Tells: It's Time to Cache for Video Diffusion
    Model", 2024, https://arxiv.org/abs/2411.19108
    """

    threshold: float = 0.1
    coefficients: tuple[float, ...] | None = None
    indicator: Callable[..., Any] | None = None
    max_consecutive_reuse: int | None = None
    warmup_steps: int = 1
    measure_error: bool = False
    blocks: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.coefficients is not None:
            object.__setattr__(self, "coefficients", tuple(float(c) for c in self.coefficients))


@dataclass(frozen=True)
class SenCacheConfig(_CheckedKnobs):
    """Sensitivity-aware cache: predict the error of reusing the cached residual from how much
    the latent and the conditioning (timestep) moved and how sensitive the output has been to
    such moves, and reuse while the prediction is under a budget.

    Sensitivities are fitted online (non-negative least squares over the last ``history``
    computed steps) from observed ``(latent change, conditioning change) -> output change``.

    Args:
        budget (`float`, defaults to 0.05): predicted relative error of the stack's residual
            allowed on a reused step. 0 never reuses.
        history (`int`, defaults to 8): computed steps kept for the sensitivity fit.
        max_consecutive_reuse, warmup_steps, measure_error, blocks: as in :class:`FBCacheConfig`
            (``warmup_steps`` defaults to 2: two computed steps give the first sensitivity).
    """

    _bound: ClassVar[str] = "budget"

    budget: float = 0.05
    history: int = 8
    max_consecutive_reuse: int | None = None
    warmup_steps: int = 2
    measure_error: bool = False
    blocks: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.history, bool) or not isinstance(self.history, int) or self.history < 2:
            raise ValueError(f"history must be an int >= 2, got {self.history!r}")


StepCacheConfig = FBCacheConfig | TeaCacheConfig | SenCacheConfig
