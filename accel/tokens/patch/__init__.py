"""Patch token merging into vision transformers without editing them.

Example:
    >>> from transformers import ViTConfig, ViTModel
    >>> import accel.tokens
    >>> model = ViTModel(ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
    ...                            intermediate_size=128, image_size=32, patch_size=8))
    >>> _ = accel.tokens.patch(model, r=2)    # 17 tokens -> 15 -> 13
    >>> _ = accel.tokens.unpatch(model)       # the exact original module again
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ...hooks import apply_hook, remove_hook, require_hook
from ._core import TOKEN_MERGE_HOOK, TokenMergeHook, TokenMergeState, parse_r
from .hf import attn_implementation, hf_layer_specs, is_hf_vision_model
from .timm import is_timm_vit, timm_layer_specs

logger = logging.getLogger(__name__)

__all__ = ["patch", "unpatch", "set_regions", "merge_state", "TokenMergeState"]


def patch(
    model: nn.Module,
    r: int | list[int],
    *,
    prop_attn: bool = True,
    trace_source: bool = False,
    protect_first: bool | None = None,
) -> nn.Module:
    """Merge ``r`` tokens in every layer of a ViT/CLIP/SigLIP (transformers) or timm ViT.

    The model keeps its class, parameters and state-dict keys; only each layer's ``forward``
    is wrapped (instance attribute) and a forward hook reads its attention keys. Known layer
    layouts merge between attention and MLP, as ToMe does; others merge after the layer.

    Args:
        model: a transformers ``ViTModel``/``ViTForImageClassification``, ``CLIPModel``/
            ``CLIPVisionModel``, ``SiglipModel``/``SiglipVisionModel``, or a timm
            ``VisionTransformer``. Only the vision tower is patched. Heads that pool over all
            tokens (SigLIP's attention-pooling head, timm's average pooling) see the merged
            tokens without size weights; class-token heads (ViT, CLIP) are unaffected.
        r: tokens removed per layer (int), or one value per layer.
        prop_attn: proportional attention (log-size bias in the attention mask). Needs an
            attention implementation that honours float masks (eager, sdpa); with
            flash or flex attention it is switched off and a warning logged. On CUDA the
            biased calls ask SDPA for its memory-efficient kernel first (faster with a bias
            than cuDNN's). An attention mask the model builds for its input tokens is merged
            along with them.
        trace_source: record which input tokens each output token holds
            (:func:`merge_state` ``.source``), for visualisation and tests.
        protect_first: keep token 0 unmerged; default: True when the model has a class token.

    Returns:
        ``model``, patched in place.

    Raises:
        AlreadyAppliedError: the model is already patched (a RuntimeError).
        ValueError: no supported layers, or a bad ``r``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if is_timm_vit(model):
        specs, has_cls = timm_layer_specs(model)
    elif is_hf_vision_model(model):
        specs, has_cls = hf_layer_specs(model)
        impl = attn_implementation(model) or ""
        if prop_attn and ("flash" in impl or "flex" in impl):
            logger.warning("attention implementation %r takes no float mask: proportional attention is off", impl)
            prop_attn = False
    else:
        raise ValueError(
            f"{type(model).__name__} is not a supported vision transformer "
            "(transformers ViT/CLIP/SigLIP, timm VisionTransformer)"
        )
    state = TokenMergeState(
        r=parse_r(r, len(specs)),
        protect_first=has_cls if protect_first is None else bool(protect_first),
        prop_attn=prop_attn,
        trace_source=trace_source,
    )
    apply_hook(model, TOKEN_MERGE_HOOK, TokenMergeHook(specs, state))
    return model


def unpatch(model: nn.Module) -> nn.Module:
    """Remove token merging: restores every layer's forward and removes the hooks.

    A model without token merging is returned unchanged.
    """
    remove_hook(model, TOKEN_MERGE_HOOK)
    return model


def merge_state(model: nn.Module) -> TokenMergeState:
    """The patched model's state: settings, and sizes/source of the last forward.

    Raises:
        NotAppliedError: token merging is not applied to ``model`` (a RuntimeError).
    """
    return require_hook(model, TOKEN_MERGE_HOOK, TokenMergeHook).state


def set_regions(model: nn.Module, regions: torch.Tensor | None) -> None:
    """Give region labels (``[B, N]``, one per input token) for the next forwards.

    Merges then stay inside regions whenever the budget allows (segmentation-guided
    reduction); ``None`` returns to plain matching. See :mod:`accel.tokens.segment`.
    """
    state = merge_state(model)
    if regions is not None and (not isinstance(regions, torch.Tensor) or regions.dim() != 2):
        raise ValueError("regions must be a [B, N] integer tensor or None")
    state.regions = regions
