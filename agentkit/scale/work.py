"""The perception side of a job: observe one time range of a video, models loaded once.

A worker (a Ray actor, or the driver itself) holds one `RangeObserver`. Each `RangeTask` is run
through `perception.video.observe_video`, the same pipeline `Agent.index` uses, limited to the
range; the result is plain data (observations with numpy vectors, frame marks) for the writer.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from perception.errors import InputError
from perception.types import Observation
from perception.video import FrameMark, ObserveSettings, observe_video

__all__ = ["RangeObserver", "RangeResult", "RangeTask"]


@dataclass(frozen=True)
class RangeTask:
    """One piece of work: seconds ``[start, end)`` of one file."""

    path: str
    """The video file (workers on other machines must see it at the same path)."""
    source: str
    """Source id of the file in memory (its content hash)."""
    index: int
    """Position of the range in its file's plan (0, 1, ...); -1 for a single frame."""
    start: float
    end: float | None
    fps: float
    """Sampling rate (frames per second)."""

    @property
    def single(self) -> bool:
        """A single frame at ``start``, observed on its own (see `agentkit.scale.stitch`)."""
        return self.index < 0


@dataclass
class RangeResult:
    """What a worker found in one range: plain data sent back to the writer."""

    task: RangeTask
    marks: list[FrameMark]
    """One mark per sampled frame, in time order (empty for a single frame)."""
    observations: list[Observation]
    """The segments of the range as a run starting at ``task.start`` sees them."""
    seconds: float = 0.0
    """Wall time the worker spent on it."""
    cpu_seconds: float = 0.0
    """CPU time of the worker's thread on it (decoding runs on that thread unless ``threads`` > 1)."""
    worker: int = field(default=0)
    """Process id of the worker."""
    error: str | None = None
    """Why the file could not be read (`perception.errors.InputError`'s problem), or None. Sent as
    text: the writer raises it again, naming the file."""


class RangeObserver:
    """The frame encoder and OCR of one worker, loaded once, and the range work they do.

    Args:
        models: Which models to load (`agentkit.toolkit.ModelChoice`; None: offline defaults),
            the same choice `Agent.default` takes.
        use_ocr: Read on-screen text.
        threads: Torch and decoder threads of this worker, and whether decoding runs on a thread
            of its own (only with more than one): a worker holds one CPU of the cluster, so by
            default it decodes and encodes on one thread, and N workers use N cores (`Agent.index`
            in one process instead overlaps decoding and encoding on two).
    """

    def __init__(self, models=None, *, use_ocr: bool = True, threads: int | None = 1):
        from agentkit.toolkit import ModelChoice, Toolkit

        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        # A toolkit only for its model loading (the same registry calls as the agent's); its
        # store is never opened here: the writer alone touches the store.
        self._toolkit = Toolkit(store_dir=Path(os.devnull), models=models or ModelChoice(), use_ocr=use_ocr,
                                read_only=True)
        self.encoder = self._toolkit.frame_encoder
        self.ocr = self._toolkit.ocr
        self._decode = {"threads": threads, "pipeline": threads is None or threads > 1}

    def observe(self, task: RangeTask) -> RangeResult:
        """Observe ``task``'s range (or its single frame)."""
        started, cpu = time.perf_counter(), time.thread_time()
        if task.single:  # every sampled frame its own segment: exactly the frame at `start`
            settings = ObserveSettings(fps=task.fps, start=task.start, end=task.start + 0.5 / task.fps, skip=False,
                                       **self._decode)
            marks = None
        else:
            settings = ObserveSettings(fps=task.fps, start=task.start, end=task.end, **self._decode)
            marks = []
        try:
            found = list(observe_video(task.path, settings, source=task.source, encoder=self.encoder, ocr=self.ocr,
                                       marks=marks))
        except InputError as err:
            return RangeResult(task=task, marks=[], observations=[], seconds=time.perf_counter() - started,
                               cpu_seconds=time.thread_time() - cpu, worker=os.getpid(), error=err.problem)
        return RangeResult(task=task, marks=marks or [], observations=found, seconds=time.perf_counter() - started,
                           cpu_seconds=time.thread_time() - cpu, worker=os.getpid())

    def pid(self) -> int:
        """Process id of this worker (to watch it, or to stop it in a fault test)."""
        return os.getpid()
