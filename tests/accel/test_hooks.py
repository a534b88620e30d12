"""The hook registry, and the one contract the three patchers keep through it.

The contract (docs/accel.md, "Patching a model") is tested once, parametrized over step caching,
attention backends and token merging: apply returns the module, applying twice raises
``AlreadyAppliedError`` and changes nothing, remove restores the exact module and output, removing
again does nothing, and the state accessor raises ``NotAppliedError`` once the patch is gone.
Models are tiny and random (no weights are downloaded).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import accel
import accel.cache as sc
import accel.tokens as tk
from accel.hooks import (
    AlreadyAppliedError,
    HookRegistry,
    ModelHook,
    NotAppliedError,
    apply_hook,
    apply_hooks,
    get_hook,
    remove_hook,
)



# ---------------------------------------------------------------------------- the registry
class Add(ModelHook):
    def __init__(self, value: float) -> None:
        self.value = value

    def new_forward(self, module, forward, *args, **kwargs):
        return forward(*args, **kwargs) + self.value


class Multiply(ModelHook):
    def __init__(self, value: float) -> None:
        self.value = value

    def new_forward(self, module, forward, *args, **kwargs):
        return forward(*args, **kwargs) * self.value


class Flag(ModelHook):
    """No forward wrapper: only attach/detach."""

    def attach(self, module):
        module.flagged = True

    def detach(self, module):
        del module.flagged


class Refuses(ModelHook):
    def attach(self, module):
        raise ValueError("refused")


def _clean(module: nn.Module) -> bool:
    """Nothing of ours left: no instance forward and no registry anywhere in the module."""
    return not any("forward" in m.__dict__ or HookRegistry.of(m) is not None for m in module.modules())


def test_hooks_chain_latest_outermost_and_unwind_in_any_order():
    layer = nn.Linear(3, 3)
    x = torch.randn(2, 3)
    with torch.no_grad():
        base = layer(x)
        apply_hook(layer, "add", Add(1.0))
        apply_hook(layer, "mul", Multiply(2.0))
        assert torch.allclose(layer(x), (base + 1) * 2)  # the later hook wraps the earlier one
        assert inspect.signature(layer.forward) == inspect.signature(nn.Linear(3, 3).forward)
        assert isinstance(remove_hook(layer, "add"), Add)  # out of order: the chain is rebuilt
        assert torch.allclose(layer(x), base * 2)
        apply_hook(layer, "flag", Flag())
        assert layer.flagged and torch.allclose(layer(x), base * 2)
        remove_hook(layer, "mul")
        assert "forward" not in layer.__dict__  # only a hook without a wrapper is left
        remove_hook(layer, "flag")
        assert torch.equal(layer(x), base)
    assert _clean(layer) and not hasattr(layer, "flagged")
    assert remove_hook(layer, "add") is None  # absent: nothing done


def test_registry_keeps_a_forward_someone_else_set():
    layer = nn.Linear(3, 3)
    own = layer.forward
    layer.forward = lambda x: own(x) * 0  # set before accel
    theirs = layer.forward
    apply_hook(layer, "add", Add(1.0))
    assert torch.equal(layer(torch.randn(1, 3)), torch.ones(1, 3))
    remove_hook(layer, "add")
    assert layer.forward is theirs and HookRegistry.of(layer) is None


def test_registry_errors_and_refused_attach():
    layer = nn.Linear(3, 3)
    apply_hook(layer, "add", Add(1.0))
    with pytest.raises(AlreadyAppliedError, match="already applied"):
        apply_hook(layer, "add", Add(2.0))
    assert get_hook(layer, "add").value == 1.0
    remove_hook(layer, "add")
    with pytest.raises(ValueError, match="refused"):
        apply_hook(layer, "no", Refuses())
    assert _clean(layer) and get_hook(layer, "no") is None
    with pytest.raises(TypeError, match="torch.nn.Module"):
        apply_hook("not a module", "add", Add(1.0))
    first, second = nn.Linear(3, 3), nn.Linear(3, 3)
    apply_hook(second, "add", Add(1.0))
    with pytest.raises(AlreadyAppliedError):  # all or none: the first module's hook comes off again
        apply_hooks([(first, "add", Add(1.0)), (second, "add", Add(2.0))])
    assert _clean(first) and get_hook(second, "add").value == 1.0
    assert issubclass(AlreadyAppliedError, RuntimeError) and issubclass(AlreadyAppliedError, ValueError)
    assert issubclass(NotAppliedError, RuntimeError)


def test_public_api_is_pinned():
    assert sorted(accel.hooks.__all__) == sorted([
        "AlreadyAppliedError", "HookRegistry", "ModelHook", "NotAppliedError", "apply_hook", "apply_hooks",
        "get_hook", "remove_hook", "require_hook",
    ])
    assert sorted(accel.ops.__all__) == ["HAVE_TRITON", "LaunchSettings", "triton_usable"]
    assert accel.AlreadyAppliedError is AlreadyAppliedError and accel.NotAppliedError is NotAppliedError
    assert sc.state is sc.step_cache_state


# ---------------------------------------------------------------------------- the contract
class SdpaBlock(nn.Module):
    """A timm-style attention block: qkv projection, SDPA, projection (residual)."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class BlockStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList(SdpaBlock() for _ in range(3))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@dataclass
