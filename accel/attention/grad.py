"""Backward passes for the fast forwards: recompute in PyTorch and differentiate.

The Triton kernels are forward-only. When an input requires grad, the forward still runs the
fast kernel, and the backward recomputes a differentiable PyTorch version on the saved inputs
and takes its gradient. This is correct, not fast (it materialises the kept scores):

- block_sparse: the gradient of attention restricted to the same kept blocks (exact).
- int8: a straight-through estimator, the gradient of exact attention at the same inputs
  (rounding has zero derivative almost everywhere, which would silently stop Q's and K's
  gradients).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["with_recompute_grad"]

Fn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class _RecomputeGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fast_fn: Fn, grad_fn: Fn, q, k, v):
        ctx.grad_fn = grad_fn
        ctx.save_for_backward(q, k, v)
        with torch.no_grad():
            return fast_fn(q, k, v)

    @staticmethod
    def backward(ctx, grad_out):
        saved = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:]
        with torch.enable_grad():
            inputs = [t.detach().requires_grad_(n) for t, n in zip(saved, needs)]
            out = ctx.grad_fn(*inputs)
            wanted = [t for t, n in zip(inputs, needs) if n]
            grads = iter(torch.autograd.grad(out, wanted, grad_out))
        return None, None, *[next(grads) if n else None for n in needs]


def with_recompute_grad(fast_fn: Fn, grad_fn: Fn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """``fast_fn(q, k, v)``, differentiable through ``grad_fn`` when any input requires grad."""
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _RecomputeGrad.apply(fast_fn, grad_fn, q, k, v)
    return fast_fn(q, k, v)
