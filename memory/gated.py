"""A GRU-style gated reader: walk a timeline once, keep a fixed-size state, stop when it is settled.

The reader visits a source's segments in time order (backwards for "last") and keeps a small,
fixed-size state: how many occurrences of each cue it has seen, the first, n-th and last of them,
the occurrence still open, the summed time on screen and the few best-matching spans. Two gates,
computed from the segment and the state (nothing is trained), decide what each step does:

* the **update gate** ``z = sigmoid((score - threshold) / temperature)`` says whether the segment
  changes what the question needs. ``score`` is the segment's match with a cue: the cosine of its
  vector with the cue's, or the summed probability of the cue's label names, whichever is larger.
  A segment with ``z >= 0.5`` opens or extends an occurrence; the open occurrence ends once the
  reader is more than ``join_gap`` seconds past its last matching segment (a one-segment flicker
  does not split a sighting in two). As in a GRU, the state's match trace is
  ``h = (1 - z) * h + z * score``: a segment the gate keeps out leaves it unchanged.
* the **exit gate** says whether any later segment can still change the answer. For "first",
  "exists" and "nth" it opens once the occurrence the goal names is closed (or, for "exists", as
  soon as one segment is clearly in); for "last" (read backwards) once the newest occurrence is
  closed; for "order" once every cue has a closed first occurrence. "count" and "duration" need the
  whole timeline and never exit early. A cue with a ``confirm`` level (the controller's presence
  decision) settles the question only with an occurrence that strong: weaker occurrences read
  before it still count as the first, but the reader goes on until the subject is confirmed.

Each step costs O(k) for k cues, whatever the length of the timeline, and the state holds
O(k + best) numbers, so the same reader serves a live stream online (`GatedReader.step` per
observation) and a stored timeline (`GatedReader.read`).

Memory knows vectors, time spans and labels, not where they came from: cues are plain vectors
and label names; turning a question into cues is the controller's job.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GOALS", "Cue", "GateConfig", "GatedReader", "GatedResult", "Occurrence", "SegmentLike"]

GOALS = ("exists", "first", "nth", "last", "count", "duration", "order")
"""What the reader is asked; see `GatedReader`."""

SegmentLike = Any
"""Anything with ``t0``, ``t1``, ``labels`` (name -> probability) and either ``vector`` (1-D array)
or ``vectors`` (space name -> 1-D array), e.g. `memory.records.Segment` read with vectors or a
perception observation."""


@dataclass(frozen=True)
class Cue:
    """One thing the question looks for.

    Args:
        name: How answers name it (e.g. "cat").
        vector: Unit vector in the segments' space (``space``), or None to match labels only.
        labels: Label names whose summed probability counts as a match (e.g. the classes a concept
            expands to).
        space: Which of a segment's ``vectors`` to compare with.
    """

    name: str
    vector: np.ndarray | None = None
    labels: frozenset[str] = frozenset()
    space: str = "concept"
    threshold: float | None = None
    """This cue's own update-gate threshold (score units); None uses `GateConfig.threshold`. Cues of
    different kinds (a cosine, a summed probability) need different ones."""
    confirm: float | None = None
    """Peak score an occurrence must reach to settle the question: the exit gate of "exists",
    "first", "last" and "nth" waits for an occurrence this strong (weaker ones before it are still
    kept and counted). None: any occurrence settles it."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        for key in ("threshold", "confirm"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not math.isfinite(float(value))):
                raise ValueError(f"cue {self.name!r}: {key} must be a finite number or None, got {value!r}")
        if self.vector is None and not self.labels:
            raise ValueError(f"cue {self.name!r} needs a vector or label names")
        if self.vector is not None:
            v = np.asarray(self.vector, dtype=np.float32).reshape(-1)
            n = float(np.linalg.norm(v))
            if v.size == 0 or not math.isfinite(n) or n == 0.0:
                raise ValueError(f"cue {self.name!r}: vector must be a finite, non-zero 1-D array")
            object.__setattr__(self, "vector", v / n)
        object.__setattr__(self, "labels", frozenset(self.labels))

    def score(self, segment: SegmentLike) -> float:
        """Match of ``segment`` with this cue: max(cosine of vectors, summed label probability)."""
        best = 0.0
        if self.labels:
            labels: Mapping[str, float] = getattr(segment, "labels", None) or {}
            best = float(sum(float(p) for name, p in labels.items() if name in self.labels))
        if self.vector is not None:
            vec = getattr(segment, "vector", None)
            if vec is None:
                vec = (getattr(segment, "vectors", None) or {}).get(self.space)
            if vec is not None:
                v = np.asarray(vec, dtype=np.float32).reshape(-1)
                if v.shape == self.vector.shape:
                    best = max(best, float(v @ self.vector) / max(float(np.linalg.norm(v)), 1e-12))
        return best


