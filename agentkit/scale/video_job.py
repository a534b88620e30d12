"""`agentkit index PATH... --store DIR [--engine ray]`: many videos into one store.

Serial (the default): the files one after another through `Agent.index` in this process.
Ray: each file is split into time ranges at key frames (`agentkit.scale.ranges`); workers
observe ranges with their models loaded once (`agentkit.scale.pool`); the driver joins the
ranges of each file into the segments of one run (`agentkit.scale.stitch`) and is the one writer
(`agentkit.scale.writer`). Both resume an interrupted job from the store's progress, and both
store the same segments.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from agentkit.cache import file_hash
from agentkit.scale.files import VIDEO_EXTENSIONS, find_files
from agentkit.scale.ranges import keyframe_times, plan_ranges
from agentkit.scale.stitch import FileStitcher
from agentkit.scale.work import RangeResult, RangeTask
from agentkit.scale.writer import StoreWriter
from perception.video import probe

__all__ = ["ENGINES", "FileReport", "JobReport", "VideoFile", "index_videos", "plan_videos"]

logger = logging.getLogger(__name__)

ENGINES = ("serial", "ray")

Progress = Callable[[int, int], None]
"""``progress(frames_done, frames_total)`` over the whole job."""


@dataclass(frozen=True)
class VideoFile:
    """A file of the job, checked and hashed before any work starts."""

    path: Path
    source: str
    """Content hash: the source id in memory."""
    duration: float


@dataclass(frozen=True)
class FileReport:
    """What the job did with one file."""

    path: str
    source: str
    n_new: int
    """Segments this job stored."""
    n_records: int
    """Segments of the source in the store now."""
    indexed_until: float


@dataclass
class JobReport:
    """A whole job: per-file reports and where the time went."""

    engine: str
    workers: int
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the job (models already loaded)."""
    frames: int = 0
    """Frames sampled by this job."""
    tasks: int = 0
    """Ranges observed (plus single frames asked for again)."""
    worker_seconds: float = 0.0
    """Sum of the workers' time on tasks (decode + encode)."""
    worker_cpu_seconds: float = 0.0
    """Sum of the workers' CPU time on tasks (less than ``worker_seconds`` when cores are shared)."""
    commit_seconds: float = 0.0
    """The writer's time in store transactions."""
    driver_seconds: float = 0.0
    """The driver's time on results: joining ranges and committing (the one writer's whole cost)."""
    commits: int = 0

    @property
    def segments(self) -> int:
        return sum(f.n_new for f in self.files)


def plan_videos(paths: Sequence[str | os.PathLike]) -> list[VideoFile]:
    """The videos named by ``paths`` (folders searched by extension), each probed and hashed; a
    file whose content is already in the list (a copy) is left out.

    Raises:
        perception.errors.InputError: A path is missing, a folder holds no video, or a file is
            not a readable video; the message names it.
    """
    out: list[VideoFile] = []
    seen: set[str] = set()
    for path in find_files(paths, VIDEO_EXTENSIONS):
        info = probe(path)
        source = file_hash(path)
        if source in seen:
            logger.warning("%s has the same content as a file before it: indexed once", path)
            continue
        seen.add(source)
        out.append(VideoFile(path=path, source=source, duration=float(info.duration or 0.0)))
    return out


