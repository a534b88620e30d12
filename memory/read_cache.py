"""What the store learns once per open to keep long-store reads from scanning every segment.

A question about a 100 h source must not pay for every segment each time it asks the store
something. These facts are read from SQLite once and forgotten on any write:

* how many segments the store holds, which sources, and which modalities each holds;
* each source's segment ids with a vector in a space, so a vector search restricted to the source
  hands faiss a ready id list instead of joining two tables;
* each source's longest segment, so a time window becomes a bounded range on the
  ``(source, t0)`` index (``t0`` between ``start - longest`` and ``end``) instead of every
  segment that starts before ``end``;
* each source's label names with their segment ids and scores (an inverted index), so "which
  segments are labelled zebra" reads only those segments.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from memory import tables

__all__ = ["ReadCache"]


class ReadCache:
    """Per-source facts read once from SQLite; `clear` after every write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], np.ndarray] = {}
        self._longest: dict[str | None, float] = {}
        self._labels: dict[str | None, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        self._totals: dict[str, Any] = {}

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()
            self._longest.clear()
            self._labels.clear()
            self._totals.clear()

    def count(self, conn: sqlite3.Connection) -> int:
        """Segments in the store."""
        if "count" not in self._totals:
            self._totals["count"] = tables.count(conn)
        return self._totals["count"]

    def modalities(self, conn: sqlite3.Connection, source: str | None) -> set[str]:
        """The modalities ``source`` (every source when None) holds."""
        key = f"modalities:{source}"
        if key not in self._totals:
            self._totals[key] = tables.modalities(conn, source)
        return set(self._totals[key])

    def sources(self, conn: sqlite3.Connection) -> list[str]:
        """Source ids that have segments, sorted."""
        if "sources" not in self._totals:
            self._totals["sources"] = tables.sources(conn)
        return list(self._totals["sources"])

    def ids_with_vector(self, conn: sqlite3.Connection, space: str, source: str) -> np.ndarray:
        """Ids of ``source``'s segments that have a vector in ``space``."""
        key = (space, source)
        found = self._ids.get(key)
        if found is None:
            where, args = tables.where_clause(source=source)
            found = tables.ids_with_vector(conn, space, where, args)
            with self._lock:
                self._ids[key] = found
        return found

    def longest(self, conn: sqlite3.Connection, source: str | None) -> float:
        """The longest segment of ``source`` (of the whole store when None), in seconds."""
        found = self._longest.get(source)
        if found is None:
            found = tables.longest(conn, source)
            with self._lock:
                self._longest[source] = found
        return found

    def labelled(self, conn: sqlite3.Connection, source: str | None, names: Sequence[str],
                 min_score: float = 0.0, limit: int | None = None) -> list[int]:
        """Ids (sorted) of the segments whose label names holding one of ``names`` (case ignored)
        score ``min_score`` or more together; only the ``limit`` best scoring when given."""
        index = self._labels.get(source)
        if index is None:
            postings: dict[str, tuple[list[int], list[float]]] = {}
            for seg_id, labels_json in tables.label_rows(conn, source):
                for name, value in json.loads(labels_json).items():
                    ids, scores = postings.setdefault(name.casefold(), ([], []))
                    ids.append(seg_id)
                    scores.append(float(value))
            index = {name: (np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64))
                     for name, (ids, scores) in postings.items()}
            with self._lock:
                self._labels[source] = index
        wanted = [n.strip().casefold() for n in names if n and n.strip()]
        hits = [posting for name, posting in index.items() if any(w in name for w in wanted)]
        if not hits:
            return []
        ids = np.concatenate([i for i, _ in hits])
        scores = np.concatenate([np.maximum(v, 0.0) for _, v in hits])
        unique, where = np.unique(ids, return_inverse=True)
        total = np.bincount(where, weights=scores, minlength=unique.size)
        keep = np.flatnonzero(total >= min_score) if min_score > 0 else np.arange(unique.size)
        if limit is not None and keep.size > limit:
            keep = np.sort(keep[np.argsort(-total[keep], kind="stable")[:max(int(limit), 0)]])
        return unique[keep].tolist()
