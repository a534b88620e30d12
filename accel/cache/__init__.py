"""Step caching for iterative denoisers: reuse a block stack's residual on steps that change little.

In accel, "cache" means this step caching only: skipping the block stack on denoising steps whose
output is predicted to change little (FBCache, TeaCache, SenCache). The patch follows the
contract of ``accel.hooks``: ``apply`` twice raises ``AlreadyAppliedError``, ``remove`` on a model
without step caching does nothing, ``state`` / ``report`` / ``reset`` raise ``NotAppliedError``.

Example:
    >>> import accel.cache as cache
    >>> cache.apply(model, cache.FBCacheConfig(threshold=0.08))
    >>> cache.reset(model)
    >>> samples = sample(model, steps=50)
    >>> cache.report(model)        # steps, computed, reused, predicted/measured error
    >>> cache.remove(model)
"""

from . import engine as _engine
from .config import FBCacheConfig, SenCacheConfig, StepCacheConfig, TeaCacheConfig
from .engine import (
    StepCacheReport,
    apply_step_cache,
    find_blocks,
    remove_step_cache,
    reset_step_cache,
    step_cache_report,
    step_cache_state,
)

apply = apply_step_cache
remove = remove_step_cache
reset = reset_step_cache
report = step_cache_report
state = step_cache_state

__all__ = [
    "FBCacheConfig",
    "TeaCacheConfig",
    "SenCacheConfig",
    "StepCacheConfig",
    "apply",
    "remove",
    "reset",
    "report",
    "state",
    *(name for name in _engine.__all__ if name != "StepCache"),
]
