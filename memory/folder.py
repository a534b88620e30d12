"""The store folder on disk: ``store.json``, the SQLite schema and connection, the writer lock.

Layout of a store folder::

    store.json        format name, schema version, vector spaces and their dimensions
    segments.sqlite   the source of truth: segments, their vectors (float32 blobs), vector
                      spaces, per-source indexing progress
    <space>.faiss     one exact inner-product index per vector space ("visual", "concept", ...)
    .writer.lock      held (flock) by the one process that writes

Schema versions:

* 1: as 2, plus a full-text table ``segments_fts`` that was written on every add.
* 2: no full-text table (text recall scans the segment table; see ``memory.text_recall``).

A version 1 store opens read-only as it is. Opened for writing it is upgraded in one commit
(the full-text table dropped, version 2 recorded in SQLite and ``store.json``), so an older
agentkit refuses it with "upgrade agentkit" instead of failing on its first add.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import IO

from memory.atomic import write_bytes_atomic
from memory.errors import StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""Version of the folder layout and tables; a store written by a newer version is refused."""
FORMAT = "agentkit.memory.episodic"
META_FILE = "store.json"
DB_FILE = "segments.sqlite"
LOCK_FILE = ".writer.lock"

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
INSERT INTO info (key, value) VALUES ('schema_version', '%d');
""" % SCHEMA_VERSION


def meta_json(dims: dict[str, int]) -> bytes:
    """The bytes of ``store.json`` for a store with these vector spaces."""
    meta = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "spaces": dict(sorted(dims.items()))}
    return (json.dumps(meta, indent=2) + "\n").encode()


def read_meta(meta_path: Path) -> dict:
    """Read and check ``store.json``.

    Raises:
        StoreError: Unreadable, another format, no valid version, or a version newer than ours.
    """
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


def prepare_folder(path: Path, *, create: bool, read_only: bool) -> bool:
    """Check ``path`` is a store folder, creating an empty store when asked; return ``read_only``.

    ``read_only`` turns true, with a warning, for a folder this process cannot write to.

    Raises:
        StoreError: ``path`` is a file, missing (and not to be created), or a folder that is
            not a store and not empty.
    """
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
            write_bytes_atomic(meta_path, meta_json({}))
    except OSError as err:
        raise StoreError(path, f"cannot read or initialise the folder ({err.strerror or err})") from err
    return read_only


def acquire_writer_lock(path: Path) -> IO[str]:
    """Take the store's writer lock without waiting; the lock lasts until the file is closed.

    Raises:
        StoreError: The lock file cannot be created, or another process holds the lock.
    """
    try:
        fh = open(path / LOCK_FILE, "a")
    except OSError as err:
        raise StoreError(path, f"cannot create {LOCK_FILE} ({err.strerror or err}); "
                               "open with read_only=True") from err
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        fh.close()
        raise StoreError(path, "store is open for writing elsewhere; close it there or open with read_only=True") from err
    return fh


def connect(path: Path, *, read_only: bool, has_faiss: bool) -> sqlite3.Connection:
    """Open ``segments.sqlite`` (creating the schema in a new store) and check its version.

    A writable version 1 database is upgraded to the current version here.

    Returns:
        The connection (autocommit: transactions are explicit).

    Raises:
        StoreError: Missing where it must exist, corrupt, or of a version we cannot read.
    """
    db = path / DB_FILE
    fresh = not db.exists()
    if fresh and (read_only or has_faiss):
        why = " (faiss files alone cannot restore segments)" if has_faiss else ""
        raise StoreError(path, f"{DB_FILE} is missing{why}")
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
    version = int(row[0])
    if version < SCHEMA_VERSION and not read_only:
        _upgrade(path, conn, version)
    return conn


def _upgrade(path: Path, conn: sqlite3.Connection, version: int) -> None:
    """Bring a writable database from ``version`` to :data:`SCHEMA_VERSION` in one commit."""
    logger.info("upgrading %s/%s from schema version %d to %d", path, DB_FILE, version, SCHEMA_VERSION)
    try:
        conn.executescript(
            "BEGIN IMMEDIATE;"
            "DROP TABLE IF EXISTS segments_fts;"  # version 1 -> 2: the unused full-text index goes
            f"UPDATE info SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version';"
            "COMMIT;")
    except sqlite3.Error as err:
        conn.close()
        raise StoreError(path, f"cannot upgrade {DB_FILE} from schema version {version} ({err}); "
                               "open with read_only=True to read it as it is") from err
