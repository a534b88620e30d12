"""Step caching hooks: let a model's block stack skip a denoising step and reuse a cached residual.

"Cache" in ``accel.cache`` always means this step caching (reuse across denoising steps), never
a key/value cache or a file cache. Each block's ``forward`` is wrapped by a hook in the module's
``accel.hooks`` registry (class, parameters and state dict are untouched), and the model holds
the run's state (``StepCache``) in its own hook. A call of block 0 starts a step. The policy decides, before block 0 (TeaCache,
SenCache) or right after it (FBCache), whether the step is *computed* (every block runs its
own forward, bit-identical to the uncached model) or *reused*: the remaining blocks then
return the cached approximation of the stack's output at once.

Block outputs may be a tensor or a tuple of tensors (diffusers joint blocks); a tensor
element with the shape of the hidden input gets the cached residual added, others are
reused as cached.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..hooks import ModelHook, apply_hook, apply_hooks, remove_hook, require_hook
from .config import StepCacheConfig
from .policies import POLICIES, rel_l1, tensors_in

logger = logging.getLogger(__name__)

#: hook names in the ``accel.hooks`` registry: the model's (its state) and each block's
STEP_CACHE_HOOK = "step_cache"
BLOCK_HOOK = "step_cache.block"
_BLOCK_NAMES = ("transformer_blocks", "blocks", "layers")


@dataclass
class StepCacheReport:
    """What one run (since :func:`reset`) did.

    Attributes:
        policy: policy name.
        steps: block-stack calls seen.
        computed: steps where every block ran.
        reused: steps served from the cache (``steps == computed + reused``).
        predicted_error: per reused step, the policy's own estimate (its change measure).
        measured_error: per reused step, relative L1 error of the reused output against the
            full computation (only with ``measure_error=True``).
        reused_steps: indices of the reused steps.
    """

    policy: str
    steps: int = 0
    computed: int = 0
    reused: int = 0
    predicted_error: list[float] = field(default_factory=list)
    measured_error: list[float] = field(default_factory=list)
    reused_steps: list[int] = field(default_factory=list)

    @property
    def compute_fraction(self) -> float:
        """Share of steps that ran the full stack."""
        return self.computed / max(self.steps, 1)


def _main(out):
    return out[0] if isinstance(out, tuple) else out


def _hidden_input(args: tuple, kwargs: dict) -> torch.Tensor:
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    for key in ("hidden_states", "x"):
        if isinstance(kwargs.get(key), torch.Tensor):
            return kwargs[key]
    raise TypeError("step caching needs the block's hidden states as its first argument or `hidden_states=`")


def _shift(cached, delta: torch.Tensor):
    """Add ``delta`` to every tensor in ``cached`` that has its shape."""
    if isinstance(cached, tuple):
        return tuple(_shift(c, delta) for c in cached)
    if isinstance(cached, torch.Tensor) and cached.shape == delta.shape:
        return cached + delta
    return cached


def _sub(a, b):
    if isinstance(a, tuple):
        return tuple(_sub(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
        return a - b
    return a


def _add(a, b):
    if isinstance(a, tuple):
        return tuple(_add(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
        return a + b
    return b


def _detach(out):
    if isinstance(out, tuple):
        return tuple(_detach(o) for o in out)
    return out.detach() if isinstance(out, torch.Tensor) else out


def find_blocks(model: nn.Module, path: str | None) -> nn.ModuleList:
    """The block list: ``path`` if given, else a well-known attribute, else the longest ModuleList."""
    if path is not None:
        obj = model
        for part in path.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"blocks={path!r}: {type(obj).__name__} has no attribute {part!r}")
            obj = getattr(obj, part)
        if not isinstance(obj, (nn.ModuleList, nn.Sequential)) or len(obj) == 0:
            raise ValueError(f"blocks={path!r} is not a non-empty ModuleList/Sequential")
        return obj
    for name in _BLOCK_NAMES:
        obj = getattr(model, name, None)
        if isinstance(obj, (nn.ModuleList, nn.Sequential)) and len(obj) > 0:
            return obj
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no block list; pass blocks='attribute.path' in the config")
    return max(lists, key=len)


class StepCache:
    """Runtime state of step caching on one model (see module docstring).

    Attributes:
        config: the policy's config.
        policy: the policy deciding each step.
        blocks: the block stack, in order.
        report: the current run's report.
        runs: reports of earlier runs (archived by ``reset``).
    """

    def __init__(self, model: nn.Module, config: StepCacheConfig) -> None:
        self.config = config
        self.policy = POLICIES[type(config)](config)
        self.blocks = list(find_blocks(model, config.blocks))
        self.report = StepCacheReport(type(config).__name__.removesuffix("Config"))
        self.runs: list[StepCacheReport] = []
        self._clear()

    def _clear(self) -> None:
        self.mode = "compute"
        self.consecutive = 0
        self.cached_in: torch.Tensor | None = None  # hidden input of block 0, last computed step
        self.cached_first = None  # block 0 output, last computed step
        self.cached_final = None  # last block output, last computed step
        self.approx = None
        self.step_x: torch.Tensor | None = None
        self.step_cond: list[torch.Tensor] = []
        self.step_first = None
        self.pending_predicted = math.nan

    def reset(self) -> None:
        """Start a new run: forget the cache, archive the report."""
        if self.report.steps:
            self.runs.append(self.report)
        self.report = StepCacheReport(self.report.policy)
        self.policy.reset()
        self._clear()

    def _can_reuse(self) -> bool:
        if self.cached_final is None or self.report.steps <= self.config.warmup_steps:
            return False
        limit = self.config.max_consecutive_reuse
        return limit is None or self.consecutive < limit

    def block_forward(self, index: int, block: nn.Module, forward, args: tuple, kwargs: dict):
        """Block ``index``'s call within a step: computed, reused, or (block 0) the decision."""
        if index == 0:
            return self._first(block, forward, args, kwargs)
        if self.mode == "reuse":
            return self.approx
        out = forward(*args, **kwargs)
        if index == len(self.blocks) - 1:
            out = self._finish(out)
        return out

    def _first(self, block, original, args, kwargs):
        self.report.steps += 1
        x = _hidden_input(args, kwargs)
        cond = [t for t in tensors_in(args, kwargs) if t is not x]
        self.step_x, self.step_cond = x, cond
        can_reuse = self._can_reuse()
        policy = self.policy
        if policy.full_skip:
            reuse, predicted = policy.before(block, args, kwargs, x, cond, can_reuse)
            if reuse:
                approx = _shift(self.cached_final, x - self.cached_in)
                return self._start_reuse(approx, predicted, original(*args, **kwargs) if self.config.measure_error else approx)
            self.pending_predicted = predicted
            out = original(*args, **kwargs)
            self.step_first = out
            return self._begin_compute(out)
        out = original(*args, **kwargs)
        self.step_first = out
        reuse, predicted = policy.after_first(_main(out) - x, can_reuse)
        if reuse:
            approx = _add(_sub(self.cached_final, self.cached_first), out)
            return self._start_reuse(approx, predicted, out)
        return self._begin_compute(out)

    def _begin_compute(self, out):
        self.mode = "compute"
        if len(self.blocks) == 1:
            return self._finish(out)
        return out

    def _start_reuse(self, approx, predicted: float, first_out):
        self.report.reused += 1
        self.report.reused_steps.append(self.report.steps - 1)
        self.report.predicted_error.append(float(predicted))
        self.consecutive += 1
        self.approx = approx
        if self.config.measure_error:
            # Let the real blocks run, then swap in the cached output at the last block.
            self.mode = "shadow"
            if len(self.blocks) == 1:
                return self._finish(first_out)
            return first_out
        self.mode = "reuse"
        return approx

    def _finish(self, out):
        if self.mode == "shadow":
            self.report.measured_error.append(rel_l1(_main(self.approx), _main(out)))
            self.mode = "compute"
            return self.approx
        self.report.computed += 1
        self.consecutive = 0
        residual = _main(out) - self.step_x
        self.policy.computed(x=self.step_x, cond=self.step_cond, residual=residual)
        self.cached_in = self.step_x.detach()
        self.cached_first = _detach(self.step_first)
        self.cached_final = _detach(out)  # never keep an autograd graph alive across steps
        return out