def index_videos(files: Sequence[VideoFile], store: str | os.PathLike, *, fps: float = 1.0, pool=None,
                 range_seconds: float = 4.0, progress: Progress | None = None, models=None,
                 use_ocr: bool = True) -> JobReport:
    """Index ``files`` (from `plan_videos`) into the store folder ``store``.

    Args:
        files: The job's videos.
        store: Store folder (created when missing).
        fps: Sampling rate.
        pool: A `agentkit.scale.pool.RayPool` to run on; None indexes serially in this process.
        range_seconds: Shortest time range a file is split into (Ray only).
        progress: ``progress(frames_done, frames_total)`` for one bar over the whole job.
        models, use_ocr: Model choice and OCR of the serial engine (a pool has its own).

    Raises:
        perception.errors.InputError: A file turned out unreadable mid-way (named).
        memory.errors.StoreError: The store cannot be opened or written.
    """
    if not (isinstance(fps, (int, float)) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    total = sum(max(1, int(f.duration * fps)) for f in files)
    bar = progress or (lambda done, total: None)
    if pool is None:
        return _serial(files, Path(store), fps, total, bar, models, use_ocr)
    return _on_pool(files, Path(store), fps, total, bar, pool, range_seconds)


def _serial(files, store: Path, fps: float, total: int, bar: Progress, models, use_ocr: bool) -> JobReport:
    from agentkit import Agent
    from agentkit.toolkit import ModelChoice, Toolkit

    report = JobReport(engine="serial", workers=1)
    toolkit = Toolkit(store_dir=store, fps=fps, models=models or ModelChoice(), use_ocr=use_ocr)
    with Agent(toolkit) as agent:
        agent.load_models()
        base = 0
        started = time.perf_counter()
        for f in files:
            n = max(1, int(f.duration * fps))
            until, _ = agent.progress(f.source)
            report.frames -= min(n, int(until * fps))

            def step(t: float, *rest, _base=base, _n=n) -> None:
                bar(_base + min(_n, int(round(float(t) * fps))), total)

            r = agent.index(f.path, source=f.source, fps=fps, progress=step)
            base += n
            report.frames += n
            bar(base, total)
            report.files.append(FileReport(str(f.path), r.source, r.n_new, r.n_records, r.indexed_until))
        report.seconds = time.perf_counter() - started
    return report


@dataclass
class _FileState:
    file: VideoFile
    stitcher: FileStitcher
    until: float
    n_new: int = 0
    frames: int = 0
    reported: bool = False


def _on_pool(files, store: Path, fps: float, total: int, bar: Progress, pool, range_seconds: float) -> JobReport:
    report = JobReport(engine="ray", workers=pool.size)
    started = time.perf_counter()
    with StoreWriter(store) as writer:
        states: dict[str, _FileState] = {}
        tasks: deque[RangeTask] = deque()
        done_frames = 0
        for f in files:
            until, complete = writer.progress(f.source)
            n = max(1, int(f.duration * fps))
            if complete:
                done_frames += n
                report.files.append(FileReport(str(f.path), f.source, 0, writer.memory.count(f.source), until))
                continue
            done_frames += min(n, int(until * fps))
            writer.begin(f.source, f.duration)
            ranges = plan_ranges(keyframe_times(f.path), start=until, fps=fps, duration=f.duration,
                                 min_seconds=range_seconds)
            stitcher = FileStitcher(f.source, f.path, duration=f.duration, fps=fps, n_ranges=len(ranges))
            states[f.source] = _FileState(f, stitcher, until)
            tasks.extend(RangeTask(str(f.path), f.source, i, r.start, r.end, fps) for i, r in enumerate(ranges))
            logger.info("%s: %d ranges from %.1f s", f.path, len(ranges), until)
        bar(done_frames, total)
        frames = [done_frames]

        def on_result(result: RangeResult) -> list[RangeTask]:
            busy = time.perf_counter()
            try:
                return _take(result)
            finally:
                report.driver_seconds += time.perf_counter() - busy

        def _take(result: RangeResult) -> list[RangeTask]:
            st = states[result.task.source]
            report.tasks += 1
            report.worker_seconds += result.seconds
            report.worker_cpu_seconds += result.cpu_seconds
            st.stitcher.add(result)
            st.frames += len(result.marks)
            report.frames += len(result.marks)
            frames[0] += len(result.marks)
            ready = st.stitcher.take()
            if ready:
                st.until = writer.commit(st.file.source, ready)
                st.n_new += len(ready)
            if st.stitcher.finished and not st.reported:
                st.reported = True
                n_records = writer.finish(st.file.source, st.until, str(st.file.path))
                report.files.append(FileReport(str(st.file.path), st.file.source, st.n_new, n_records, st.until))
            bar(min(frames[0], total), total)
            f = st.file
            return [RangeTask(str(f.path), f.source, -1, t, None, fps) for t in st.stitcher.missing()]

        pool.run(tasks, on_result)
        for st in states.values():  # every range and frame came back, so every file is complete
            if not st.stitcher.finished:
                raise RuntimeError(f"{st.file.path}: the job ended with segments not stored (a bug); "
                                   "run it again to resume")
        report.commit_seconds, report.commits = writer.seconds, writer.commits
    report.seconds = time.perf_counter() - started
    bar(total, total)
    order = {str(f.path): i for i, f in enumerate(files)}
    report.files.sort(key=lambda r: order.get(r.path, 0))
    return report
