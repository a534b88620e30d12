"""The episodic store: timed segments in SQLite, one faiss index per vector space, in a folder.

Layout of a store folder::

    store.json        format name, schema version, vector spaces and their dimensions
    segments.sqlite   the source of truth: segments, their vectors (float32 blobs), full-text
                      index, per-source indexing progress
    <space>.faiss     one exact inner-product index per vector space ("visual", "concept", ...)

SQLite is committed on every ``add`` (or once per ``transaction()``). faiss files are written
on ``flush()``/``close()`` only, atomically; an index file that is missing, unreadable or holds
other ids than SQLite (a crash between commit and flush) is rebuilt from SQLite on open. So a
crash loses at most the ``add`` in flight, and resuming from ``get_progress`` never duplicates.
Every file is a safe format (JSON, SQLite, faiss): nothing is ever pickled.

Example:
    ```python
    with EpisodicStore.open("store/") as store:
        with store.transaction():               # segments and progress commit together
            ids = store.add(observations)
            store.set_progress("clip-sha", t1=observations[-1].t1)
        hits = store.search("concept", query_vector, k=5, source="clip-sha")
    ```
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memory.atomic import write_bytes_atomic
from memory.errors import StoreError
from memory.records import Hit, ObservationLike, Segment
from memory.vector_index import VectorIndex

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Version of the folder layout and tables; a store written by a newer version is refused."""
FORMAT = "agentkit.memory.episodic"
META_FILE = "store.json"
DB_FILE = "segments.sqlite"
LOCK_FILE = ".writer.lock"
_SPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_WORD = re.compile(r"\w+")

_SCHEMA = """
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, t0 REAL NOT NULL, t1 REAL NOT NULL,
    modality TEXT NOT NULL, kind TEXT NOT NULL,
    labels TEXT NOT NULL, text TEXT NOT NULL, meta TEXT NOT NULL
);
CREATE INDEX segments_source_t0 ON segments (source, t0);
CREATE INDEX segments_t0 ON segments (t0);
CREATE TABLE vectors (
    space TEXT NOT NULL, segment_id INTEGER NOT NULL REFERENCES segments (id), vec BLOB NOT NULL,
    PRIMARY KEY (space, segment_id)
) WITHOUT ROWID;
CREATE TABLE spaces (name TEXT PRIMARY KEY, dim INTEGER NOT NULL);
CREATE TABLE progress (source TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE VIRTUAL TABLE segments_fts USING fts5 (text, labels, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO info (key, value) VALUES ('schema_version', '%d');
""" % SCHEMA_VERSION


