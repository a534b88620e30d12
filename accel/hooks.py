"""One hook registry for every accel patch: step caching, attention backends, token merging.

Each patcher (``accel.cache.apply``, ``accel.attention.apply_attention``, ``accel.tokens.patch``)
is a ``ModelHook`` registered under its own name on the module it patches, plus, where it works
per layer, one hook a layer. The registry of a module keeps its hooks in the order applied and
owns the module's ``forward``: while some hook wraps the forward, ``module.forward`` is an
instance attribute chaining them (the latest applied outermost) around the forward the module
had; when the last such hook goes, that forward is back, and with no hooks left the registry
itself is gone. Class, parameters and state-dict keys are never touched, and techniques compose:
each can be applied and removed independently, in any order.

The contract every patcher keeps (``docs/accel.md``, "Patching a model"):

- ``apply`` patches in place and returns the module. A module that already has the technique
  raises ``AlreadyAppliedError``, and nothing is changed.
- ``remove`` undoes it exactly and returns the module; on a module without the technique it
  does nothing (and returns the module), so it is safe in ``finally`` blocks.
- the state accessors (``accel.cache.report`` / ``reset``, ``accel.tokens.merge_state``,
  ``accel.attention.attention_config``) raise ``NotAppliedError`` on a module without it.

Example:
    >>> import torch
    >>> class Double(ModelHook):
    ...     def new_forward(self, module, forward, *args, **kwargs):
    ...         return 2 * forward(*args, **kwargs)
    >>> layer = torch.nn.Identity()
    >>> _ = apply_hook(layer, "double", Double())
    >>> layer(torch.ones(1)).item()
    2.0
    >>> _ = remove_hook(layer, "double")
    >>> "forward" in layer.__dict__
    False
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from torch import nn

__all__ = [
    "AlreadyAppliedError",
    "HookRegistry",
    "ModelHook",
    "NotAppliedError",
    "apply_hook",
    "apply_hooks",
    "get_hook",
    "remove_hook",
    "require_hook",
]

_REGISTRY_ATTR = "_accel_hooks"


class AlreadyAppliedError(RuntimeError, ValueError):
    """A technique is applied to a module that already has it; remove it first.

    A ``RuntimeError``; also a ``ValueError``, which ``apply_attention`` raised for this before
    the patchers shared one contract, so ``except ValueError`` written for it still works.
    """


class NotAppliedError(RuntimeError):
    """The state of a technique was asked of a module that does not have it."""


class ModelHook:
    """One technique's hook on one module; override what it needs (each default does nothing).

    Attributes:
        title: what the technique is called in error messages ("step caching").
        apply_call: how a user applies it, for error messages ("accel.cache.apply(model, config)").
        remove_call: how a user removes it ("accel.cache.remove(model)").
    """

    title: str = "an accel hook"
    apply_call: str = "the technique's apply function"
    remove_call: str = "the technique's remove function"

    def attach(self, module: nn.Module) -> None:
        """Called once when the hook is registered on ``module`` (before its forward is wrapped).

        Raising here registers nothing; the hook must undo what it did before raising.
        """

    def detach(self, module: nn.Module) -> None:
        """Called once when the hook is removed (after its forward wrapper is gone)."""

    def new_forward(self, module: nn.Module, forward: Callable, *args, **kwargs):
        """Run ``module``'s forward through this hook; ``forward`` is the next one in the chain.

        Only hooks whose class overrides this method wrap the forward at all.
        """
        return forward(*args, **kwargs)

    @property
    def wraps_forward(self) -> bool:
        """Whether this hook's class overrides ``new_forward``."""
        return type(self).new_forward is not ModelHook.new_forward


def _chain(hook: ModelHook, module: nn.Module, inner: Callable) -> Callable:
    def forward(*args, **kwargs):
        return hook.new_forward(module, inner, *args, **kwargs)

    # name, docstring and ``__wrapped__``: inspect.signature(module.forward) stays the real one
    return functools.wraps(inner, updated=())(forward)


