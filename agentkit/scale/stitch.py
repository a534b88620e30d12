"""Join the time ranges of one file into the segments of one uninterrupted run.

Which frames a run keeps depends on the frames before them (a frame is kept when it differs
from the last kept one), so a worker that starts a range afresh may keep a frame the whole run
would not, or miss one it would keep. The writer therefore decides again over the frame marks
of the ranges in order (`perception.video.KeepRule`, the rule the run itself decides with, on a
few floats per frame): the observations workers made of the frames it keeps are used as they
are, frames a worker did not keep are asked for on their own, and frames it kept but the run
would not are dropped. Segment ends and frame counts follow from the replay. The result is
the segments of `Agent.index` over the same file, from the same start.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from perception.types import Observation
from perception.video import KeepRule, ObserveSettings
from agentkit.scale.work import RangeResult

__all__ = ["FileStitcher"]


def _key(t: float) -> int:
    """A frame's time as a dictionary key (frame times come from the same packets: exact to 1 µs)."""
    return int(round(t * 1e6))


@dataclass
class _Run:
    """A kept frame and the sampled frames after it that it stands for."""

    t: float
    frames: int = 1
    last_t: float = 0.0


class FileStitcher:
    """Collects the range results of one file and hands out its segments in time order.

    Args:
        source: Source id.
        path: The file.
        duration: Its length from the header (the last segment ends there at the latest).
        fps: Sampling rate.
        n_ranges: How many ranges the file was split into.
        settings: The skip rule (threshold, max_gap, skip) of the run being reproduced.
    """

    def __init__(self, source: str, path: str | os.PathLike, *, duration: float, fps: float, n_ranges: int,
                 settings: ObserveSettings | None = None):
        self.source, self.path, self.duration, self.fps = source, str(path), float(duration), float(fps)
        self.n_ranges = n_ranges
        self._rule = KeepRule(settings or ObserveSettings(fps=fps))
        self._waiting: dict[int, RangeResult] = {}
        self._next = 0
        self._runs: list[_Run] = []
        self._seen: dict[int, Observation] = {}
        self._asked: set[int] = set()
        self.sampled = 0
        """Frames replayed so far."""
        self.dropped = 0
        """Observations a worker made of frames the run does not keep."""

    @property
    def complete(self) -> bool:
        """Every range has arrived and been replayed."""
        return self._next >= self.n_ranges

    @property
    def finished(self) -> bool:
        """Complete, and every segment handed out by `take`."""
        return self.complete and not self._runs

    def add(self, result: RangeResult) -> None:
        """Take a worker's result: a range (replayed once the ranges before it are in) or a single frame."""
        if result.task.source != self.source:
            raise ValueError(f"result of source {result.task.source!r} given to the stitcher of {self.source!r}")
        if result.task.single:
            for obs in result.observations:
                self._seen[_key(obs.meta.get("t_frame", obs.t0))] = obs
            return
        self._waiting[result.task.index] = result
        while self._next in self._waiting:
            self._replay(self._waiting.pop(self._next))
            self._next += 1

    def _replay(self, result: RangeResult) -> None:
        for mark in result.marks:
            self.sampled += 1
            if self._rule.keep(mark):
                self._runs.append(_Run(t=mark.t, last_t=mark.t))
            elif self._runs:
                self._runs[-1].frames += 1
                self._runs[-1].last_t = mark.t
        kept = {_key(r.t) for r in self._runs}
        for obs in result.observations:
            k = _key(obs.meta.get("t_frame", obs.t0))
            if k in kept:
                self._seen.setdefault(k, obs)
            else:
                self.dropped += 1

    def missing(self) -> list[float]:
        """Times of kept frames no worker observed (each returned once): ask for them on their own."""
        out = []
        for r in self._runs:
            k = _key(r.t)
            if k not in self._seen and k not in self._asked:
                self._asked.add(k)
                out.append(r.t)
        return out

    def take(self) -> list[Observation]:
        """The segments whose frame is observed and whose end is known, in time order, removed
        from the stitcher (commit them). The last kept frame waits for the next range, unless the
        file is complete."""
        out: list[Observation] = []
        while self._runs:
            run = self._runs[0]
            if len(self._runs) > 1:
                t1 = self._runs[1].t
            elif self.complete:
                t1 = run.last_t + 1.0 / self.fps
                if self.duration > run.last_t:
                    t1 = min(t1, self.duration)
            else:
                break
            obs = self._seen.get(_key(run.t))
            if obs is None:
                break
            del self._seen[_key(run.t)]
            self._runs.pop(0)
            out.append(dataclasses.replace(obs, t0=run.t, t1=t1,
                                           meta={**obs.meta, "frames": run.frames, "t_frame": run.t}))
        return out
