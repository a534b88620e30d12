"""Efficient attention, token reduction and step caching: tensors in, tensors out (torch only).

- ``accel.attention``: attention backends behind one call, and module patching.
- ``accel.tokens``: token merging (ToMe-style) for vision transformers.
- ``accel.cache``: step caching for iterative denoisers (the only "cache" in accel).
- ``accel.ops``: the kernels (Triton, Gluon), each beside its plain PyTorch reference.
- ``accel.hooks``: the one hook registry the three patchers share, and its errors.
"""

from accel import attention  # a callable package: accel.attention(q, k, v, backend=...)
from accel.attention import (
    ErrorReport,
    apply_attention,
    attention_backend,
    error_reports,
    remove_attention,
)
from accel import cache, hooks, ops, tokens  # token reduction (accel.tokens.patch) and step caching (accel.cache.apply)
from accel.cache import FBCacheConfig, SenCacheConfig, TeaCacheConfig, apply_step_cache, remove_step_cache
from accel.hooks import AlreadyAppliedError, NotAppliedError


__all__ = [
    "AlreadyAppliedError",
    "ErrorReport",
    "FBCacheConfig",
    "NotAppliedError",
    "SenCacheConfig",
    "TeaCacheConfig",
    "apply_attention",
    "apply_step_cache",
    "attention",
    "attention_backend",
    "cache",
    "error_reports",
    "hooks",
    "ops",
    "remove_attention",
    "remove_step_cache",
    "tokens",
]