@dataclass(frozen=True)
class GateConfig:
    """How the gates open (checked once, here).

    Args:
        threshold: Score at which the update gate is half open.
        temperature: Width of the gate's sigmoid (score units); smaller is sharper.
        join_gap: Seconds without a match that still leave one occurrence open (a flicker).
        exists_gate: An "exists" question exits at the first segment whose gate is at least this open.
        best: How many best-matching spans the state keeps as evidence.
    """

    threshold: float = 0.5
    temperature: float = 0.05
    join_gap: float = 1.0
    exists_gate: float = 0.9
    best: int = 5

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not self.join_gap >= 0:
            raise ValueError(f"join_gap must be >= 0 seconds, got {self.join_gap!r}")
        if not 0.5 <= self.exists_gate < 1.0:
            raise ValueError(f"exists_gate must be in [0.5, 1), got {self.exists_gate!r}")
        if isinstance(self.best, bool) or not isinstance(self.best, int) or self.best < 1:
            raise ValueError(f"best must be a positive int, got {self.best!r}")

    def gate(self, score: float, threshold: float | None = None) -> float:
        """The update gate's opening for a match ``score`` (against ``threshold``, default the
        configured one), in (0, 1)."""
        x = (score - (self.threshold if threshold is None else threshold)) / self.temperature
        return 1.0 / (1.0 + math.exp(-x)) if x > -60 else 0.0


@dataclass(frozen=True)
class Occurrence:
    """A run of segments matching one cue: its span and best score."""

    cue: str
    t0: float
    t1: float
    peak: float


@dataclass
class _CueState:
    """Fixed-size state for one cue."""

    count: int = 0
    seconds: float = 0.0
    trace: float = 0.0
    first: Occurrence | None = None
    nth: Occurrence | None = None
    open: list[float] | None = None  # [t0, t1, peak] of the occurrence being read
    confirm: float | None = None
    confirmed: bool = False  # an occurrence reaching `confirm` has closed


@dataclass
class GatedResult:
    """What the reader found, and how much of the timeline it read."""

    goal: str
    read: int
    """Segments read before the exit gate opened (or all of them)."""
    exited: bool
    """True when the exit gate stopped the reading before the end."""
    count: dict[str, int] = field(default_factory=dict)
    """Closed occurrences per cue."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Summed occurrence time per cue."""
    first: dict[str, Occurrence] = field(default_factory=dict)
    """First occurrence per cue in reading order (the last one in time, for goal "last")."""
    nth: Occurrence | None = None
    """The n-th occurrence of the first cue (goal "nth")."""
    order: list[str] = field(default_factory=list)
    """Cues in the order of their first occurrence (goal "order")."""
    best: list[Occurrence] = field(default_factory=list)
    """The best-matching occurrences, best first (evidence)."""

    @property
    def found(self) -> bool:
        return bool(self.first)


