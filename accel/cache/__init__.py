"""Step caching for iterative denoisers: reuse a block stack's residual on steps that change little.

Example:
    >>> import accel.cache as cache
    >>> cache.apply(model, cache.FBCacheConfig(threshold=0.08))
    >>> cache.reset(model)
    >>> samples = sample(model, steps=50)
    >>> cache.report(model)        # steps, computed, reused, predicted/measured error
    >>> cache.remove(model)
"""

from .config import FBCacheConfig, SenCacheConfig, StepCacheConfig, TeaCacheConfig
from .engine import (
    StepCacheReport,
    apply_step_cache,
    find_blocks,
    remove_step_cache,
    reset_step_cache,
    step_cache_report,
)

apply = apply_step_cache
remove = remove_step_cache
reset = reset_step_cache
report = step_cache_report

__all__ = [
    "FBCacheConfig",
    "TeaCacheConfig",
    "SenCacheConfig",
    "StepCacheConfig",
    "StepCacheReport",
    "apply",
    "remove",
    "reset",
    "report",
    "apply_step_cache",
    "remove_step_cache",
    "reset_step_cache",
    "step_cache_report",
    "find_blocks",
]
