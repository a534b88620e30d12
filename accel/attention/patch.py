"""Switch a whole ``nn.Module`` to an accel attention backend without editing it.

Two routes, picked by what the module is:

- transformers models (they have ``set_attn_implementation``): an attention function named
  ``"accel"`` is registered once in transformers' ``AttentionInterface`` (its masks come from the
  SDPA mask builder) and the model is switched to it; ``remove_attention`` switches back to the
  implementation it had. Calls that accel cannot serve exactly (a padding or custom mask, dropout,
  softcapping, a position bias, queries offset against a KV cache) go to transformers' own SDPA
  function, so outputs stay correct.
- any other module (timm models, your own): ``torch.nn.functional.scaled_dot_product_attention``
  is replaced while the module's forward runs (a forward wrapper that restores it even when the
  forward raises), and calls with ``attn_mask`` or dropout keep the original. Not thread-safe:
  two threads running patched and unpatched modules at once would see each other's swap.

Either way ``apply_attention`` / ``remove_attention`` or the ``attention_backend`` context
manager, and removing restores the exact original output. Both routes are hooks in the module's
``accel.hooks`` registry and keep its contract: applying twice raises ``AlreadyAppliedError``,
removing from an unpatched module does nothing, ``attention_state`` raises ``NotAppliedError``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from accel.attention._checks import check_option
from accel.hooks import ModelHook, apply_hook, remove_hook, require_hook
from accel.attention.api import BACKENDS, attention
from accel.attention.report import ORIGINAL_SDPA

logger = logging.getLogger(__name__)

__all__ = ["AttentionConfig", "apply_attention", "attention_backend", "attention_state", "remove_attention"]

#: hook name in the ``accel.hooks`` registry
ATTENTION_HOOK = "attention"
_CONFIG_ATTR = "_accel_attention_config"  # on every submodule, read by the transformers route
_INTERFACE_NAME = "accel"


@dataclass(frozen=True)
class AttentionConfig:
    """Which backend a patched module uses.

    Args:
        backend (`str`): one of ``accel.attention.BACKENDS``.
        options (`dict`): keyword options passed to ``accel.attention`` (``sparsity``, ``mass``,
            ``block_q``, ``block_k``, ``decay``, ...).
    """

    backend: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)


def _is_transformers_model(module: torch.nn.Module) -> bool:
    return hasattr(module, "set_attn_implementation") and hasattr(getattr(module, "config", None),
                                                                   "_attn_implementation")


def _mask_kind(mask: torch.Tensor, sq: int, sk: int) -> str:
    """"causal", "full" or "other" for a transformers 4-D mask (bool True=attend, or additive)."""
    if mask.dtype == torch.bool:
        allowed = mask
    else:
        low = torch.finfo(mask.dtype).min / 2
        if not bool(((mask == 0) | (mask <= low)).all()):
            return "other"
        allowed = mask == 0
    allowed = allowed.expand(allowed.shape[0], allowed.shape[1], sq, sk)
    if bool(allowed.all()):
        return "full"
    if sq == sk:
        tri = torch.ones(sq, sk, dtype=torch.bool, device=mask.device).tril()
        if bool((allowed == tri).all()):
            return "causal"
    return "other"


def _transformers_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                            is_causal=None, **kwargs):
    """An AttentionInterface function: accel where it is exact to do so, transformers' SDPA else."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cfg: AttentionConfig | None = getattr(module, _CONFIG_ATTR, None)
    sq, sk = query.shape[2], key.shape[2]
    unsupported = (
        cfg is None
        or dropout > 0
        or kwargs.get("softcap") is not None
        or kwargs.get("position_bias") is not None
        or kwargs.get("output_attentions", False)
        or (sq != sk and sq != 1)
    )
    causal = False
    if not unsupported:
        flag = is_causal if is_causal is not None else getattr(module, "is_causal", True)
        if attention_mask is None:
            causal = bool(flag) and sq > 1
        else:
            kind = _mask_kind(attention_mask, sq, sk)
            unsupported = kind == "other"
            causal = kind == "causal"
    if unsupported:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    out = attention(query, key, value, backend=cfg.backend, causal=causal, scale=scaling, **cfg.options)
    return out.transpose(1, 2).contiguous(), None


