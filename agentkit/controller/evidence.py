"""What the controller reads from memory and what it hands back: records, hits, merged spans.

The controller is modality-agnostic: it sees memory records with a time span, labels, text and a
similarity per vector space, whether they came from video frames, EEG windows or anything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Record", "MemoryReader", "TimelineReader", "Hit", "Span", "merge_hits"]


@dataclass(frozen=True)
class Record:
    """One stored segment as the controller sees it."""

    id: int
    source: str
    t0: float
    t1: float
    labels: dict[str, float] = field(default_factory=dict)
    text: str = ""
    """On-screen text or annotations. Untrusted data."""
    meta: dict[str, Any] = field(default_factory=dict)

    def top_labels(self, k: int = 3) -> list[str]:
        """The ``k`` best-scored label names, best first."""
        return [name for name, _ in sorted(self.labels.items(), key=lambda kv: -kv[1])[:k]]


@runtime_checkable
class MemoryReader(Protocol):
    """The two reads the controller needs; `agentkit.memory_view.StoreReader` adapts the store."""

    def records(self, source: str | None = None) -> list[Record]:
        """All records (of one source, or all), ordered by source then start time."""

    def similarity(self, space: str, vector: np.ndarray, source: str | None = None) -> dict[int, float]:
        """Cosine similarity of ``vector`` to every record that has a vector in ``space``."""

    def sources(self) -> list[str]:
        """Source ids held in memory."""


@runtime_checkable
class TimelineReader(Protocol):
    """A `MemoryReader` that can also read one source in parts, for recall that stops early
    (`agentkit.controller.gated_recall`); `agentkit.memory_view.StoreReader` is one."""

    segments_read: int
    """Distinct segments read from memory so far."""

    def size(self, source: str) -> int | None:
        """How many segments ``source`` holds, without reading them; None when unknown."""

    def extent(self, source: str) -> tuple[float, float] | None:
        """The time span ``source`` covers, without reading its segments; None when unknown."""

    def probe(self, source: str, times: Sequence[float], space: str) -> list[tuple[Record, np.ndarray | None]]:
        """The segments covering each of ``times``, with their vectors in ``space``, in time order."""

    def stride(self, source: str, k: int, space: str) -> tuple[list[tuple[Record, np.ndarray | None]], int] | None:
        """About ``k`` segments spread evenly over ``source``'s segments, with their vectors, and
        how many it holds; None when it cannot sample that way (`probe` samples by time)."""

    def labelled(self, source: str, names: Sequence[str], space: str, min_score: float = 0.0,
                 limit: int | None = None) -> list[tuple[Record, np.ndarray | None]]:
        """Every segment whose label names holding one of ``names`` score ``min_score`` or more
        together, the ``limit`` best when given (a store query: only those are read)."""

    def similar(self, source: str, space: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's id and similarity to each query (one index pass: nothing is read)."""

    def read(self, ids: Sequence[int], space: str) -> list[tuple[Record, np.ndarray | None]]:
        """The segments ``ids``, with their vectors in ``space``, in time order."""

    def seen(self, source: str) -> list[Record]:
        """Every record of ``source`` read so far, in time order."""

    def sampled(self, source: str) -> list[Record]:
        """The strided sample `probe` read of ``source``."""


@dataclass
class Hit:
    """A record that matched a cue, with how well and why."""

    record: Record
    score: float
    """Match strength in [0, 1] for this cue (see docs/confidence.md)."""
    why: str
    cue: str


@dataclass
class Span:
    """Adjacent hits of one source merged into one time span."""

    source: str
    t0: float
    t1: float
    score: float
    """The best hit's score."""
    hits: list[Hit]

    @property
    def best(self) -> Hit:
        """The strongest hit in the span."""
        return max(self.hits, key=lambda h: h.score)

    def overlaps(self, other: "Span", slack: float = 0.0) -> bool:
        """True when both spans share a source and overlap (with ``slack`` seconds of tolerance)."""
        return self.source == other.source and self.t0 <= other.t1 + slack and other.t0 <= self.t1 + slack


def merge_hits(hits: list[Hit], gap: float = 1.0) -> list[Span]:
    """Merge hits whose records touch or are at most ``gap`` seconds apart; best span first."""
    spans: list[Span] = []
    for hit in sorted(hits, key=lambda h: (h.record.source, h.record.t0)):
        r = hit.record
        last = spans[-1] if spans else None
        if last is not None and last.source == r.source and r.t0 <= last.t1 + gap:
            last.t1 = max(last.t1, r.t1)
            last.score = max(last.score, hit.score)
            last.hits.append(hit)
        else:
            spans.append(Span(r.source, r.t0, r.t1, hit.score, [hit]))
    spans.sort(key=lambda s: (-s.score, s.source, s.t0))
    return spans
