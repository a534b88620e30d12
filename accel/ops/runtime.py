"""What every kernel in ``accel.ops`` shares: the optional Triton import and the CPU interpreter.

Triton is optional: when it is missing ``HAVE_TRITON`` is False, ``triton`` and ``tl`` are None,
and callers take their PyTorch paths. With ``TRITON_INTERPRET=1`` the kernels also run on CPU
tensors (slowly), which is how the tests check them on machines without a GPU; call
``prepare_interpreter()`` before a launch so the interpreter can run them (see its docstring).

Public within accel: ``accel.attention`` and ``accel.tokens`` import these names from here,
never from one another's private modules.
"""

from __future__ import annotations

import os

import torch

try:  # Triton is an optional accelerator: never required to import accel.
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except Exception:
    triton = None
    tl = None
    HAVE_TRITON = False

__all__ = ["HAVE_TRITON", "KERNEL_DTYPES", "interpreting", "next_pow2", "pow2_ceil", "prepare_interpreter", "tl",
           "triton", "triton_usable"]

#: dtypes our Triton kernels take as float inputs.
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_usable(t: torch.Tensor) -> bool:
    """Whether our Triton kernels can take ``t``: on its device (CUDA, or CPU under the
    interpreter) and in its dtype (float16, bfloat16 or float32)."""
    if not HAVE_TRITON:
        return False
    return (t.is_cuda or interpreting()) and t.dtype in KERNEL_DTYPES


def next_pow2(n: int) -> int:
    """The power of two ``>= n``, at least 16 (Triton's smallest matrix tile): a head-dim tile."""
    return 1 << max(4, (n - 1).bit_length())


def pow2_ceil(n: int) -> int:
    """The power of two ``>= n`` (1 for ``n <= 1``)."""
    return 1 << max(0, (n - 1).bit_length())


_INTERPRETER_SHIM = False


def prepare_interpreter() -> None:
    """Before a launch: when interpreting, let loaded scalars serve as loop bounds (numpy >= 2.4).

    The interpreter holds scalars as 1-element arrays and converts them with ``int(array)``,
    which numpy 2.4 refuses for 1-d arrays. We re-patch ``__index__`` after triton's own patch
    (its scope restores both in order). Interpreter only, applied once; compiled kernels are
    untouched, and outside the interpreter this does nothing.
    """
    global _INTERPRETER_SHIM
    if _INTERPRETER_SHIM or not interpreting():
        return
    try:
        from triton.runtime import interpreter as _interp
    except Exception:
        return
    original = getattr(_interp, "_patch_lang_tensor", None)
    if original is None:
        return

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    _interp._patch_lang_tensor = patched
    _INTERPRETER_SHIM = True
