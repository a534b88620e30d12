"""The episodic store: timed segments in SQLite, one faiss index per vector space, in a folder.

:class:`EpisodicStore` is the one public door; the work sits in small modules beside it:

* ``memory.folder``: the folder layout (``store.json``, SQLite schema and versions, writer lock);
* ``memory.validation``: argument checks, observations turned into rows;
* ``memory.tables``: reads and writes of the SQLite tables;
* ``memory.vector_spaces`` and ``memory.vector_index``: the faiss indexes, changed after commits;
* ``memory.rebuild``: faiss files checked against SQLite on open, rebuilt when they differ;
* ``memory.text_recall``: text search over the segment table.

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
import functools
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from memory import tables, text_recall
from memory.atomic import write_bytes_atomic
from memory.errors import StoreError
from memory.folder import (DB_FILE, FORMAT, LOCK_FILE, META_FILE, SCHEMA_VERSION, acquire_writer_lock, connect,
                           meta_json, prepare_folder, read_meta)
from memory.read_cache import ReadCache
from memory.rebuild import load_or_rebuild
from memory.records import Hit, ObservationLike, Segment
from memory.validation import check_k, check_str, dumps, observation_row
from memory.vector_index import VectorIndex
from memory.vector_spaces import VectorSpaces

__all__ = ["DB_FILE", "FORMAT", "LOCK_FILE", "META_FILE", "SCHEMA_VERSION", "EpisodicStore"]


def _sql_errors(method):
    """A read: one thread at a time on the connection, SQLite failures (a store damaged after it
    was opened) reported as StoreError.

    The lock is not only for consistency. A text scan calls a Python SQL function (``casefold``)
    per row, which takes the GIL inside SQLite's connection lock; a writer thread that holds the
    GIL and waits for that connection lock would deadlock the two (it did, with a live stream
    writing while a question was asked).
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            with self._mutex:
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

    def __init__(self, path: Path, conn: sqlite3.Connection, spaces: VectorSpaces, *, read_only: bool,
                 lock_fh: IO[str] | None):
        self.path = path
        self.read_only = read_only
        self._conn = conn
        self._spaces = spaces
        self._lock_fh = lock_fh
        self._mutex = threading.RLock()
        self._tx_depth = 0
        self._meta_dirty = False
        self._closed = False
        self._cache = ReadCache()

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
        read_only = prepare_folder(path, create=create, read_only=read_only)
        meta = read_meta(path / META_FILE)
        lock_fh = None if read_only else acquire_writer_lock(path)
        try:
            conn = connect(path, read_only=read_only, has_faiss=any(path.glob("*.faiss")))
            dims = tables.spaces(conn)
            spaces = VectorSpaces(dims, load_or_rebuild(path, conn, dims))
            store = cls(path, conn, spaces, read_only=read_only, lock_fh=lock_fh)
            store._meta_dirty = meta.get("spaces") != dims or meta.get("schema_version") != SCHEMA_VERSION
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
        return self._cache.count(self._conn)

    @property
    def spaces(self) -> dict[str, int]:
        """Vector space name -> dimension, as learnt from the first add of each."""
        return dict(self._spaces.dims)

    def flush(self) -> None:
        """Write changed faiss indexes and ``store.json`` atomically (SQLite is already committed)."""
        self._check_open()
        if self.read_only:
            return
        with self._mutex:
            try:
                self._spaces.save(self.path)
                if self._meta_dirty:
                    write_bytes_atomic(self.path / META_FILE, meta_json(self._spaces.dims))
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
                self._spaces.discard()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(self.path, f"write failed, nothing from it was stored ({exc})") from exc
                raise
            finally:
                self._tx_depth = 0
                self._cache.clear()  # what it learnt may have changed, committed or rolled back
            if self._spaces.commit():
                self._meta_dirty = True

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
        rows = [observation_row(i, obs) for i, obs in enumerate(observations)]
        if not rows:
            return []
        with self._mutex, self.transaction():
            self._check_dims([vectors for _, vectors in rows])  # before any insert: all or nothing
            ids = []
            for row, vectors in rows:
                seg_id = tables.insert_segment(self._conn, row)
                ids.append(seg_id)
                for space, vec in vectors.items():
                    if self._spaces.is_new(space):
                        tables.insert_space(self._conn, space, vec.shape[0])
                        self._spaces.stage_space(space, vec.shape[0])
                    tables.insert_vector(self._conn, space, seg_id, vec)
                    self._spaces.stage_add(space, seg_id, vec)
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
        check_str(source, "source")
        data = dumps(values, "values")
        with self._mutex, self.transaction():
            tables.set_progress(self._conn, source, data)

    def remove_source(self, source: str) -> int:
        """Delete every segment of ``source`` and its progress (e.g. to re-index with a new recipe).

        Returns:
            How many segments were removed. Ids are never reused.
        """
        self._check_writable()
        check_str(source, "source")
        with self._mutex, self.transaction():
            ids = tables.delete_source(self._conn, source)
            self._spaces.stage_removal(ids)
        return len(ids)

    # ------------------------------------------------------------------ reading

    @_sql_errors
    def get_progress(self, source: str) -> dict[str, Any] | None:
        """The values last given to :meth:`set_progress` for ``source``, or None."""
        self._check_open()
        return tables.get_progress(self._conn, source)

    @_sql_errors
    def sources(self) -> list[str]:
        """Source ids that have segments, sorted."""
        self._check_open()
        return self._cache.sources(self._conn)

    @_sql_errors
    def modalities(self, source: str | None = None) -> set[str]:
        """The modalities ("video", "eeg", ...) the segments of ``source`` (of every source) hold."""
        self._check_open()
        return self._cache.modalities(self._conn, source)

    @_sql_errors
    def get(self, ids: Sequence[int], *, vectors: bool = False, spaces: Sequence[str] | None = None) -> list[Segment]:
        """Segments by id, in the order given.

        Args:
            ids: Segment ids.
            vectors: Also read each segment's raw vectors.
            spaces: With ``vectors``, read only these spaces' vectors (None: every space).

        Raises:
            KeyError: Some ids are not in the store (named in the message).
        """
        self._check_open()
        ids = [int(i) for i in ids]
        found = tables.fetch(self._conn, ids, vectors=vectors, spaces=None if spaces is None else list(spaces))
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"{self.path}: no segments with ids {missing[:10]}")
        return [found[i] for i in ids]

    @_sql_errors
    def segments(self, source: str | None = None, t0: float | None = None, t1: float | None = None,
                 *, modality: str | None = None, kind: str | None = None) -> list[Segment]:
        """Segments overlapping ``[t0, t1]`` (either end open when None), in time order."""
        self._check_open()
        where, args = self._where(source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        return tables.select(self._conn, where, args)

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
        k = check_k(k)
        index = self._index(space)
        if index is None:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim != 1 or query.shape[0] != index.dim:
            raise ValueError(f"vector must be 1-D of dim {index.dim} for space {space!r}, got shape {query.shape}")
        if not np.all(np.isfinite(query)):
            raise ValueError("vector has non-finite values")
        allowed = self._allowed(space, source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        if allowed is not None and allowed.size == 0:
            return []
        with self._mutex:
            pairs = index.search(query, k, allowed)
        found = tables.fetch(self._conn, [i for i, _ in pairs])
        return [tables.hit(found[i], score) for i, score in pairs if i in found]

    @_sql_errors
    def similarities(self, space: str, queries: np.ndarray, *, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's (of ``source``) cosine similarity to each query, without reading segments.

        One pass over the space's vectors for all queries: a long store answers "which segments
        look like X (or like any of its words)" at the cost of one scan, and only the segments
        then chosen are read.

        Args:
            queries: ``[m, dim]`` (or one ``[dim]`` vector), normalised here.

        Returns:
            ``(ids [n], scores [n, m])``: int64 segment ids and float32 cosines.

        Raises:
            ValueError: Unknown space (in a non-empty store), wrong dimension, or non-finite queries.
        """
        self._check_open()
        index = self._index(space)
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if index is None:
            return np.zeros(0, np.int64), np.zeros((0, q.shape[0]), np.float32)
        if q.ndim != 2 or q.shape[1] != index.dim or not np.all(np.isfinite(q)):
            raise ValueError(f"queries must be finite rows of dim {index.dim} for space {space!r}, got shape {q.shape}")
        allowed = self._allowed(space, source=source)
        if allowed is not None and allowed.size == 0:
            return np.zeros(0, np.int64), np.zeros((0, q.shape[0]), np.float32)
        return index.scores(q, allowed)

    @_sql_errors
    def text_search(self, query: str, k: int = 10, *, source: str | None = None,
                    modality: str | None = None, kind: str | None = None, t0: float | None = None,
                    t1: float | None = None) -> list[Hit]:
        """Segments whose text (OCR) or label names hold ``query`` or some of its words.

        Matching ignores case; the whole query is found as a substring (code words such as
        "KX-42" inside longer text), single words as whole words. Exact, not fuzzy: text that
        OCR misread is not found (the controller's fuzzy matching is for that).

        Returns:
            Hits, best first: score 1.0 when the whole query occurs (case-insensitive), else
            0.9 times the fraction of query words found; ties in time order.

        Raises:
            ValueError: ``query`` has no words or ``k`` is bad.
        """
        self._check_open()
        k = check_k(k)
        check_str(query, "query")
        where, args = self._where(source=source, modality=modality, kind=kind, t0=t0, t1=t1)
        return text_recall.search(self._conn, query, k, where, args)

    @_sql_errors
    def labelled(self, names: Sequence[str], *, source: str | None = None, min_score: float = 0.0,
                 limit: int | None = None) -> list[int]:
        """Ids (sorted) of the segments (of ``source``) with a label name holding one of ``names``,
        whose scores for such names sum to ``min_score`` or more (only the ``limit`` best when given).

        Case is ignored and a name matches inside a longer one ("cat" finds "tabby cat"). Served
        from an index of label names read once per open, so only the segments that match are read.
        """
        self._check_open()
        if source is not None:
            check_str(source, "source")
        return self._cache.labelled(self._conn, source, list(names), float(min_score), limit)

    # ------------------------------------------------------------------ internals

    def _index(self, space: str) -> VectorIndex | None:
        """The vector index of ``space``; None in an empty store (nothing to find yet).

        Raises:
            ValueError: ``space`` is not in this (non-empty) store.
        """
        index = self._spaces.indexes.get(space)
        if index is None and len(self) > 0:
            raise ValueError(f"space {space!r} is not in this store; it has {sorted(self._spaces.dims)}")
        return index

    def _where(self, **filters: Any) -> tuple[str, list]:
        """`tables.where_clause` with a time window bounded on both sides (see ``longest`` there)."""
        longest = None
        if filters.get("t0") is not None:
            longest = self._cache.longest(self._conn, filters.get("source")) + 1e-6
        return tables.where_clause(**filters, longest=longest)

    def _allowed(self, space: str, **filters: Any) -> np.ndarray | None:
        """Ids a vector search may return under ``filters``; None when nothing is filtered."""
        if not any(v is not None for v in filters.values()):
            return None
        if set(k for k, v in filters.items() if v is not None) == {"source"}:
            ids = self._cache.ids_with_vector(self._conn, space, check_str(filters["source"], "source"))
            index = self._spaces.indexes.get(space)
            # the source holds every vector of the space (a one-source store): nothing to filter
            return None if index is not None and ids.size == index.count and ids.size > 0 else ids
        where, args = self._where(**filters)
        return tables.ids_with_vector(self._conn, space, where, args)


    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(self.path, "store is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise StoreError(self.path, "store is open read-only")

    def _check_dims(self, batch: list[dict[str, np.ndarray]]) -> None:
        """Refuse a batch whose vectors disagree with their spaces' dimensions, or with each other."""
        dims: dict[str, int] = {}
        for i, vectors in enumerate(batch):
            for space, vec in vectors.items():
                expected = dims.setdefault(space, self._spaces.dim(space) or vec.shape[0])
                if vec.shape[0] != expected:
                    raise StoreError(self.path, f"space {space!r} has dim {expected}, but observations[{i}] "
                                                f"gives dim {vec.shape[0]}; nothing was added")

