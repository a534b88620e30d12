"""Stores written by schema version 1 (with a full-text table) open with this code."""
from __future__ import annotations

import json
import sqlite3

import pytest

from memory import SCHEMA_VERSION, EpisodicStore, StoreError

from memory_testdata import make_obs, write_v1_store


def _tables(folder) -> set[str]:
    with sqlite3.connect(folder / "segments.sqlite") as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _v1_store(folder):
    obs = make_obs(12)
    obs[5].text = "Sign: KUMQUAT-7 ahead"
    obs[8].labels = {"rocket": 0.9}
    write_v1_store(folder, obs, progress={"clip-a": {"until": 12.0, "done": True}})
    return obs


def test_v1_store_reads_as_it_is_read_only(store_dir):
    obs = _v1_store(store_dir)
    files = {p.name: p.read_bytes() for p in store_dir.iterdir()}
    with EpisodicStore.open(store_dir, read_only=True) as store:
        assert len(store) == 12 and store.spaces == {"visual": 16, "concept": 8}
        assert store.search("visual", obs[3].vectors["visual"], k=1)[0].t0 == 3.0
        assert [(h.t0, h.score) for h in store.text_search("kumquat-7", k=2)] == [(5.0, 1.0), (7.0, 0.45)]
        assert [h.t0 for h in store.text_search("rocket", k=3)] == [8.0]
        assert store.get_progress("clip-a") == {"until": 12.0, "done": True}
        assert [s.text for s in store.segments(t0=2.5, t1=3.5)] == ["frame 2", "frame 3"]
    assert {p.name: p.read_bytes() for p in store_dir.iterdir()} == files  # nothing written


def test_v1_store_opened_for_writing_is_upgraded(store_dir):
    obs = _v1_store(store_dir)
    assert "segments_fts" in _tables(store_dir)
    with EpisodicStore.open(store_dir) as store:
        assert store.search("visual", obs[3].vectors["visual"], k=1)[0].t0 == 3.0
        new = make_obs(3, seed=4, start=12.0)
        new[1].text = "another KUMQUAT-7 sign"
        assert store.add(new) == [13, 14, 15]
        assert [h.t0 for h in store.text_search("kumquat-7", k=3)] == [5.0, 13.0, 7.0]  # 7: "frame 7"
        assert store.remove_source("clip-a") == 15 and len(store) == 0
    assert "segments_fts" not in _tables(store_dir)
    with sqlite3.connect(store_dir / "segments.sqlite") as con:
        assert con.execute("SELECT value FROM info WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert json.loads((store_dir / "store.json").read_text())["schema_version"] == SCHEMA_VERSION
    with EpisodicStore.open(store_dir) as store:
        assert len(store) == 0 and store.add(make_obs(1)) == [16]


def test_new_store_has_no_full_text_table_and_current_version(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(2))
    assert "segments_fts" not in _tables(store_dir)
    assert json.loads((store_dir / "store.json").read_text())["schema_version"] == SCHEMA_VERSION == 2


def test_database_newer_than_store_json_is_refused(store_dir):
    """A crash between the SQLite upgrade and the store.json rewrite leaves them apart: still readable."""
    _v1_store(store_dir)
    with sqlite3.connect(store_dir / "segments.sqlite") as con:
        con.execute("UPDATE info SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1} is not supported"):
        EpisodicStore.open(store_dir)
    with sqlite3.connect(store_dir / "segments.sqlite") as con:
        con.execute("UPDATE info SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    with EpisodicStore.open(store_dir) as store:  # store.json still says 1: rewritten on open
        assert len(store) == 12
    assert json.loads((store_dir / "store.json").read_text())["schema_version"] == SCHEMA_VERSION
