"""Generated observations for the episodic store tests (imported by tests and a subprocess)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Obs:
    """A plain observation-like record (memory reads attributes, it never imports perception)."""

    source: str
    t0: float
    t1: float
    modality: str = "video"
    kind: str = "segment"
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, float] = field(default_factory=dict)
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def make_obs(n: int, *, source: str = "clip-a", seed: int = 0, start: float = 0.0, dims=(16, 8), **kw) -> list[Obs]:
    """``n`` one-second observations with random 'visual' and 'concept' vectors."""
    rng = np.random.default_rng(seed)
    return [
        Obs(source=source, t0=start + i, t1=start + i + 1,
            vectors={"visual": rng.standard_normal(dims[0]).astype(np.float32),
                     "concept": rng.standard_normal(dims[1]).astype(np.float32)},
            labels={"tabby cat": 0.7, "street sign": 0.1}, text=f"frame {i}", meta={"i": i}, **kw)
        for i in range(n)
    ]


SCHEMA_V1 = """
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
INSERT INTO info (key, value) VALUES ('schema_version', '1');
"""
"""The tables of schema version 1, as the store wrote them until the full-text index was dropped."""


def write_v1_store(folder, observations: list[Obs], progress: dict[str, dict] | None = None) -> None:
    """Write a store folder exactly as schema version 1 did: store.json, SQLite with its
    full-text table filled on every add, and one faiss file per space."""
    import json
    import sqlite3
    from pathlib import Path

    import faiss

    folder = Path(folder)
    folder.mkdir(parents=True)
    dims: dict[str, int] = {}
    con = sqlite3.connect(folder / "segments.sqlite", isolation_level=None)
    con.executescript("BEGIN;" + SCHEMA_V1 + "COMMIT;")
    con.execute("BEGIN")
    for ob in observations:
        labels = json.dumps(ob.labels, ensure_ascii=False)
        cur = con.execute("INSERT INTO segments (source, t0, t1, modality, kind, labels, text, meta)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (ob.source, ob.t0, ob.t1, ob.modality, ob.kind, labels, ob.text, json.dumps(ob.meta)))
        con.execute("INSERT INTO segments_fts (rowid, text, labels) VALUES (?, ?, ?)",
                    (cur.lastrowid, ob.text, " ".join(ob.labels)))
        for space, vec in ob.vectors.items():
            if space not in dims:
                dims[space] = len(vec)
                con.execute("INSERT INTO spaces (name, dim) VALUES (?, ?)", (space, len(vec)))
            con.execute("INSERT INTO vectors (space, segment_id, vec) VALUES (?, ?, ?)",
                        (space, cur.lastrowid, np.asarray(vec, np.float32).tobytes()))
    for source, values in (progress or {}).items():
        con.execute("INSERT INTO progress (source, data) VALUES (?, ?)", (source, json.dumps(values)))
    con.execute("COMMIT")
    for space, dim in dims.items():
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        rows = con.execute("SELECT segment_id, vec FROM vectors WHERE space = ? ORDER BY segment_id",
                           (space,)).fetchall()
        vecs = np.stack([np.frombuffer(blob, np.float32) for _, blob in rows])
        vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-30)
        index.add_with_ids(np.ascontiguousarray(vecs, np.float32), np.array([i for i, _ in rows], np.int64))
        (folder / f"{space}.faiss").write_bytes(faiss.serialize_index(index).tobytes())
    con.close()
    meta = {"format": "agentkit.memory.episodic", "schema_version": 1, "spaces": dict(sorted(dims.items()))}
    (folder / "store.json").write_text(json.dumps(meta, indent=2) + "\n")
