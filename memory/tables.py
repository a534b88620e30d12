"""Reads and writes of the store's SQLite tables: segments, vectors, spaces, progress.

Every function takes the open connection and runs inside whatever transaction the caller holds;
none commits. Segment queries use the alias ``s`` for the segment table, so the clause that
:func:`where_clause` builds fits each of them.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from memory.records import Hit, Segment
from memory.validation import SegmentRow, check_str

COLUMNS = "s.id, s.source, s.t0, s.t1, s.modality, s.kind, s.labels, s.text, s.meta"
"""The segment columns, in the order :func:`segment` reads them."""
_CHUNK = 500
"""Ids per ``IN (...)`` list: below SQLite's limit on bound parameters."""


def segment(r: tuple) -> Segment:
    """A :class:`Segment` from a row of :data:`COLUMNS`."""
    return Segment(id=r[0], source=r[1], t0=r[2], t1=r[3], modality=r[4], kind=r[5],
                   labels=json.loads(r[6]), text=r[7], meta=json.loads(r[8]))


def hit(seg: Segment, score: float) -> Hit:
    """``seg`` as a search hit with ``score``."""
    return Hit(id=seg.id, source=seg.source, t0=seg.t0, t1=seg.t1, modality=seg.modality, kind=seg.kind,
               labels=seg.labels, text=seg.text, meta=seg.meta, vectors=seg.vectors, score=score)


def where_clause(*, source: str | None = None, modality: str | None = None, kind: str | None = None,
                 t0: float | None = None, t1: float | None = None, longest: float | None = None) -> tuple[str, list]:
    """``" WHERE ..."`` over alias ``s`` for equality filters and a time-overlap window, and its arguments.

    ``longest``, the longest segment that can match, bounds the window's start too (``s.t0 >=
    t0 - longest``), so SQLite reads a range of its ``(source, t0)`` index, not every earlier row.
    Returns ``("", [])`` when no filter is given.

    Raises:
        ValueError: ``source``, ``modality`` or ``kind`` is given but not a non-empty str.
    """
    clauses, args = [], []
    for col, value in (("source", source), ("modality", modality), ("kind", kind)):
        if value is not None:
            clauses.append(f"s.{col} = ?")
            args.append(check_str(value, col))
    if t0 is not None:
        clauses.append("s.t1 >= ?")
        args.append(float(t0))
        if longest is not None:
            clauses.append("s.t0 >= ?")
            args.append(float(t0) - float(longest))
    if t1 is not None:
        clauses.append("s.t0 <= ?")
        args.append(float(t1))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _chunks(ids: Sequence[int]) -> Iterator[tuple[list[int], str]]:
    """``ids`` in slices, each with its ``?,?,...`` placeholder list."""
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        yield chunk, ",".join("?" * len(chunk))


# ---------------------------------------------------------------------- writes

def insert_segment(conn: sqlite3.Connection, row: SegmentRow) -> int:
    """Insert one segment row; return its new id (ids are never reused)."""
    cur = conn.execute("INSERT INTO segments (source, t0, t1, modality, kind, labels, text, meta)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    return int(cur.lastrowid)


def insert_space(conn: sqlite3.Connection, name: str, dim: int) -> None:
    """Record a new vector space and its dimension."""
    conn.execute("INSERT INTO spaces (name, dim) VALUES (?, ?)", (name, dim))


def insert_vector(conn: sqlite3.Connection, space: str, segment_id: int, vec: np.ndarray) -> None:
    """Store a segment's raw float32 vector in ``space``."""
    conn.execute("INSERT INTO vectors (space, segment_id, vec) VALUES (?, ?, ?)", (space, segment_id, vec.tobytes()))


def delete_source(conn: sqlite3.Connection, source: str) -> list[int]:
    """Delete every segment of ``source``, its vectors and its progress; return the deleted ids."""
    ids = [r[0] for r in conn.execute("SELECT id FROM segments WHERE source = ?", (source,))]
    for chunk, marks in _chunks(ids):
        conn.execute(f"DELETE FROM vectors WHERE segment_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM segments WHERE id IN ({marks})", chunk)
    conn.execute("DELETE FROM progress WHERE source = ?", (source,))
    return ids


def set_progress(conn: sqlite3.Connection, source: str, data: str) -> None:
    """Replace the progress record (JSON text) of ``source``."""
    conn.execute("INSERT OR REPLACE INTO progress (source, data) VALUES (?, ?)", (source, data))


# ---------------------------------------------------------------------- reads

def get_progress(conn: sqlite3.Connection, source: str) -> dict[str, Any] | None:
    """The progress record of ``source``, or None."""
    row = conn.execute("SELECT data FROM progress WHERE source = ?", (source,)).fetchone()
    return None if row is None else json.loads(row[0])


def spaces(conn: sqlite3.Connection) -> dict[str, int]:
    """Vector space name -> dimension."""
    return {name: dim for name, dim in conn.execute("SELECT name, dim FROM spaces")}


def count(conn: sqlite3.Connection) -> int:
    """Number of segments."""
    return int(conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0])


