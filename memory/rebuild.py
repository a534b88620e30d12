"""Load each vector space's faiss file, or rebuild it from SQLite when it does not match.

SQLite is the source of truth; a faiss file is a cache of the ``vectors`` table. It may be
missing, unreadable, of another dimension or hold other ids (a crash between the SQLite commit
and the next flush): each case is rebuilt here, on open, and marked dirty so it is written back.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np

from memory import tables
from memory.vector_index import VectorIndex

logger = logging.getLogger(__name__)


def index_path(folder: Path, space: str) -> Path:
    """Where the faiss file of ``space`` lives in a store folder."""
    return folder / f"{space}.faiss"


def rebuild_index(conn: sqlite3.Connection, space: str, dim: int) -> VectorIndex:
    """A new index of ``space`` from its rows in the ``vectors`` table (marked dirty)."""
    index = VectorIndex(dim)
    for ids, vecs in tables.vector_batches(conn, space):
        index.add(ids, vecs)
    index.dirty = True
    return index


def load_or_rebuild(folder: Path, conn: sqlite3.Connection, dims: dict[str, int]) -> dict[str, VectorIndex]:
    """One index per space: the saved file when it holds exactly SQLite's ids, else a rebuild."""
    indexes = {}
    for space, dim in dims.items():
        db_ids = tables.vector_ids(conn, space)
        index = VectorIndex.load(index_path(folder, space), dim)
        if index is None or index.count != db_ids.size or not np.array_equal(index.ids(), db_ids):
            logger.info("rebuilding %s from the segment table (%d vectors)", index_path(folder, space), db_ids.size)
            index = rebuild_index(conn, space, dim)
        indexes[space] = index
    return indexes
