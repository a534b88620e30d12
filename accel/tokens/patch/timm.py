"""Find the blocks of timm VisionTransformer models (timm is never imported here)."""

from __future__ import annotations

from torch import nn

from ._core import LayerSpec, SplitLayer


def _block_attention(block, x, mask, kwargs):
    return x + block.drop_path1(block.ls1(block.attn(block.norm1(x), attn_mask=mask, **kwargs)))


def _block_mlp(block, x):
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


# timm's ``Block`` layout; the first patched call checks it against the block's own forward
_BLOCK_SPLIT = SplitLayer(_block_attention, _block_mlp)
_BLOCK_PARTS = ("norm1", "attn", "ls1", "drop_path1", "norm2", "mlp", "ls2", "drop_path2")


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
        split = _BLOCK_SPLIT if all(hasattr(block, name) for name in _BLOCK_PARTS) else None
        specs.append(LayerSpec(block, qkv, (dim, 2 * dim), "attn_mask", None, getattr(block.attn, "num_heads", None), split))
    return specs, prefix == 1
