"""Workers on Ray: one actor per worker, each holding its models (`RangeObserver`) for the whole job.

Ray is optional (``pip install 'agentkit[scale]'``); `require_ray` says so when it is missing.
A worker that dies (killed, out of memory) is restarted by Ray, which runs its unfinished tasks
again; a task's result is plain data, so running it twice changes nothing.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable

from agentkit.scale.work import RangeObserver, RangeResult, RangeTask

__all__ = ["RayPool", "require_ray", "warn_if_short"]

logger = logging.getLogger(__name__)

RESTARTS = 4
"""How often Ray restarts a dead worker (and retries its tasks) within one job."""


def require_ray() -> Any:
    """The `ray` module.

    Raises:
        ValueError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray, which is not installed: pip install 'agentkit[scale]' "
                         "(or run without --engine ray to index in this process)") from None
    return ray


def warn_if_short(ray: Any, workers: int) -> None:
    """Log a warning when the cluster has fewer free CPUs than workers asked for (the rest wait)."""
    free = ray.available_resources().get("CPU", 0.0)
    if free < workers:
        logger.warning("%d workers asked for, but the cluster has %.0f CPUs free: the others start when CPUs free up",
                       workers, free)


class RayPool:
    """``workers`` Ray actors with models loaded, fed range tasks (at most ``depth`` queued on each).

    Args:
        workers: Number of actors; None: one per CPU of the cluster.
        address: A running cluster ("auto", "ray://host:10001", ...); None starts a local one
            with ``workers`` CPUs (and stops it on `close`). A Ray already initialised in this
            process (a test's, a notebook's) is used as it is.
        models: `agentkit.toolkit.ModelChoice` for every worker (None: offline defaults).
        use_ocr: Read on-screen text.
        depth: Tasks queued per actor, so it never waits for the driver between two tasks.
    """

    def __init__(self, workers: int | None = None, *, address: str | None = None, models=None, use_ocr: bool = True,
                 depth: int = 2):
        ray = require_ray()
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, num_cpus=workers if address is None else None, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING)
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        warn_if_short(ray, n)
        actor = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(RangeObserver)
        self.actors = [actor.remote(models, use_ocr=use_ocr) for _ in range(n)]
        self.depth = depth
        self._closed = False

    @property
    def size(self) -> int:
        return len(self.actors)

    def ready(self) -> "RayPool":
        """Wait until every worker has loaded its models (before timing a job)."""
        self._ray.get([a.pid.remote() for a in self.actors])
        return self

    def pids(self) -> list[int]:
        """Process id of each worker."""
        return self._ray.get([a.pid.remote() for a in self.actors])

    def run(self, tasks: deque[RangeTask], on_result: Callable[[RangeResult], list[RangeTask]]) -> None:
        """Run ``tasks`` (a queue the caller may also fill), calling ``on_result`` in the driver
        for each result as it arrives; the tasks it returns run before the rest of the queue.

        Raises:
            perception.errors.InputError: A worker could not read a file (the original error).
            RuntimeError: A worker failed otherwise, or died more often than Ray restarts it.
        """
        ray = self._ray
        inflight: dict[Any, tuple[int, RangeTask]] = {}
        load = [0] * len(self.actors)
        try:
            while tasks or inflight:
                for i, actor in enumerate(self.actors):
                    while tasks and load[i] < self.depth:
                        task = tasks.popleft()
                        inflight[actor.observe.remote(task)] = (i, task)
                        load[i] += 1
                done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in done:
                    i, task = inflight.pop(ref)
                    load[i] -= 1
                    result = self._get(ref, task)
                    tasks.extendleft(reversed(on_result(result)))
        finally:
            for ref in inflight:  # an interrupted job: what is still running is not wanted
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - best effort; the actor finishes and the result is dropped
                    pass

    def _get(self, ref: Any, task: RangeTask) -> RangeResult:
        from perception.errors import InputError

        ray = self._ray
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            raise RuntimeError(f"{task.path}: a worker failed on {task.start:.1f}-"
                               f"{'end' if task.end is None else f'{task.end:.1f}'} s: {cause or err}") from None
        except ray.exceptions.RayActorError as err:
            raise RuntimeError(f"{task.path}: a worker died {RESTARTS + 1} times ({' '.join(str(err).split())[:200]}); "
                               "run the same command again to resume") from None
        if result.error is not None:
            raise InputError(task.path, result.error)
        return result

    def close(self) -> None:
        """Stop the workers (and the local cluster this pool started)."""
        if self._closed:
            return
        self._closed = True
        for a in self.actors:
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        if self._owns:
            self._ray.shutdown()

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
