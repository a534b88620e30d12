"""The attention references, by their older name: they live in ``accel.ops.attention.naive``.

Kept so that ``from accel.attention import naive`` and ``accel.attention.naive.dense_reference``
go on working; new code imports ``accel.ops.attention.naive``.
"""

from accel.ops.attention import naive as _naive
from accel.ops.attention.naive import *  # noqa: F403  (the names in its __all__)
from accel.ops.attention.naive import tokens_per_block

__all__ = [*_naive.__all__, "tokens_per_block"]
