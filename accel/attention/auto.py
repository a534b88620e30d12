"""``backend="auto"``: time the candidates once per problem and keep the fastest.

The key is (q shape, k shape, dtype, device, causal, allowed extra backends). Candidates are
SDPA's own kernels (default dispatch, flash, cuDNN, memory-efficient) plus any lossy backends
the caller allows explicitly (``auto_allow=("int8",)``); auto never switches to a lossy backend
on its own. On CPU, while compiling or capturing a CUDA graph, or when timing fails, the choice
is plain ``sdpa``. A candidate must beat default SDPA by more than ``margin`` to replace it, so
noise cannot make auto slower than what torch already picks.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable

import torch

logger = logging.getLogger(__name__)

__all__ = ["SDPA_KERNELS", "cached_choices", "choose_backend", "clear_cache"]

SDPA_KERNELS = ("sdpa:flash", "sdpa:cudnn", "sdpa:efficient")
_CACHE: dict[tuple, str] = {}


def clear_cache() -> None:
    """Forget every cached choice (e.g. after changing GPU clocks or library versions)."""
    _CACHE.clear()


def cached_choices() -> dict[tuple, str]:
    """A copy of the cache: key -> chosen backend."""
    return dict(_CACHE)


def _time_round_robin(fns: dict[str, Callable[[], object]], rounds: int = 5, per_round: int = 3) -> dict[str, float]:
    """Median ms per candidate, timing them in turn so that clock drift hits all alike."""
    for fn in fns.values():  # warm-up: compilation, autotuning, handle creation
        fn()
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(per_round):
                fn()
            end.record()
            end.synchronize()
            samples[name].append(start.elapsed_time(end) / per_round)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def _capturing() -> bool:
    try:
        if torch.compiler.is_compiling():
            return True
    except AttributeError:
        pass
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def choose_backend(q, k, *, causal: bool, allow: tuple[str, ...], run: Callable[[str], object],
                   margin: float = 0.01) -> str:
    """Pick a backend for this problem, timing the candidates on first sight.

    Args:
        q, k: the call's query and key (only shapes, dtype and device are used for the key).
        causal: the call's causal flag.
        allow: extra (lossy) backends auto may pick, e.g. ``("int8",)``.
        run: ``run(name)`` computes the attention with backend ``name``.
        margin: relative speed a candidate must gain over default SDPA to be chosen.

    Returns:
        ``"sdpa"``, one of ``SDPA_KERNELS`` or a name from ``allow``.
    """
    if q.device.type != "cuda":
        return "sdpa"
    # the cache is read before anything else: a hit costs a dict lookup, not a CUDA query,
    # which matters on sub-millisecond calls (and a cached choice is safe inside a capture)
    key = (q.shape, k.shape, q.dtype, q.device, causal, allow)
    choice = _CACHE.get(key)
    if choice is not None:
        return choice
    if _capturing():
        return "sdpa"
    runnable: dict[str, Callable[[], object]] = {}
    for name in ("sdpa", *SDPA_KERNELS, *allow):
        try:
            run(name)
            runnable[name] = lambda n=name: run(n)
        except Exception as exc:
            logger.debug("auto: %s unavailable for %s: %s", name, key, exc)
    try:
        timings = _time_round_robin(runnable)
    except Exception as exc:
        logger.warning("auto: timing failed (%s); using sdpa", exc)
        timings = {}
    if "sdpa" not in timings:
        choice = "sdpa"
    else:
        best = min(timings, key=timings.get)
        choice = best if timings[best] < timings["sdpa"] * (1.0 - margin) else "sdpa"
    _CACHE[key] = choice
    logger.info("auto attention for %s: %s (timings ms: %s)", key, choice,
                {n: round(t, 4) for n, t in timings.items()})
    return choice