def _register_transformers() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(_INTERFACE_NAME, _transformers_attention)
    AttentionMaskInterface.register(_INTERFACE_NAME, sdpa_mask)


class _AttentionHook(ModelHook):
    """The module's attention patch; ``route`` says how it reaches the attention calls."""

    title = "an accel attention backend"
    apply_call = "accel.apply_attention(module, backend)"
    remove_call = "accel.remove_attention(module)"
    route = ""

    def __init__(self, config: AttentionConfig) -> None:
        self.config = config


class _TransformersHook(_AttentionHook):
    """Switches a transformers model to the ``"accel"`` attention function and back."""

    route = "transformers"

    def attach(self, module: torch.nn.Module) -> None:
        _register_transformers()
        self.previous = module.config._attn_implementation
        for sub in module.modules():
            setattr(sub, _CONFIG_ATTR, self.config)
        try:
            module.set_attn_implementation(_INTERFACE_NAME)
        except BaseException:
            self._clear(module)
            raise

    def detach(self, module: torch.nn.Module) -> None:
        module.set_attn_implementation(self.previous)
        self._clear(module)

    @staticmethod
    def _clear(module: torch.nn.Module) -> None:
        for sub in module.modules():
            if hasattr(sub, _CONFIG_ATTR):
                delattr(sub, _CONFIG_ATTR)


class _SdpaSwapHook(_AttentionHook):
    """Replaces F.scaled_dot_product_attention while the module's forward runs (re-entrant)."""

    route = "sdpa"

    def replacement(self, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                    enable_gqa=False):
        if attn_mask is not None or dropout_p > 0:
            kw = {"enable_gqa": enable_gqa} if enable_gqa else {}
            return ORIGINAL_SDPA(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                                 is_causal=is_causal, scale=scale, **kw)
        return attention(query, key, value, backend=self.config.backend, causal=bool(is_causal), scale=scale,
                         **self.config.options)

    def new_forward(self, module, forward, *args, **kwargs):
        saved = F.scaled_dot_product_attention
        F.scaled_dot_product_attention = self.replacement
        try:
            return forward(*args, **kwargs)
        finally:
            F.scaled_dot_product_attention = saved


def apply_attention(module: torch.nn.Module, backend: str = "auto", **options) -> torch.nn.Module:
    """Route every attention call inside ``module`` through ``accel.attention``.

    Args:
        module: a transformers model or any module that calls
            ``torch.nn.functional.scaled_dot_product_attention``.
        backend: one of ``accel.attention.BACKENDS``.
        **options: passed to ``accel.attention`` on every call.

    Returns:
        The same module, patched in place.

    Raises:
        AlreadyAppliedError: ``module`` is already patched (remove it first); also a ValueError.
        ValueError: ``backend`` is unknown.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    check_option("backend", backend, BACKENDS)
    cfg = AttentionConfig(backend=backend, options=dict(options))
    hook_type = _TransformersHook if _is_transformers_model(module) else _SdpaSwapHook
    apply_hook(module, ATTENTION_HOOK, hook_type(cfg))
    logger.info("accel attention: %s patched to %s via %s", type(module).__name__, backend, hook_type.route)
    return module


def remove_attention(module: torch.nn.Module) -> torch.nn.Module:
    """Undo ``apply_attention``; a module that was never patched is returned unchanged."""
    remove_hook(module, ATTENTION_HOOK)
    return module


def attention_state(module: torch.nn.Module) -> AttentionConfig:
    """The backend and options ``module`` was patched with.

    Raises:
        NotAppliedError: ``module`` has no accel attention backend.
    """
    return require_hook(module, ATTENTION_HOOK, _AttentionHook).config


@contextlib.contextmanager
def attention_backend(module: torch.nn.Module, backend: str = "auto", **options):
    """Context manager form of ``apply_attention``: the patch is removed on exit, even on error.

    Example:
        >>> with attention_backend(model, "int8"):  # doctest: +SKIP
        ...     logits = model(input_ids).logits
    """
    apply_attention(module, backend, **options)
    try:
        yield module
    finally:
        remove_attention(module)
