"""Find the blocks of timm VisionTransformer models (timm is never imported here)."""

from __future__ import annotations

from torch import nn

from ._core import LayerSpec


def is_timm_vit(model: nn.Module) -> bool:
    """True for timm ``VisionTransformer``-style models (``blocks`` of ``attn.qkv`` layers)."""
    blocks = getattr(model, "blocks", None)
    return (
        isinstance(blocks, nn.Sequential | nn.ModuleList)
        and len(blocks) > 0
        and hasattr(getattr(blocks[0], "attn", None), "qkv")
        and type(model).__module__.startswith("timm.")
    )


def timm_layer_specs(model: nn.Module) -> tuple[list[LayerSpec], bool]:
    """Specs of the blocks, and whether token 0 is a class token."""
    prefix = int(getattr(model, "num_prefix_tokens", 1 if getattr(model, "cls_token", None) is not None else 0))
    if prefix > 1:
        raise ValueError(
            f"token merging supports at most one prefix (class) token; this model has {prefix} "
            "(register or distillation tokens)"
        )
    specs = []
    for block in model.blocks:
        qkv = block.attn.qkv
        dim = qkv.out_features // 3
        specs.append(LayerSpec(block, qkv, (dim, 2 * dim), "attn_mask", None, getattr(block.attn, "num_heads", None)))
    return specs, prefix == 1
