"""Efficient attention, token reduction and step caching: tensors in, tensors out (torch only)."""

from accel.attention import (
    ErrorReport,
    apply_attention,
    attention,
    attention_backend,
    error_reports,
    remove_attention,
)