class GatedReader:
    """Reads a timeline through an update gate and an exit gate with a fixed-size state.

    Args:
        goal: One of `GOALS`: "exists", "first", "nth" (with ``n``), "last" (reads backwards),
            "count", "duration" or "order" (several cues).
        cues: What to look for; "order" needs two or more, the others use each cue given.
        config: The gates (`GateConfig`).
        n: Which occurrence "nth" asks for (1-based).

    Example:
        ```python
        reader = GatedReader("first", [Cue("cat", labels={"tabby", "tiger cat"})])
        result = reader.read(store.segments(source=src))       # time order
        result.first["cat"], result.read                       # span, segments read
        ```
    """

    def __init__(self, goal: str, cues: Sequence[Cue], config: GateConfig | None = None, *, n: int = 1):
        if goal not in GOALS:
            raise ValueError(f"goal must be one of {', '.join(GOALS)}; got {goal!r}")
        cues = list(cues)
        if not cues or not all(isinstance(c, Cue) for c in cues):
            raise ValueError("cues must be a non-empty sequence of Cue")
        if len({c.name for c in cues}) != len(cues):
            raise ValueError(f"cue names must differ, got {[c.name for c in cues]}")
        if goal == "order" and len(cues) < 2:
            raise ValueError("goal 'order' needs at least two cues")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        self.goal, self.cues, self.n = goal, cues, n
        self.config = config or GateConfig()
        self.backward = goal == "last"
        self.reset()

    def reset(self) -> None:
        """Forget everything read (the state returns to its start)."""
        self._states = {c.name: _CueState(confirm=c.confirm) for c in self.cues}
        self._confirming = any(c.confirm is not None for c in self.cues)
        self._order: list[str] = []
        self._best: list[tuple[float, int, Occurrence]] = []  # min-heap of (peak, tie, occ)
        self._tie = 0
        self._read = 0
        self._done = False
        self._last_t: float | None = None

    # ---- one step ------------------------------------------------------------------------
    def step(self, segment: SegmentLike) -> bool:
        """Read one segment (in reading order); O(number of cues) time, no growth in state.

        Returns:
            True while later segments can still change the answer; False once the exit gate is
            open (further calls do nothing and return False).

        Raises:
            ValueError: a segment out of reading order (time going backwards, or forwards for "last").
        """
        if self._done:
            return False
        t0, t1 = float(segment.t0), float(segment.t1)
        key = t1 if self.backward else t0
        if self._last_t is not None and (key > self._last_t + 1e-9 if self.backward else key < self._last_t - 1e-9):
            raise ValueError(f"segments must come in {'reverse ' if self.backward else ''}time order: "
                             f"{t0:g}-{t1:g} s after {self._last_t:g} s")
        self._last_t = key
        self._read += 1
        cfg = self.config
        for cue in self.cues:
            st = self._states[cue.name]
            score = cue.score(segment)
            z = cfg.gate(score, cue.threshold)
            st.trace = (1.0 - z) * st.trace + z * score
            if st.open is not None:  # a hole longer than join_gap ends the open occurrence
                gap = (st.open[0] - t1) if self.backward else (t0 - st.open[1])
                if gap > cfg.join_gap:
                    self._close(cue.name, st)
            if z >= 0.5:
                if st.open is None:
                    st.open = [t0, t1, score]
                else:
                    st.open[0], st.open[1] = min(st.open[0], t0), max(st.open[1], t1)
                    st.open[2] = max(st.open[2], score)
                if self.goal == "exists" and (z >= cfg.exists_gate if cue.confirm is None else score >= cue.confirm):
                    self._close(cue.name, st)
        self._done = self._exit_gate()
        return not self._done

    def _close(self, name: str, st: _CueState) -> None:
        t0, t1, peak = st.open
        occ = Occurrence(name, t0, t1, peak)
        st.open = None
        st.confirmed = st.confirmed or st.confirm is None or peak >= st.confirm
        st.count += 1
        st.seconds += t1 - t0
        if st.first is None:
            st.first = occ
            self._order.append(name)
        if st.count == self.n:
            st.nth = occ
        self._tie += 1
        item = (peak, -self._tie, occ)
        if len(self._best) < self.config.best:
            heapq.heappush(self._best, item)
        elif item > self._best[0]:
            heapq.heapreplace(self._best, item)

    def _exit_gate(self) -> bool:
        states = self._states.values()
        if self._confirming:  # a confirmed occurrence settles it; an open one may still grow
            settled = any(s.confirmed for s in states)
            if self.goal == "exists":
                return settled
            if self.goal in ("first", "last", "nth"):
                done = any(s.nth is not None for s in states) if self.goal == "nth" else True
                return settled and done and all(s.open is None for s in states)
        if self.goal in ("exists", "first", "last"):
            return any(s.first is not None for s in states)
        if self.goal == "nth":
            return any(s.nth is not None for s in states)
        if self.goal == "order":
            return all(s.first is not None for s in states)
        return False  # count, duration: every segment may still add

    # ---- a whole timeline ------------------------------------------------------------------
    def finish(self) -> GatedResult:
        """Close what is open and return the result (the timeline ended)."""
        for name, st in self._states.items():
            if st.open is not None:
                self._close(name, st)
        return self.result()

    def result(self) -> GatedResult:
        """The state as a result, without closing the open occurrence (a live stream goes on)."""
        states = self._states
        first_cue = self.cues[0].name
        return GatedResult(
            goal=self.goal, read=self._read, exited=self._done,
            count={k: s.count for k, s in states.items()}, seconds={k: s.seconds for k, s in states.items()},
            first={k: s.first for k, s in states.items() if s.first is not None},
            nth=states[first_cue].nth, order=list(self._order),
            best=[occ for _, _, occ in sorted(self._best, reverse=True)])

    def read(self, segments: Iterable[SegmentLike]) -> GatedResult:
        """Walk ``segments`` (any order; sorted here by start time, or newest end first for "last")
        until the exit gate opens, then return `finish()`."""
        if self.backward:  # newest end first: the order `step` checks when reading backwards
            ordered = sorted(segments, key=lambda s: (float(s.t1), float(s.t0)), reverse=True)
        else:
            ordered = sorted(segments, key=lambda s: (float(s.t0), float(s.t1)))
        self.reset()
        for seg in ordered:
            if not self.step(seg):
                break
        return self.finish()
