"""Efficient attention, token reduction and step caching: tensors in, tensors out (torch only)."""

from accel import attention  # a callable package: accel.attention(q, k, v, backend=...)
from accel.attention import (
    ErrorReport,
    apply_attention,
    attention_backend,
    error_reports,
    remove_attention,
)
from accel import cache, tokens  # token reduction (accel.tokens.patch) and step caching (accel.cache.apply)
from accel.cache import FBCacheConfig, SenCacheConfig, TeaCacheConfig, apply_step_cache, remove_step_cache


__all__ = [
    "ErrorReport",
    "FBCacheConfig",
    "SenCacheConfig",
    "TeaCacheConfig",
    "apply_attention",
    "apply_step_cache",
    "attention",
    "attention_backend",
    "cache",
    "error_reports",
    "remove_attention",
    "remove_step_cache",
    "tokens",
]