class Patcher:
    """One technique under the contract: how to build a model for it, apply, remove, read state."""

    make: Callable[[], tuple[nn.Module, Callable[[nn.Module], torch.Tensor]]]
    apply: Callable[[nn.Module], nn.Module]
    remove: Callable[[nn.Module], nn.Module]
    state: Callable[[nn.Module], object]


def _stack():
    x = torch.randn(2, 40, 32)
    return BlockStack().eval(), lambda model: model(x)


def _vit():
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    model = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                               image_size=32, patch_size=8)).eval()
    x = torch.randn(2, 3, 32, 32)
    return model, lambda m: m(pixel_values=x).last_hidden_state


PATCHERS = {
    "step_cache": Patcher(_stack, lambda m: sc.apply(m, sc.FBCacheConfig(threshold=0.5)), sc.remove, sc.state),
    "attention": Patcher(_stack, lambda m: accel.apply_attention(m, "int8"), accel.remove_attention,
                         accel.attention.attention_state),
    "attention_transformers": Patcher(_vit, lambda m: accel.apply_attention(m, "int8"), accel.remove_attention,
                                      accel.attention.attention_state),
    "token_merge": Patcher(_vit, lambda m: tk.patch(m, r=2), tk.unpatch, tk.merge_state),
}


@torch.no_grad()
@pytest.mark.parametrize("name", list(PATCHERS))
def test_every_patcher_keeps_the_contract(name):
    patcher = PATCHERS[name]
    model, run = patcher.make()
    keys, cls = list(model.state_dict()), type(model)
    before = run(model)
    assert patcher.remove(model) is model and _clean(model)  # removing from an unpatched module: nothing

    assert patcher.apply(model) is model
    state = patcher.state(model)
    patched = run(model)
    with pytest.raises(AlreadyAppliedError, match="already applied"):
        patcher.apply(model)
    assert patcher.state(model) is state  # the refused second patch changed nothing
    assert torch.equal(run(model), patched) or name == "step_cache"  # step caching may reuse now

    assert patcher.remove(model) is model
    assert torch.equal(run(model), before)
    assert type(model) is cls and list(model.state_dict()) == keys and _clean(model)
    assert patcher.remove(model) is model  # removing twice: nothing
    with pytest.raises(NotAppliedError, match="not applied"):
        patcher.state(model)


@torch.no_grad()
def test_patchers_compose_on_one_module_and_come_off_in_any_order():
    """Step caching and an attention backend both wrap block 1's forward; either comes off first."""
    for first_off in ("cache", "attention"):
        model, run = _stack()
        before = run(model)
        accel.apply_attention(model.blocks[1], "int8")
        with_attention = run(model)
        sc.apply(model, sc.FBCacheConfig(threshold=0.0))  # threshold 0: every step computed
        sc.reset(model)
        assert torch.equal(run(model), with_attention)
        if first_off == "cache":
            sc.remove(model)
            assert torch.equal(run(model), with_attention)
            accel.remove_attention(model.blocks[1])
        else:
            accel.remove_attention(model.blocks[1])
            assert torch.equal(run(model), before) and sc.report(model).steps == 2
            sc.remove(model)
        assert torch.equal(run(model), before) and _clean(model)
