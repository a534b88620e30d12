"""Find the vision-encoder layers of HF transformers ViT, CLIP and SigLIP models.

Nothing here imports transformers: layers are recognised by class name and layout, so the
adapter costs nothing when transformers is absent. Text towers of CLIP/SigLIP are skipped
(merging text tokens under a causal or padding mask would be wrong).
"""

from __future__ import annotations

import inspect

from torch import nn

from ._core import LayerSpec, SplitLayer

# class name -> (attention submodule attribute, class token present)
_LAYER_KINDS = {
    "ViTLayer": ("attention", True),
    "CLIPEncoderLayer": ("self_attn", True),
    "SiglipEncoderLayer": ("self_attn", False),
}


def _vit_attention(layer, x, mask, kwargs):
    return x + layer.dropout(layer.attention(layer.layernorm_before(x), mask, **kwargs)[0])


def _vit_mlp(layer, x):
    return x + layer.dropout(layer.mlp(layer.layernorm_after(x)))


def _clip_attention(layer, x, mask, kwargs):
    return x + layer.self_attn(hidden_states=layer.layer_norm1(x), attention_mask=mask, **kwargs)[0]


def _clip_mlp(layer, x):
    return x + layer.mlp(layer.layer_norm2(x))


# transformers >= 5 layouts (pre-norm, attention returns (output, weights), tensor out); the
# first patched call checks them against the layer's own forward before relying on them
_SPLITS = {
    "ViTLayer": (SplitLayer(_vit_attention, _vit_mlp), ("layernorm_before", "layernorm_after", "mlp", "dropout")),
    "CLIPEncoderLayer": (SplitLayer(_clip_attention, _clip_mlp), ("layer_norm1", "layer_norm2", "mlp")),
    "SiglipEncoderLayer": (SplitLayer(_clip_attention, _clip_mlp), ("layer_norm1", "layer_norm2", "mlp")),
}


def _split(layer: nn.Module) -> SplitLayer | None:
    split, needs = _SPLITS.get(type(layer).__name__, (None, ()))
    return split if split is not None and all(hasattr(layer, name) for name in needs) else None


def is_hf_vision_model(model: nn.Module) -> bool:
    """True when ``model`` holds ViT/CLIP/SigLIP vision layers."""
    return any(type(m).__name__ in _LAYER_KINDS for m in model.modules())


def hf_layer_specs(model: nn.Module) -> tuple[list[LayerSpec], bool]:
    """Specs of the vision layers in forward order, and whether token 0 is a class token."""
    specs: list[LayerSpec] = []
    protect = None
    for name, module in model.named_modules():
        kind = _LAYER_KINDS.get(type(module).__name__)
        if kind is None or any(part.startswith("text") for part in name.split(".")):
            continue
        key = _key_projection(getattr(module, kind[0]))
        if key is None:
            raise ValueError(f"{type(module).__name__} at {name!r} has no key projection; this transformers version is not supported")
        pos = _mask_position(module)
        attn = getattr(module, kind[0])
        heads = getattr(attn, "num_heads", None) or getattr(attn, "num_attention_heads", None)
        specs.append(LayerSpec(module, key, None, "attention_mask" if pos is not None else None, pos, heads,
                               _split(module)))
        protect = kind[1] if protect is None else protect
    return specs, bool(protect)


def _key_projection(attn: nn.Module) -> nn.Module | None:
    for name, sub in attn.named_modules():
        if name.split(".")[-1] in ("k_proj", "key") and isinstance(sub, nn.Linear):
            return sub
    return None


def _mask_position(layer: nn.Module) -> int | None:
    """Position of ``attention_mask`` after the hidden states in the layer's forward."""
    params = list(inspect.signature(layer.forward).parameters)
    if "attention_mask" not in params:
        return None
    return params.index("attention_mask") - 1


def attn_implementation(model: nn.Module) -> str | None:
    """The model's attention implementation name, when it has a transformers config."""
    config = getattr(model, "config", None)
    for cfg in (config, getattr(config, "vision_config", None)):
        impl = getattr(cfg, "_attn_implementation", None)
        if impl:
            return impl
    return None
