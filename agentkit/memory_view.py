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
    """`MemoryReader` over an episodic store (records cached per source for one question).

    Besides the full read (`records`), it reads a source in parts for the gated recall path
    (`TimelineReader`: `size`, `extent`, `probe`, `between`) and counts the distinct segments it
    has read from the store (`segments_read`)."""

    def __init__(self, store: Any):
        self._store = store
        self._records: dict[str | None, list[Record]] = {}
        self._read: set[int] = set()
        self._seen: dict[int, Record] = {}
        self._sampled: dict[str, list[Record]] = {}

    @property
    def segments_read(self) -> int:
        """Distinct segments this reader has read from the store so far."""
        return len(self._read)

    def records(self, source: str | None = None) -> list[Record]:
        if source not in self._records:
            segs = self._store.segments(source=source)
            self._records[source] = sorted((_record(s) for s in segs), key=lambda r: (r.source, r.t0))
            self._read.update(r.id for r in self._records[source])
        return self._records[source]

    # ---- reading one source in parts (the gated recall path) ---------------------------------
    def size(self, source: str) -> int | None:
        """Segments of ``source``, from cheap store queries (no segment is read); None when unknown.

        Exact when the store holds only ``source``; otherwise estimated in `probe`'s sample."""
        if source in self._records:
            return len(self._records[source])
        if self._store.sources() == [source]:
            return len(self._store)
        return None

    def extent(self, source: str) -> tuple[float, float] | None:
        """(0, seconds stored) of ``source`` from its indexing progress; None when it has none."""
        p = self._store.get_progress(source)
        until = float((p or {}).get("until") or 0.0)
        return (0.0, until) if until > 0 else None

    def probe(self, source: str, times: Sequence[float], space: str) -> list[tuple[Record, np.ndarray | None]]:
        """The segments of ``source`` that cover each of ``times`` (a strided sample), with their
        vectors in ``space``, in time order."""
        ids: list[int] = []
        for t in times:
            ids += [int(s.id) for s in self._store.segments(source=source, t0=float(t), t1=float(t))]
        pairs = self._with_vectors(list(dict.fromkeys(ids)), space)
        self._sampled[source] = [r for r, _ in pairs]
        return pairs

    def stride(self, source: str, k: int, space: str) -> tuple[list[tuple[Record, np.ndarray | None]], int] | None:
        """Every (n/k)-th segment of ``source`` by id, with its vectors in ``space``, and n.

        A source is indexed in time order, so its ids run from its first segment's to its last's:
        striding over them samples segments evenly (each segment, long or short, as likely as the
        full scan weighs it). None when the ids in that range are not all this source's (another
        source was written in between): then `probe` samples by time instead."""
        extent = self.extent(source)
        if extent is None:
            return None
        ends = [self._store.segments(source=source, t0=t, t1=t) for t in extent]
        if not ends[0] or not ends[1]:
            return None
        lo, hi = min(int(s.id) for s in ends[0]), max(int(s.id) for s in ends[1])
        n = hi - lo + 1
        known = self.size(source)
        if n < 1 or (known is not None and known != n):
            return None
        k = max(1, min(int(k), n))
        ids = list(dict.fromkeys(lo + int((i + 0.5) * n / k) for i in range(k)))
        try:
            pairs = self._with_vectors(ids, space)
        except KeyError:
            return None
        if any(r.source != source for r, _ in pairs):
            return None
        self._sampled[source] = [r for r, _ in pairs]
        return pairs, n

    def similar(self, source: str, space: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every segment of ``source``: its id and similarity to each of ``queries`` in ``space``
        (one pass over the vector index; no segment is read)."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if space not in self._store.spaces:
            return np.zeros(0, np.int64), np.zeros((0, q.shape[0]), np.float32)
        return self._store.similarities(space, q, source=source)

    def read(self, ids: Sequence[int], space: str) -> list[tuple[Record, np.ndarray | None]]:
        """The segments ``ids`` with their vectors in ``space``, in time order."""
        return self._with_vectors([int(i) for i in ids], space)

    def labelled(self, source: str, names: Sequence[str], space: str, min_score: float = 0.0,
                 limit: int | None = None) -> list[tuple[Record, np.ndarray | None]]:
        """The segments of ``source`` whose label names hold one of ``names`` (case-insensitive
        substrings, so "cat" also finds "cats") with ``min_score`` or more together (the ``limit``
        best when given), with their vectors in ``space``, in time order.

        The store's label-name index answers it: only the segments it returns are read."""
        ids = self._store.labelled(names, source=source, min_score=min_score, limit=limit)
        return self._with_vectors(ids, space)

    def _with_vectors(self, ids: list[int], space: str) -> list[tuple[Record, np.ndarray | None]]:
        if not ids:
            return []
        segs = self._store.get(ids, vectors=True, spaces=[space])
        out = []
        for seg in segs:
            record = _record(seg)
            self._read.add(record.id)
            self._seen[record.id] = record
            vec = (seg.vectors or {}).get(space)
            out.append((record, None if vec is None else np.asarray(vec, dtype=np.float32)))
        out.sort(key=lambda p: (p[0].t0, p[0].t1))
        return out

    def seen(self, source: str) -> list[Record]:
        """Every record of ``source`` read so far (by any path), in time order."""
        if source in self._records:
            return self._records[source]
        return sorted((r for r in self._seen.values() if r.source == source), key=lambda r: r.t0)

    def sampled(self, source: str) -> list[Record]:
        """The strided sample `probe` read of ``source`` (empty when none)."""
        return list(self._sampled.get(source, []))

    def has_eeg(self, source: str | None = None) -> bool:
        """Whether ``source`` (or any source) holds EEG records, without reading the video ones."""
        from agentkit.eeg.ask import eeg_records

        if source in self._records:
            return bool(eeg_records(self._records[source]))
        if "eeg" not in self._store.modalities(source):  # a question about video pays no scan
            return False
        return bool(eeg_records([_record(s) for s in self._store.segments(source=source, modality="eeg")]))

    def similarity(self, space: str, vector: np.ndarray, source: str | None = None) -> dict[int, float]:
        n = len(self.records(source))
        if n == 0 or space not in self._store.spaces:  # e.g. an EEG-only store has no "concept"
            return {}
        hits = self._store.search(space, np.asarray(vector, dtype=np.float32), k=n, source=source)
        return {int(h.id): float(h.score) for h in hits}

    def sources(self) -> list[str]:
        if None in self._records:
            return sorted({r.source for r in self._records[None]})
        return sorted(self._store.sources())


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
