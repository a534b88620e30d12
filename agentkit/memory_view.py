"""The one place agentkit touches `memory.EpisodicStore`: writes with progress, reads as records."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agentkit.controller.evidence import Record
from agentkit.schemas import Coverage

__all__ = ["MemoryView", "StoreReader"]

logger = logging.getLogger(__name__)

_RUNNING_WINDOW = 120.0
"""An unfinished source whose progress moved within this many seconds is still being indexed."""


def _record(seg: Any) -> Record:
    return Record(
        id=int(seg.id), source=str(seg.source), t0=float(seg.t0), t1=float(seg.t1),
        labels=dict(seg.labels or {}), text=str(seg.text or ""), meta=dict(getattr(seg, "meta", None) or {}),
    )


class StoreReader:
    """`MemoryReader` over an episodic store (records cached per source for one question)."""

    def __init__(self, store: Any):
        self._store = store
        self._records: dict[str | None, list[Record]] = {}

    def records(self, source: str | None = None) -> list[Record]:
        if source not in self._records:
            segs = self._store.segments(source=source)
            self._records[source] = sorted((_record(s) for s in segs), key=lambda r: (r.source, r.t0))
        return self._records[source]

    def similarity(self, space: str, vector: np.ndarray, source: str | None = None) -> dict[int, float]:
        n = len(self.records(source))
        if n == 0 or space not in self._store.spaces:  # e.g. an EEG-only store has no "concept"
            return {}
        hits = self._store.search(space, np.asarray(vector, dtype=np.float32), k=n, source=source)
        return {int(h.id): float(h.score) for h in hits}

    def sources(self) -> list[str]:
        return sorted({r.source for r in self.records(None)})


class MemoryView:
    """Progress-aware writes and controller reads over one store folder."""

    def __init__(self, store: Any):
        self.store = store

    @classmethod
    def open(cls, folder: str | Path, *, create: bool = True, read_only: bool = False) -> "MemoryView":
        """Open (or create) the store in ``folder``.

        Raises:
            memory.errors.StoreError: Not a store, corrupt, or locked by another writer.
        """
        from memory.store import EpisodicStore

        return cls(EpisodicStore.open(Path(folder), create=create, read_only=read_only))

    def progress(self, source: str) -> tuple[float, bool]:
        """(seconds stored, whether the source is complete)."""
        p = self.store.get_progress(source)
        if p is None:
            return 0.0, False
        return float(p.get("until", 0.0)), bool(p.get("done", False))

    def coverage(self, source: str) -> Coverage | None:
        """What memory has seen of ``source`` (metamemory), or None for an unknown source."""
        p = self.store.get_progress(source)
        if p is None:
            return None
        until, done = float(p.get("until", 0.0)), bool(p.get("done", False))
        duration = p.get("duration")
        recent = time.time() - float(p.get("updated", 0.0)) < _RUNNING_WINDOW
        return Coverage(source=source, seen=[(0.0, until)] if until > 0 else [], complete=done,
                        duration=float(duration) if isinstance(duration, (int, float)) and duration > 0 else (until if done else None),
                        indexing=not done and recent)

    def start(self, source: str, duration: float | None) -> None:
        """Note the length of ``source`` before indexing it, so partial answers can say "of 12:19"."""
        p = dict(self.store.get_progress(source) or {})
        if duration and duration > 0 and p.get("duration") != duration:
            p.setdefault("until", 0.0)
            p.setdefault("done", False)
            self.store.set_progress(source, **{**p, "duration": float(duration), "updated": time.time()})

    def write_chunk(self, source: str, observations: Sequence[Any]) -> float:
        """Append observations and the progress up to the last one's end, in one transaction.

        Both commit or neither does, so resuming from `progress` never duplicates a record.
        """
        until = max(float(o.t1) for o in observations)
        with self.store.transaction():
            self.store.add(observations)
            self.store.set_progress(source, **self._length(source), until=until, done=False, updated=time.time())
        return until

    def mark_done(self, source: str, until: float, *, path: str = "") -> None:
        """Record that ``source`` is completely indexed."""
        self.store.set_progress(source, **self._length(source), until=until, done=True, path=path, updated=time.time())

    def _length(self, source: str) -> dict[str, Any]:
        """The recorded duration of ``source`` (set by `start`), to carry into the next progress record."""
        p = self.store.get_progress(source) or {}
        return {"duration": p["duration"]} if "duration" in p else {}

    def count(self, source: str | None = None) -> int:
        """Number of records of ``source`` (or of all sources)."""
        return len(self.store.segments(source=source))

    def reader(self) -> StoreReader:
        """A fresh reader for one question."""
        return StoreReader(self.store)

    def close(self) -> None:
        """Close the store."""
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