def _sql_errors(method):
    """Report SQLite failures while reading (a store damaged after it was opened) as StoreError."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            raise StoreError(self.path, f"{DB_FILE} cannot be read ({err})") from err

    return wrapper


class EpisodicStore:
    """Persisted timed segments with vector, text and time recall. Open with :meth:`open`.

    One store holds many sources (videos, EEG recordings), each addressed by its source id.
    One process writes a store at a time (a lock file enforces it); readers may open it with
    ``read_only=True`` meanwhile. Methods are safe to call from several threads.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool, lock_fh):
        self.path = path
        self.read_only = read_only
        self._conn = conn
        self._lock_fh = lock_fh
        self._mutex = threading.RLock()
        self._tx_depth = 0
        self._pending: list[tuple[str, list[int], list[np.ndarray]]] = []
        self._pending_dims: dict[str, int] = {}
        self._pending_removals: list[int] = []
        self._dims: dict[str, int] = {name: dim for name, dim in conn.execute("SELECT name, dim FROM spaces")}
        self._indexes: dict[str, VectorIndex] = {}
        self._meta_dirty = False
        self._closed = False

    # ------------------------------------------------------------------ opening and closing

    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True, *, read_only: bool = False) -> EpisodicStore:
        """Open the store in folder ``path``, creating it when asked.

        Args:
            path: The store folder.
            create: Create an empty store when ``path`` does not exist or is an empty folder.
            read_only: Open without writing anything (several readers may share a store).
                A folder the process cannot write to is opened read-only too.

        Returns:
            The open store; use it as a context manager or call :meth:`close`.

        Raises:
            StoreError: The path is a file, not a store, missing (with ``create=False``),
                corrupt, written by a newer schema, or locked by another writer.
        """
        path = Path(path).expanduser()
        if path.exists() and not path.is_dir():
            raise StoreError(path, "is a file, not a store folder")
        if not path.exists():
            if not create or read_only:
                raise StoreError(path, "no store here (the folder does not exist)")
            try:
                path.mkdir(parents=True)
            except OSError as err:
                raise StoreError(path, f"cannot create the store folder ({err.strerror})") from err
        if not read_only and not os.access(path, os.W_OK):
            logger.warning("%s is not writable: opening the store read-only", path)
            read_only = True
        meta_path = path / META_FILE
        try:
            if not meta_path.exists():
                if any(p for p in path.iterdir() if not p.name.startswith(".")):
                    raise StoreError(path, f"not an episodic store (no {META_FILE}) and not empty")
                if not create or read_only:
                    raise StoreError(path, f"not an episodic store (no {META_FILE})")
                write_bytes_atomic(meta_path, _meta_json({}))
        except OSError as err:
            raise StoreError(path, f"cannot read or initialise the folder ({err.strerror or err})") from err
        meta = _read_meta(meta_path)
        lock_fh = None if read_only else _acquire_writer_lock(path)
        try:
            conn = _connect(path, read_only=read_only, has_faiss=any(path.glob("*.faiss")))
            store = cls(path, conn, read_only=read_only, lock_fh=lock_fh)
            if meta.get("spaces") != store._dims:
                store._meta_dirty = True
            store._load_indexes()
            if not read_only:
                store.flush()
        except BaseException:
            if lock_fh is not None:
                lock_fh.close()
            raise
        return store

    def close(self) -> None:
        """Flush and close; calling it again does nothing."""
        if self._closed:
            return
        with self._mutex:
            try:
                if not self.read_only:
                    self.flush()
            finally:
                self._closed = True
                self._conn.close()
                if self._lock_fh is not None:
                    self._lock_fh.close()

    def __enter__(self) -> EpisodicStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self)} segments"
        return f"EpisodicStore({str(self.path)!r}, {state})"

    @_sql_errors
    def __len__(self) -> int:
        self._check_open()
        return int(self._conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0])

    @property
    def spaces(self) -> dict[str, int]:
        """Vector space name -> dimension, as learnt from the first add of each."""
        return dict(self._dims)

    def flush(self) -> None:
        """Write changed faiss indexes and ``store.json`` atomically (SQLite is already committed)."""
        self._check_open()
        if self.read_only:
            return
        with self._mutex:
            try:
                for name, index in self._indexes.items():
                    if index.dirty:
                        index.save(self.path / f"{name}.faiss")
                if self._meta_dirty:
                    write_bytes_atomic(self.path / META_FILE, _meta_json(self._dims))
                    self._meta_dirty = False
            except OSError as err:
                raise StoreError(self.path, f"cannot write index files ({err.strerror or err}); "
                                 "segments are safe in SQLite and indexes rebuild on open") from err

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[EpisodicStore]:
        """Group adds and progress updates into one commit: all of them are stored or none.

        Nested calls join the outermost transaction.
        """
        self._check_writable()
        with self._mutex:
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield self
                finally:
                    self._tx_depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError(self.path, f"cannot start a write ({err})") from err
            self._tx_depth = 1
            try:
                yield self
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                self._pending.clear()
                self._pending_dims.clear()
                self._pending_removals.clear()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(self.path, f"write failed, nothing from it was stored ({exc})") from exc
                raise
            finally:
                self._tx_depth = 0
            self._apply_pending()

    def add(self, observations: Iterable[ObservationLike]) -> list[int]:
        """Append observations as segments, in one commit.

        Args:
            observations: Objects with ``source, t0, t1, modality, kind, vectors, labels,
                text, meta`` (see :class:`ObservationLike`). Each ``vectors`` entry is a 1-D
                float array in a named space; a space's dimension is fixed by its first add.

        Returns:
            The new segment ids, in input order.

        Raises:
            StoreError: A vector's dimension differs from its space's (nothing is written),
                the store is read-only or closed, or the write fails.
            TypeError, ValueError: An observation lacks an attribute or holds a bad value.
        """
        self._check_writable()
        rows = [self._validate(i, obs) for i, obs in enumerate(observations)]
        if not rows:
            return []
        with self._mutex, self.transaction():
            dims = {**self._dims, **self._pending_dims}
            for i, (_, vectors) in enumerate(rows):  # before any insert: all or nothing
                for space, vec in vectors.items():
                    expected = dims.setdefault(space, vec.shape[0])
                    if vec.shape[0] != expected:
                        raise StoreError(self.path, f"space {space!r} has dim {expected}, but observations[{i}] "
                                                    f"gives dim {vec.shape[0]}; nothing was added")
            ids = []
            for row, vectors in rows:
                cur = self._conn.execute(
                    "INSERT INTO segments (source, t0, t1, modality, kind, labels, text, meta)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                seg_id = int(cur.lastrowid)
                ids.append(seg_id)
                labels = " ".join(json.loads(row[5]))
                self._conn.execute("INSERT INTO segments_fts (rowid, text, labels) VALUES (?, ?, ?)",
                                   (seg_id, row[6], labels))
                for space, vec in vectors.items():
                    if space not in self._dims and space not in self._pending_dims:
                        self._conn.execute("INSERT INTO spaces (name, dim) VALUES (?, ?)", (space, vec.shape[0]))
                        self._pending_dims[space] = vec.shape[0]
                    self._conn.execute("INSERT INTO vectors (space, segment_id, vec) VALUES (?, ?, ?)",
                                       (space, seg_id, vec.tobytes()))
                    self._pending.append((space, [seg_id], [vec]))
        return ids

    def set_progress(self, source: str, **values: Any) -> None:
        """Record how far indexing of ``source`` got (replaces the previous record).

        Call it inside the same :meth:`transaction` as the ``add`` it covers, so that a crash
        keeps both or neither; resume from the values :meth:`get_progress` returns.

        Args:
            source: Source id.
            **values: JSON-able values, e.g. ``t1=42.0, recipe="..."``.
        """
        self._check_writable()
        _check_str(source, "source")
        data = _dumps(values, "values")
        with self._mutex, self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO progress (source, data) VALUES (?, ?)", (source, data))

    def remove_source(self, source: str) -> int:
        """Delete every segment of ``source`` and its progress (e.g. to re-index with a new recipe).

        Returns:
            How many segments were removed. Ids are never reused.
        """
        self._check_writable()
        _check_str(source, "source")
        with self._mutex, self.transaction():
            ids = [r[0] for r in self._conn.execute("SELECT id FROM segments WHERE source = ?", (source,))]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                self._conn.execute(f"DELETE FROM vectors WHERE segment_id IN ({marks})", chunk)
                self._conn.execute(f"DELETE FROM segments_fts WHERE rowid IN ({marks})", chunk)
                self._conn.execute(f"DELETE FROM segments WHERE id IN ({marks})", chunk)
            self._conn.execute("DELETE FROM progress WHERE source = ?", (source,))
            self._pending_removals.extend(ids)
        return len(ids)

    # ------------------------------------------------------------------ reading

    @_sql_errors
    def get_progress(self, source: str) -> dict[str, Any] | None:
        """The values last given to :meth:`set_progress` for ``source``, or None."""
        self._check_open()
        row = self._conn.execute("SELECT data FROM progress WHERE source = ?", (source,)).fetchone()
        return None if row is None else json.loads(row[0])

    @_sql_errors
    def sources(self) -> list[str]:
        """Source ids that have segments, sorted."""
        self._check_open()
        return [r[0] for r in self._conn.execute("SELECT DISTINCT source FROM segments ORDER BY source")]

    @_sql_errors
    def get(self, ids: Sequence[int], *, vectors: bool = False) -> list[Segment]:
        """Segments by id, in the order given.

        Args:
            ids: Segment ids.
            vectors: Also read each segment's raw vectors.

        Raises:
            KeyError: Some ids are not in the store (named in the message).
        """
        self._check_open()
        ids = [int(i) for i in ids]
        found = self._fetch(ids, vectors=vectors)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"{self.path}: no segments with ids {missing[:10]}")
        return [found[i] for i in ids]

    @_sql_errors
    def segments(self, source: str | None = None, t0: float | None = None, t1: float | None = None,
                 *, modality: str | None = None, kind: str | None = None) -> list[Segment]:
        """Segments overlapping ``[t0, t1]`` (either end open when None), in time order."""
        self._check_open()
        where, args = _filters(source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM segments s{where} ORDER BY s.t0, s.id", args)
        return [_segment(r) for r in rows]

    @_sql_errors
    def search(self, space: str, vector: np.ndarray, k: int = 10, *, source: str | None = None,
               modality: str | None = None, kind: str | None = None, t0: float | None = None,
               t1: float | None = None) -> list[Hit]:
        """Nearest segments by cosine similarity in one vector space.

        Filters are applied inside the search (faiss id selector), so ``k`` hits come back
        whenever ``k`` segments pass them.

        Args:
            space: Vector space name ("visual", "concept", ...).
            vector: 1-D query of the space's dimension (normalised here).
            k: Number of hits wanted.
            source, modality, kind: Keep only segments with these values.
            t0, t1: Keep only segments overlapping this time span.

        Returns:
            Hits, best first; ``score`` is the cosine similarity.

        Raises:
            ValueError: Unknown space (in a non-empty store), wrong dimension, or bad ``k``.
        """
        self._check_open()
        k = _check_k(k)
        if space not in self._indexes:
            if len(self) == 0:
                return []
            raise ValueError(f"space {space!r} is not in this store; it has {sorted(self._dims)}")
        index = self._indexes[space]
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim != 1 or query.shape[0] != index.dim:
            raise ValueError(f"vector must be 1-D of dim {index.dim} for space {space!r}, got shape {query.shape}")
        if not np.all(np.isfinite(query)):
            raise ValueError("vector has non-finite values")
        allowed = None
        where, args = _filters(source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        if where:
            allowed = np.fromiter(
                (r[0] for r in self._conn.execute(
                    f"SELECT s.id FROM segments s JOIN vectors v ON v.segment_id = s.id AND v.space = ?{where.replace(' WHERE', ' AND', 1)}",
                    [space, *args])),
                dtype=np.int64)
            if allowed.size == 0:
                return []
        with self._mutex:
            pairs = index.search(query, k, allowed)
        found = self._fetch([i for i, _ in pairs])
        return [_hit(found[i], score) for i, score in pairs if i in found]

    @_sql_errors
    def text_search(self, query: str, k: int = 10, *, source: str | None = None,
                    modality: str | None = None, kind: str | None = None, t0: float | None = None,
                    t1: float | None = None) -> list[Hit]:
        """Segments whose text (OCR) or label names match ``query``.

        Candidates are any segment holding one of the query's words (SQLite FTS5) or the whole
        query as a case-insensitive substring (code words such as "KX-42" inside longer text).

        Returns:
            Hits, best first: score 1.0 when the whole query occurs (case-insensitive), else
            0.9 times the fraction of query words found; ties in time order.

        Raises:
            ValueError: ``query`` has no words or ``k`` is bad.
        """
        self._check_open()
        k = _check_k(k)
        _check_str(query, "query")
        needle = query.strip().casefold()
        words = sorted(set(_WORD.findall(needle)))
        if not needle or not words:
            raise ValueError(f"query must contain a word, got {query!r}")
        where, args = _filters(source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        extra = where.replace(" WHERE", " AND", 1)
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        ids = {r[0] for r in self._conn.execute(
            f"SELECT s.id FROM segments_fts f JOIN segments s ON s.id = f.rowid WHERE segments_fts MATCH ?{extra}",
            [match, *args])}
        ids |= {r[0] for r in self._conn.execute(
            f"SELECT s.id FROM segments s WHERE (instr(casefold(s.text), ?) > 0 OR instr(casefold(s.labels), ?) > 0){extra}",
            [needle, needle, *args])}
        scored = []
        for seg in self._fetch(sorted(ids)).values():
            hay = (seg.text + "\n" + "\n".join(seg.labels)).casefold()
            if needle in hay:
                score = 1.0
            else:
                present = set(_WORD.findall(hay))
                score = 0.9 * sum(w in present for w in words) / len(words)
            if score > 0:
                scored.append(_hit(seg, score))
        scored.sort(key=lambda h: (-h.score, h.t0, h.id))
        return scored[:k]

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(self.path, "store is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise StoreError(self.path, "store is open read-only")

    def _validate(self, i: int, obs: Any) -> tuple[tuple, dict[str, np.ndarray]]:
        """Check one observation fully before anything is written; return its row."""
        try:
            source, t0, t1 = obs.source, float(obs.t0), float(obs.t1)
            modality, kind, raw_vectors = obs.modality, obs.kind, obs.vectors
            labels, text, meta = obs.labels, obs.text, obs.meta
        except AttributeError as err:
            raise TypeError(f"observations[{i}] is not observation-like: {err}") from err
        except (TypeError, ValueError) as err:
            raise ValueError(f"observations[{i}]: t0 and t1 must be numbers ({err})") from err
        for name, value in (("source", source), ("modality", modality), ("kind", kind)):
            _check_str(value, f"observations[{i}].{name}")
        if not math.isfinite(t0) or not math.isfinite(t1) or t1 < t0:
            raise ValueError(f"observations[{i}]: need finite t0 <= t1, got t0={t0}, t1={t1}")
        if not isinstance(text, str):
            raise TypeError(f"observations[{i}].text must be a str, got {type(text).__name__}")
        labels = {str(name): float(score) for name, score in dict(labels or {}).items()}
        vectors = {}
        for space, vec in dict(raw_vectors or {}).items():
            if not isinstance(space, str) or not _SPACE_NAME.match(space):
                raise ValueError(f"observations[{i}].vectors: bad space name {space!r} (letters, digits, _ or -)")
            arr = np.ascontiguousarray(vec, dtype=np.float32)
            if arr.ndim != 1 or arr.shape[0] == 0:
                raise ValueError(f"observations[{i}].vectors[{space!r}] must be a non-empty 1-D array, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"observations[{i}].vectors[{space!r}] has non-finite values")
            vectors[space] = arr
        row = (source, t0, t1, modality, kind, _dumps(labels, f"observations[{i}].labels"), text,
               _dumps(dict(meta or {}), f"observations[{i}].meta"))
        return row, vectors

    def _apply_pending(self) -> None:
        """After a commit: learn new spaces and append committed vectors to the faiss indexes."""
        if self._pending_dims:
            self._dims.update(self._pending_dims)
            for space, dim in self._pending_dims.items():
                self._indexes.setdefault(space, VectorIndex(dim))
            self._pending_dims.clear()
            self._meta_dirty = True
        by_space: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for space, ids, vecs in self._pending:
            bucket = by_space.setdefault(space, ([], []))
            bucket[0].extend(ids)
            bucket[1].extend(vecs)
        self._pending.clear()
        for space, (ids, vecs) in by_space.items():
            self._indexes[space].add(np.asarray(ids, dtype=np.int64), np.stack(vecs))
        if self._pending_removals:
            removed = np.asarray(self._pending_removals, dtype=np.int64)
            self._pending_removals.clear()
            for index in self._indexes.values():
                index.remove(removed)

    def _load_indexes(self) -> None:
        """Load each space's faiss file; rebuild from SQLite when it does not match."""
        for space, dim in self._dims.items():
            db_ids = np.fromiter((r[0] for r in self._conn.execute(
                "SELECT segment_id FROM vectors WHERE space = ? ORDER BY segment_id", (space,))), dtype=np.int64)
            index = VectorIndex.load(self.path / f"{space}.faiss", dim)
            if index is not None and index.count == db_ids.size and np.array_equal(index.ids(), db_ids):
                self._indexes[space] = index
                continue
            logger.info("rebuilding %s/%s.faiss from the segment table (%d vectors)", self.path, space, db_ids.size)
            index = VectorIndex(dim)
            batch_ids, batch_vecs = [], []
            for seg_id, blob in self._conn.execute(
                    "SELECT segment_id, vec FROM vectors WHERE space = ? ORDER BY segment_id", (space,)):
                batch_ids.append(seg_id)
                batch_vecs.append(np.frombuffer(blob, dtype=np.float32))
                if len(batch_ids) >= 4096:
                    index.add(np.asarray(batch_ids), np.stack(batch_vecs))
                    batch_ids, batch_vecs = [], []
            if batch_ids:
                index.add(np.asarray(batch_ids), np.stack(batch_vecs))
            index.dirty = True
            self._indexes[space] = index

    def _fetch(self, ids: Sequence[int], *, vectors: bool = False) -> dict[int, Segment]:
        out: dict[int, Segment] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(f"SELECT {_COLUMNS} FROM segments s WHERE s.id IN ({marks})", chunk):
                out[r[0]] = _segment(r)
            if vectors and chunk:
                for seg_id, space, blob in self._conn.execute(
                        f"SELECT segment_id, space, vec FROM vectors WHERE segment_id IN ({marks})", chunk):
                    out[seg_id].vectors[space] = np.frombuffer(blob, dtype=np.float32).copy()
        return out


# ---------------------------------------------------------------------- module helpers

_COLUMNS = "s.id, s.source, s.t0, s.t1, s.modality, s.kind, s.labels, s.text, s.meta"


def _segment(r: tuple) -> Segment:
    return Segment(id=r[0], source=r[1], t0=r[2], t1=r[3], modality=r[4], kind=r[5],
                   labels=json.loads(r[6]), text=r[7], meta=json.loads(r[8]))


def _hit(seg: Segment, score: float) -> Hit:
    return Hit(id=seg.id, source=seg.source, t0=seg.t0, t1=seg.t1, modality=seg.modality, kind=seg.kind,
               labels=seg.labels, text=seg.text, meta=seg.meta, vectors=seg.vectors, score=score)


def _filters(**kw) -> tuple[str, list]:
    """SQL ``WHERE`` clause over alias ``s`` for equality filters and a time-overlap window."""
    clauses, args = [], []
    for col in ("source", "modality", "kind"):
        if kw[col] is not None:
            _check_str(kw[col], col)
            clauses.append(f"s.{col} = ?")
            args.append(kw[col])
    if kw["t0"] is not None:
        clauses.append("s.t1 >= ?")
        args.append(float(kw["t0"]))
    if kw["t1"] is not None:
        clauses.append("s.t0 <= ?")
        args.append(float(kw["t1"]))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _check_str(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return int(k)


def _dumps(value: Any, name: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be JSON-able ({err})") from err


def _meta_json(dims: dict[str, int]) -> bytes:
    meta = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "spaces": dict(sorted(dims.items()))}
    return (json.dumps(meta, indent=2) + "\n").encode()


def _read_meta(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StoreError(meta_path.parent, f"{META_FILE} is unreadable or not JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(meta_path.parent, f"not an episodic store ({META_FILE} has another format)")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise StoreError(meta_path.parent, f"{META_FILE} has no valid schema_version")
    if version > SCHEMA_VERSION:
        raise StoreError(meta_path.parent, f"store schema version {version} is newer than this agentkit "
                                           f"supports ({SCHEMA_VERSION}); upgrade agentkit to open it")
    return meta


def _acquire_writer_lock(path: Path):
    try:
        fh = open(path / LOCK_FILE, "a")
    except OSError as err:
        raise StoreError(path, f"cannot create {LOCK_FILE} ({err.strerror or err}); open with read_only=True") from err
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        fh.close()
        raise StoreError(path, "store is open for writing elsewhere; close it there or open with read_only=True") from err
    return fh


def _connect(path: Path, *, read_only: bool, has_faiss: bool) -> sqlite3.Connection:
    db = path / DB_FILE
    fresh = not db.exists()
    if fresh and (read_only or has_faiss):
        raise StoreError(path, f"{DB_FILE} is missing" + (" (faiss files alone cannot restore segments)" if has_faiss else ""))
    try:
        if read_only:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        conn.create_function("casefold", 1, lambda s: s.casefold() if isinstance(s, str) else s, deterministic=True)
        conn.execute("PRAGMA synchronous = FULL")
        if not read_only and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            fresh = True  # created, then interrupted before the schema committed
        if fresh:
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        row = conn.execute("SELECT value FROM info WHERE key = 'schema_version'").fetchone()
        conn.execute("SELECT COUNT(*) FROM segments").fetchone()
    except sqlite3.Error as err:
        raise StoreError(path, f"{DB_FILE} is corrupt or not a store database ({err})") from err
    if row is None or int(row[0]) > SCHEMA_VERSION:
        conn.close()
        raise StoreError(path, f"{DB_FILE} schema version {row and row[0]} is not supported "
                               f"(this agentkit reads up to {SCHEMA_VERSION})")
    return conn