class HookRegistry:
    """The accel hooks of one module, in the order applied, and the forward that chains them.

    Use ``HookRegistry.of(module)``; ``apply_hook`` / ``remove_hook`` are the usual entry points.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.hooks: dict[str, ModelHook] = {}
        # the forward to restore: an instance attribute someone else set, or None (the class's)
        self._own_forward = module.__dict__.get("forward")

    @classmethod
    def of(cls, module: nn.Module, *, create: bool = False) -> HookRegistry | None:
        """The module's registry; with ``create``, a new one if it has none."""
        registry = module.__dict__.get(_REGISTRY_ATTR)
        if registry is None and create:
            registry = cls(module)
            module.__dict__[_REGISTRY_ATTR] = registry
        return registry

    def add(self, name: str, hook: ModelHook) -> ModelHook:
        """Register ``hook`` under ``name``; ``AlreadyAppliedError`` if the name is taken."""
        if name in self.hooks:
            existing = self.hooks[name]
            raise AlreadyAppliedError(f"{existing.title} is already applied to this {type(self.module).__name__}; "
                                      f"call {existing.remove_call} first")
        try:
            hook.attach(self.module)
        except BaseException:
            self._drop_if_empty()
            raise
        self.hooks[name] = hook
        self._rebuild()
        return hook

    def remove(self, name: str) -> ModelHook | None:
        """Unregister the hook ``name`` and return it; None (and nothing done) if absent."""
        hook = self.hooks.pop(name, None)
        if hook is None:
            return None
        self._rebuild()
        try:
            hook.detach(self.module)
        finally:
            self._drop_if_empty()
        return hook

    def _rebuild(self) -> None:
        """Point ``module.forward`` at the chain of the wrapping hooks, or back at its own."""
        wrapping = [h for h in self.hooks.values() if h.wraps_forward]
        if not wrapping:
            if self._own_forward is None:
                self.module.__dict__.pop("forward", None)
            else:
                self.module.forward = self._own_forward
            return
        forward = self._own_forward
        if forward is None:
            forward = type(self.module).forward.__get__(self.module)
        for hook in wrapping:
            forward = _chain(hook, self.module, forward)
        self.module.forward = forward

    def _drop_if_empty(self) -> None:
        if not self.hooks and self.module.__dict__.get(_REGISTRY_ATTR) is self:
            del self.module.__dict__[_REGISTRY_ATTR]


def _check_module(module) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")


def apply_hook(module: nn.Module, name: str, hook: ModelHook) -> ModelHook:
    """Register ``hook`` on ``module`` under ``name``.

    Raises:
        AlreadyAppliedError: ``module`` already has a hook named ``name``.
    """
    _check_module(module)
    return HookRegistry.of(module, create=True).add(name, hook)


def apply_hooks(hooks: Iterable[tuple[nn.Module, str, ModelHook]]) -> None:
    """Register each ``(module, name, hook)``, all or none: if one raises, those before it come off.

    What a technique's ``attach`` uses to hook its layers.
    """
    done: list[tuple[nn.Module, str]] = []
    try:
        for module, name, hook in hooks:
            apply_hook(module, name, hook)
            done.append((module, name))
    except BaseException:
        for module, name in reversed(done):
            remove_hook(module, name)
        raise


def remove_hook(module: nn.Module, name: str) -> ModelHook | None:
    """Remove the hook ``name`` from ``module`` and return it; None if it has none."""
    _check_module(module)
    registry = HookRegistry.of(module)
    return None if registry is None else registry.remove(name)


def get_hook(module: nn.Module, name: str) -> ModelHook | None:
    """The hook ``name`` on ``module``, or None."""
    registry = HookRegistry.of(module) if isinstance(module, nn.Module) else None
    return None if registry is None else registry.hooks.get(name)


def require_hook(module: nn.Module, name: str, kind: type[ModelHook]) -> ModelHook:
    """The hook ``name`` on ``module``; ``NotAppliedError`` (naming ``kind``'s technique) if absent."""
    hook = get_hook(module, name)
    if not isinstance(hook, kind):
        raise NotAppliedError(f"{kind.title} is not applied to this {type(module).__name__}; "
                              f"call {kind.apply_call} first")
    return hook