def sources(conn: sqlite3.Connection) -> list[str]:
    """Source ids that have segments, sorted."""
    return [r[0] for r in conn.execute("SELECT DISTINCT source FROM segments ORDER BY source")]


def modalities(conn: sqlite3.Connection, source: str | None) -> set[str]:
    """The modalities the segments (of ``source``) hold."""
    where, args = where_clause(source=source)
    return {r[0] for r in conn.execute(f"SELECT DISTINCT s.modality FROM segments s{where}", args)}


def fetch(conn: sqlite3.Connection, ids: Sequence[int], *, vectors: bool = False,
          spaces: Sequence[str] | None = None) -> dict[int, Segment]:
    """Segments by id (missing ids are left out), with their raw vectors when asked (only those
    of ``spaces`` when given)."""
    out: dict[int, Segment] = {}
    only = "" if spaces is None else f" AND space IN ({','.join('?' * len(spaces))})"
    for chunk, marks in _chunks(ids):
        for r in conn.execute(f"SELECT {COLUMNS} FROM segments s WHERE s.id IN ({marks})", chunk):
            out[r[0]] = segment(r)
        if vectors and (spaces is None or spaces):
            for seg_id, space, blob in conn.execute(
                    f"SELECT segment_id, space, vec FROM vectors WHERE segment_id IN ({marks}){only}",
                    [*chunk, *(spaces or ())]):
                out[seg_id].vectors[space] = np.frombuffer(blob, dtype=np.float32).copy()
    return out


def select(conn: sqlite3.Connection, where: str, args: list) -> list[Segment]:
    """Segments passing a :func:`where_clause`, in time order."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM segments s{where} ORDER BY s.t0, s.id", args)
    return [segment(r) for r in rows]


def ids_with_vector(conn: sqlite3.Connection, space: str, where: str, args: list) -> np.ndarray:
    """Ids of segments passing a :func:`where_clause` that have a vector in ``space``."""
    extra = where.replace(" WHERE", " AND", 1)
    rows = conn.execute(f"SELECT s.id FROM segments s JOIN vectors v ON v.segment_id = s.id AND v.space = ?{extra}",
                        [space, *args])
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def longest(conn: sqlite3.Connection, source: str | None) -> float:
    """The longest segment's length in seconds (of ``source``, or of every source), 0 when none."""
    where, args = where_clause(source=source)
    row = conn.execute(f"SELECT MAX(s.t1 - s.t0) FROM segments s{where}", args).fetchone()
    return float(row[0] or 0.0)


def label_rows(conn: sqlite3.Connection, source: str | None) -> Iterator[tuple[int, str]]:
    """(id, labels JSON) of every segment (of ``source``)."""
    where, args = where_clause(source=source)
    yield from conn.execute(f"SELECT s.id, s.labels FROM segments s{where}", args)


def vector_ids(conn: sqlite3.Connection, space: str) -> np.ndarray:
    """Sorted ids of the segments with a vector in ``space``."""
    rows = conn.execute("SELECT segment_id FROM vectors WHERE space = ? ORDER BY segment_id", (space,))
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def vector_batches(conn: sqlite3.Connection, space: str, size: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (ids, vectors) of ``space`` in id order, ``size`` rows at a time: [n] int64, [n, dim] float32."""
    ids: list[int] = []
    vecs: list[np.ndarray] = []
    rows = conn.execute("SELECT segment_id, vec FROM vectors WHERE space = ? ORDER BY segment_id", (space,))
    for seg_id, blob in rows:
        ids.append(seg_id)
        vecs.append(np.frombuffer(blob, dtype=np.float32))
        if len(ids) >= size:
            yield np.asarray(ids, dtype=np.int64), np.stack(vecs)
            ids, vecs = [], []
    if ids:
        yield np.asarray(ids, dtype=np.int64), np.stack(vecs)


def text_rows(conn: sqlite3.Connection, words: list[str], where: str,
              args: list) -> Iterator[tuple[int, float, str, str]]:
    """(id, t0, text, labels JSON) of the segments passing a :func:`where_clause` whose text or
    labels JSON, case-folded, hold one of ``words`` (case-folded already) as a substring."""
    holds = " OR ".join(["instr(casefold(s.text || char(10) || s.labels), ?) > 0"] * len(words))
    extra = f"{where} AND ({holds})" if where else f" WHERE {holds}"
    yield from conn.execute(f"SELECT s.id, s.t0, s.text, s.labels FROM segments s{extra}", [*args, *words])
