"""Framework-neutral machinery that wraps a stack of transformer layers with token merging.

Around each layer we (1) add the log-size bias to the attention mask (proportional attention:
a token standing for ``s`` originals gets ``s`` times the attention weight) and (2) merge ``r``
tokens with bipartite soft matching on the attention keys the layer just computed (captured by
a forward hook on its key projection).

Where ToMe merges matters for speed. ToMe merges between a layer's attention and its MLP, so
the MLP (two thirds of a ViT layer's work) already runs on ``r`` fewer tokens. Layers whose
layout an adapter knows (:class:`SplitLayer`: transformers ViT/CLIP/SigLIP, timm ``Block``) are
run that way, from their own submodules; the split is checked once against the layer's own
``forward`` on the first call and dropped, with a warning, if they disagree. Any other layer
runs its own ``forward`` and is merged after it. ``r = 0`` always calls the layer's own
``forward``, so it is bit-identical.

Every wrapper is a hook in the ``accel.hooks`` registry: the model's ``TokenMergeHook`` (which
holds the ``TokenMergeState``), one ``_LayerHook`` a layer and one ``_KeyHook`` a key projection.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ...hooks import ModelHook, apply_hooks, remove_hook
from ..merge import bipartite_soft_matching, merge_source, merge_weighted

logger = logging.getLogger(__name__)

#: hook names in the ``accel.hooks`` registry: the model's (its state), each layer's, each key projection's
TOKEN_MERGE_HOOK = "token_merge"
LAYER_HOOK = "token_merge.layer"
KEY_HOOK = "token_merge.keys"


@dataclass(frozen=True)
class SplitLayer:
    """A pre-norm layer as its two residual halves, so merging can sit between them.

    Attributes:
        attention: ``(layer, x, mask, kwargs) -> x + attention branch``.
        mlp: ``(layer, x) -> x + MLP branch``.
    """

    attention: Callable
    mlp: Callable


@dataclass
class LayerSpec:
    """How to wrap one layer.

    Attributes:
        layer: the transformer layer module.
        key_module: submodule whose forward output holds the attention keys.
        key_slice: ``(start, stop)`` channel slice of that output that is the key
            (``None``: all of it).
        mask_arg: name of the layer's attention-mask argument (``None``: it has none, so
            proportional attention is off for it).
        mask_pos: its position among the arguments after the hidden states
            (``None``: keyword only).
        heads: attention heads; the metric is the key averaged over heads (``[B, N, C / heads]``,
            ToMe's choice: as good for matching and ``heads`` times cheaper to compare).
        split: the layer's two halves when the adapter knows its layout (merge between them).
    """

    layer: nn.Module
    key_module: nn.Module
    key_slice: tuple[int, int] | None
    mask_arg: str | None
    mask_pos: int | None
    heads: int | None = None
    split: SplitLayer | None = None


@dataclass
class TokenMergeState:
    """Settings and per-forward bookkeeping of a patched model.

    Attributes:
        r: tokens merged away in each layer (one entry per layer).
        protect_first: never merge token 0 (class token).
        prop_attn: add the log-size bias to attention.
        trace_source: keep a ``[B, N, N0]`` membership matrix in ``source``.
        regions: optional ``[B, N0]`` region labels for the next forward (see
            :func:`accel.tokens.set_regions`); merging then stays inside regions when it can.
        size: ``[B, N, 1]`` tokens each current token stands for (after the last forward).
        source: membership matrix when ``trace_source``.
        mask: the caller's attention mask merged along with the tokens (see :func:`_layer_mask`).
        layers: the patched layers, in forward order.
    """

    r: list[int]
    protect_first: bool
    prop_attn: bool = True
    trace_source: bool = False
    regions: torch.Tensor | None = None
    size: torch.Tensor | None = None
    source: torch.Tensor | None = None
    cur_regions: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    cur_mask: torch.Tensor | None = None
    metric: torch.Tensor | None = None
    layers: list[nn.Module] = field(default_factory=list)


def parse_r(r: int | list[int] | tuple[int, ...], num_layers: int) -> list[int]:
    """Turn ``r`` (one int for every layer, or one per layer) into a per-layer list."""
    if isinstance(r, bool):
        raise TypeError("r must be an int or a list of ints, got bool")
    if isinstance(r, int):
        if r < 0:
            raise ValueError(f"r must be >= 0, got {r}")
        return [r] * num_layers
    if isinstance(r, (list, tuple)):
        if len(r) != num_layers or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in r):
            raise ValueError(f"r as a list needs {num_layers} non-negative ints (one per layer), got {r!r}")
        return list(r)
    raise TypeError(f"r must be an int or a list of ints, got {type(r).__name__}")


def _size_bias(size: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return size[..., 0].log().to(dtype)[:, None, None, :]  # [B, 1, 1, N]


def _combine_mask(mask: torch.Tensor | None, bias: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return bias
    if mask.dtype == torch.bool:
        return torch.where(mask, bias, torch.full_like(bias, -torch.inf))
    return mask + bias


def _merge_mask(plan, mask: torch.Tensor) -> torch.Tensor:
    """A ``[B, h, Q, N]`` attention mask (bool or additive) after ``plan``: a merged key is visible
    where any of its members was, and a merged query sees what any of its members saw."""
    as_bool = mask.dtype == torch.bool
    m = mask.to(torch.uint8) if as_bool else mask
    b, h, q, n = m.shape
    m = plan.merge(m.reshape(b, h * q, n).transpose(1, 2), mode="amax").transpose(1, 2).reshape(b, h, q, -1)
    if q == n:  # one row per query (not a broadcast row): merge the queries too
        m = plan.merge(m.transpose(1, 2).reshape(b, q, -1), mode="amax").reshape(b, -1, h, m.shape[-1]).transpose(1, 2)
    return m.bool() if as_bool else m


def _layer_mask(state: "TokenMergeState", mask: torch.Tensor | None, n: int, bias: torch.Tensor | None):
    """The attention mask for a layer that sees ``n`` tokens, with the size bias folded in.

    Encoders hand every layer the mask they built for the unmerged tokens (transformers builds an
    all-visible one under CUDA-graph capture or torch.compile); once tokens are merged, the
    merged copy kept in ``state.mask`` stands in for it.
    """
    if mask is not None and mask.shape[-1] != n:
        if state.mask is None or state.mask.shape[-1] != n:
            raise ValueError(f"token merging got an attention mask over {mask.shape[-1]} keys for {n} tokens; "
                             "pass the mask built for the model's input tokens")
        mask = state.mask
    state.cur_mask = mask
    return mask if bias is None else _combine_mask(mask, bias)


# SDPA backends for a call that carries the size bias, fastest first on CUDA. On an H200 (ViT-B/16
# shapes, bf16, batch 256) the memory-efficient kernel served the [B, 1, 1, N] bias in 0.34 /
# 0.17 / 0.065 ms at N = 149 / 101 / 53 tokens, where the default (cuDNN) took 0.49 / 0.18 / 0.17.
_BIAS_ORDER = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION,
               SDPBackend.MATH]


def _sdpa_order_for_bias(x: torch.Tensor):
    return sdpa_kernel(_BIAS_ORDER, set_priority=True) if x.is_cuda else contextlib.nullcontext()


def _merge(state: TokenMergeState, x: torch.Tensor, r: int, index: int) -> torch.Tensor:
    """One merge step on ``x`` with the keys the layer's attention just produced."""
    metric, state.metric = state.metric, None
    if metric is None or metric.shape[:2] != x.shape[:2]:
        raise RuntimeError(f"token merging found no attention keys for layer {index}; the model layout is not supported")
    plan = bipartite_soft_matching(metric, r, protect_first=state.protect_first, regions=state.cur_regions)
    if state.trace_source:
        state.source = merge_source(plan, state.source, x.shape[1])
    if state.cur_regions is not None:
        state.cur_regions = plan.merge(state.cur_regions[..., None], mode="amax")[..., 0]
    if state.cur_mask is not None:
        state.mask = _merge_mask(plan, state.cur_mask)
    x, state.size = merge_weighted(plan, x, state.size)
    return x


def _call_with_mask(spec: LayerSpec, fn: Callable, hidden_states, mask, kwargs):
    """Call a layer's own forward with ``mask`` where its signature expects it."""
    if spec.mask_pos is not None:
        return fn(hidden_states, *(None,) * spec.mask_pos, mask, **kwargs)
    if spec.mask_arg is not None:
        return fn(hidden_states, **kwargs, **{spec.mask_arg: mask})
    return fn(hidden_states, **kwargs)


def _split_matches(spec: LayerSpec, split: SplitLayer, original: Callable, hidden_states, mask, kwargs) -> bool:
    """Whether the adapter's two halves compute what the layer's own forward computes.

    Checked in eval mode (dropout off) so that only the layout can make them differ, and
    bit for bit: the halves call the same submodules in the same order.
    """
    layer, training = spec.layer, spec.layer.training
    layer.eval()
    try:
        with torch.no_grad():
            want = _call_with_mask(spec, original, hidden_states, mask, kwargs)
            if not isinstance(want, torch.Tensor):
                return False  # a tuple-returning layout: keep its own forward and merge after it
            try:
                got = split.mlp(layer, split.attention(layer, hidden_states, mask, kwargs))
            except Exception:  # parts with the right names but other signatures
                return False
    finally:
        layer.train(training)
    return got.shape == want.shape and torch.equal(got, want)


def _mask_and_kwargs(spec: LayerSpec, args: tuple, kwargs: dict):
    """A call's attention mask and its other keyword arguments, as the halves take them;
    ``None`` when the call has positional arguments the halves do not know about."""
    extra = dict(kwargs)
    if spec.mask_pos is not None and len(args) > spec.mask_pos:
        return (args[spec.mask_pos], extra) if len(args) == spec.mask_pos + 1 else None
    if args:
        return None
    return (extra.pop(spec.mask_arg, None) if spec.mask_arg is not None else None), extra


def _with_mask(spec: LayerSpec, args: tuple, kwargs: dict, fn: Callable) -> tuple[tuple, dict]:
    """The call's arguments with its attention mask replaced by ``fn(mask)``."""
    if spec.mask_pos is not None and len(args) > spec.mask_pos:
        args = list(args)
        args[spec.mask_pos] = fn(args[spec.mask_pos])
        return tuple(args), kwargs
    mask = fn(kwargs.get(spec.mask_arg))
    if mask is None and spec.mask_arg not in kwargs:
        return args, kwargs  # nothing to pass: layers that take no mask stay callable as before
    return args, {**kwargs, spec.mask_arg: mask}


class _LayerHook(ModelHook):
    """One layer: proportional attention around it, and a merge between its halves or after it."""

    title = "token merging"
    apply_call = "accel.tokens.patch(model, r)"
    remove_call = "accel.tokens.unpatch(model)"

    def __init__(self, state: TokenMergeState, spec: LayerSpec, index: int) -> None:
        self.state = state
        self.spec = spec
        self.index = index
        self.split = spec.split  # set to None if the first check finds it disagrees with the layer
        self.checked = False

    def _start(self) -> None:
        """Layer 0 starts a forward: forget the last one's sizes, source, regions and mask."""
        state = self.state
        state.size = None
        state.source = None
        state.cur_regions = state.regions
        state.mask = None

    def new_forward(self, module, forward, hidden_states, *args, **kwargs):
        state, spec, index = self.state, self.spec, self.index
        if index == 0:
            self._start()
        state.cur_mask = None
        biased = state.prop_attn and state.size is not None and spec.mask_arg is not None
        if spec.mask_arg is not None:
            bias = _size_bias(state.size, hidden_states.dtype) if biased else None
            args, kwargs = _with_mask(spec, args, kwargs,
                                      lambda mask: _layer_mask(state, mask, hidden_states.shape[1], bias))
        r = state.r[index]
        call = _mask_and_kwargs(spec, args, kwargs) if r > 0 and self.split is not None else None
        if call is not None and not self.checked:
            self.checked = True
            if not _split_matches(spec, self.split, forward, hidden_states, *call):
                self.split = None
                logger.warning("%s: the attention/MLP split does not match this layer's forward; "
                               "merging after the whole layer instead", type(spec.layer).__name__)
        split = self.split if call is not None else None
        state.metric = None
        with _sdpa_order_for_bias(hidden_states) if biased else contextlib.nullcontext():
            if split is not None:  # attention half, merge, MLP half
                x = split.attention(spec.layer, hidden_states, *call)
            else:
                out = forward(hidden_states, *args, **kwargs)
        if split is not None:
            return split.mlp(spec.layer, _merge(state, x, r, index))
        if r <= 0:
            return out
        x = out[0] if isinstance(out, tuple) else out
        x = _merge(state, x, r, index)
        return (x, *out[1:]) if isinstance(out, tuple) else x


class _KeyHook(ModelHook):
    """A key projection: hands the attention keys of each call to the merge as its metric."""

    title = "token merging"
    apply_call = "accel.tokens.patch(model, r)"
    remove_call = "accel.tokens.unpatch(model)"

    def __init__(self, state: TokenMergeState, key_slice: tuple[int, int] | None, heads: int | None) -> None:
        self.state = state
        self.key_slice = key_slice
        self.heads = heads

    def new_forward(self, module, forward, *args, **kwargs):
        output = forward(*args, **kwargs)
        key = output if self.key_slice is None else output[..., self.key_slice[0] : self.key_slice[1]]
        heads = self.heads
        if heads and heads > 1 and key.shape[-1] % heads == 0:
            # fp32 straight from the mean: matching needs no separate conversion
            key = key.unflatten(-1, (heads, key.shape[-1] // heads)).mean(-2, dtype=torch.float32)
        self.state.metric = key
        return output


class TokenMergeHook(ModelHook):
    """The model's token-merging hook: holds the state and hooks every layer and key projection."""

    title = "token merging"
    apply_call = "accel.tokens.patch(model, r)"
    remove_call = "accel.tokens.unpatch(model)"

    def __init__(self, specs: list[LayerSpec], state: TokenMergeState) -> None:
        self.specs = specs
        self.state = state

    def attach(self, module: nn.Module) -> None:
        if not self.specs:
            raise ValueError(f"found no supported transformer layers in {type(module).__name__}")
        hooks = []
        for i, spec in enumerate(self.specs):
            hooks.append((spec.key_module, KEY_HOOK, _KeyHook(self.state, spec.key_slice, spec.heads)))
            hooks.append((spec.layer, LAYER_HOOK, _LayerHook(self.state, spec, i)))
        apply_hooks(hooks)
        self.state.layers = [spec.layer for spec in self.specs]
        logger.debug("token merging on %d layers of %s, r=%s", len(self.specs), type(module).__name__, self.state.r)

    def detach(self, module: nn.Module) -> None:
        for spec in reversed(self.specs):
            remove_hook(spec.layer, LAYER_HOOK)
            remove_hook(spec.key_module, KEY_HOOK)
