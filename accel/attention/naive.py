"""The attention references, by their older name: they live in ``accel.ops.attention.naive``.

Kept so that ``from accel.attention import naive`` and ``accel.attention.naive.dense_reference``
go on working; new code imports ``accel.ops.attention.naive``.
"""

from accel.ops.attention.naive import (
    block_sparse_reference,
    causal_mask,
    dense_reference,
    int8_reference,
    linear_reference,
    tokens_per_block,
)

__all__ = [
    "block_sparse_reference",
    "causal_mask",
    "dense_reference",
    "int8_reference",
    "linear_reference",
    "tokens_per_block",
]