class _BlockHook(ModelHook):
    """One block of a step-cached stack: its calls go through ``StepCache.block_forward``."""

    title = "step caching"
    apply_call = "accel.cache.apply(model, config)"
    remove_call = "accel.cache.remove(model)"

    def __init__(self, cache: StepCache, index: int) -> None:
        self.cache = cache
        self.index = index

    def new_forward(self, module, forward, *args, **kwargs):
        return self.cache.block_forward(self.index, module, forward, args, kwargs)


class StepCacheHook(ModelHook):
    """The model's step-caching hook: builds the ``StepCache`` and hooks every block."""

    title = "step caching"
    apply_call = "accel.cache.apply(model, config)"
    remove_call = "accel.cache.remove(model)"

    def __init__(self, config: StepCacheConfig) -> None:
        self.config = config
        self.cache: StepCache | None = None

    def attach(self, module: nn.Module) -> None:
        self.cache = StepCache(module, self.config)
        apply_hooks((block, BLOCK_HOOK, _BlockHook(self.cache, i)) for i, block in enumerate(self.cache.blocks))

    def detach(self, module: nn.Module) -> None:
        for block in self.cache.blocks:
            remove_hook(block, BLOCK_HOOK)


def apply_step_cache(model: nn.Module, config: StepCacheConfig) -> nn.Module:
    """Enable step caching on ``model`` with ``config`` (FBCache, TeaCache or SenCache).

    Args:
        model: any module whose forward runs a list of blocks once per denoising step
            (our DiT, diffusers transformer models, ...).
        config: a :class:`FBCacheConfig`, :class:`TeaCacheConfig` or :class:`SenCacheConfig`.

    Returns:
        ``model``, modified in place. Call :func:`reset_step_cache` before each sampling run
        and read :func:`step_cache_report` after it.

    Raises:
        AlreadyAppliedError: step caching is already applied (remove it first).
        TypeError: ``config`` is not one of the configs.
    """
    if type(config) not in POLICIES:
        raise TypeError(f"config must be one of {[c.__name__ for c in POLICIES]}, got {type(config).__name__}")
    hook = apply_hook(model, STEP_CACHE_HOOK, StepCacheHook(config))
    logger.debug("step caching %s on %d blocks", config, len(hook.cache.blocks))
    return model


def step_cache_state(model: nn.Module) -> StepCache:
    """The model's step-caching state (config, policy, blocks, current report, earlier runs).

    Raises:
        NotAppliedError: step caching is not applied to ``model``.
    """
    return require_hook(model, STEP_CACHE_HOOK, StepCacheHook).cache


def remove_step_cache(model: nn.Module) -> nn.Module:
    """Undo :func:`apply_step_cache`: every block gets its own forward back.

    A model without step caching is returned unchanged.
    """
    remove_hook(model, STEP_CACHE_HOOK)
    return model


def reset_step_cache(model: nn.Module) -> None:
    """Start a new run (new sampling loop): clears the cache and opens a fresh report."""
    step_cache_state(model).reset()


def step_cache_report(model: nn.Module) -> StepCacheReport:
    """Report of the current run."""
    return step_cache_state(model).report


__all__ = [
    "StepCache",
    "StepCacheReport",
    "apply_step_cache",
    "remove_step_cache",
    "reset_step_cache",
    "step_cache_report",
    "step_cache_state",
    "find_blocks",
]
