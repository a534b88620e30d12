"""Episodic store: persistence, filters, text recall, errors, crash consistency, safe formats."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from memory import SCHEMA_VERSION, EpisodicStore, StoreError
from memory.vector_index import VectorIndex

from memory_testdata import Obs, make_obs

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_reopen_gives_same_hits(store_dir):
    obs = make_obs(40)
    query = obs[7].vectors["visual"] + 0.1
    with EpisodicStore.open(store_dir) as store:
        ids = store.add(obs)
        before = [(h.id, h.score) for h in store.search("visual", query, k=5)]
    assert ids == list(range(1, 41))
    assert before[0][0] == ids[7] and before[0][1] > 0.99
    with EpisodicStore.open(store_dir, create=False) as store:
        after = [(h.id, h.score) for h in store.search("visual", query, k=5)]
        seg = store.get([ids[7]], vectors=True)[0]
        assert len(store) == 40 and store.spaces == {"visual": 16, "concept": 8}
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-6)
    assert (seg.source, seg.t0, seg.t1, seg.text, seg.meta) == ("clip-a", 7.0, 8.0, "frame 7", {"i": 7})
    assert seg.labels == {"tabby cat": 0.7, "street sign": 0.1}
    np.testing.assert_array_equal(seg.vectors["visual"], obs[7].vectors["visual"])


def test_perception_observation_is_accepted(store_dir):
    from perception.types import Observation

    ob = Observation(source="s", t0=0, t1=1, modality="eeg", kind="window",
                     vectors={"eeg": np.ones(4, np.float32)}, text="spike")
    with EpisodicStore.open(store_dir) as store:
        [seg_id] = store.add([ob])
        assert store.get([seg_id])[0].kind == "window"


def test_filters_hold_with_small_k(store_dir):
    near = make_obs(50, source="many", seed=1)
    far = make_obs(3, source="few", seed=2, start=100.0, modality="eeg", kind="window")
    query = near[0].vectors["visual"]
    with EpisodicStore.open(store_dir) as store:
        store.add(near + far)
        hits = store.search("visual", query, k=2, source="few")
        assert [h.source for h in hits] == ["few", "few"]
        assert hits[0].score >= hits[1].score
        assert {h.id for h in store.search("visual", query, k=10, modality="eeg")} == {51, 52, 53}
        assert {h.kind for h in store.search("visual", query, k=3, kind="window")} == {"window"}
        spans = [(h.t0, h.t1) for h in store.search("visual", query, k=50, t0=10.5, t1=12.0)]
        assert sorted(spans) == [(10.0, 11.0), (11.0, 12.0), (12.0, 13.0)]
        assert store.search("visual", query, k=5, source="nobody") == []
        assert store.sources() == ["few", "many"]
        assert [s.t0 for s in store.segments("many", t0=3.5, t1=5.0)] == [3.0, 4.0, 5.0]
        assert [s.t0 for s in store.segments()] == sorted(s.t0 for s in store.segments())


def test_text_search_finds_code_word_and_words(store_dir):
    obs = make_obs(30)
    obs[17].text = "A painted sign: CODE WORD KUMQUAT-7 today"
    obs[4].text = "the word kumquat alone"
    obs[9].labels = {"rocket": 0.9}
    with EpisodicStore.open(store_dir) as store:
        store.add(obs)
        hits = store.text_search("kumquat-7", k=3)
        assert hits[0].t0 == 17.0 and hits[0].score == 1.0
        assert hits[1].t0 == 4.0 and hits[1].score < 1.0  # one of two words
        assert store.text_search("KUMQUAT-7", k=1, source="clip-a")[0].t0 == 17.0
        assert store.text_search("Kumquat-7", k=3, source="other") == []
        assert [h.t0 for h in store.text_search("rocket", k=5)] == [9.0]
        assert store.text_search("zebra", k=5) == []
        with pytest.raises(ValueError, match="query"):
            store.text_search("  ?? ", k=5)


def test_text_search_filters_and_ties(store_dir):
    obs = make_obs(10) + make_obs(4, source="eeg-1", seed=3, modality="eeg", kind="window")
    for i in (2, 6, 8):
        obs[i].text = f"EXIT sign {i}"
    obs[11].text = "exit"
    with EpisodicStore.open(store_dir) as store:
        store.add(obs)
        assert [(h.source, h.t0) for h in store.text_search("exit", k=10)] == [  # equal scores: time order
            ("eeg-1", 1.0), ("clip-a", 2.0), ("clip-a", 6.0), ("clip-a", 8.0)]
        assert [h.t0 for h in store.text_search("exit", k=2, source="clip-a")] == [2.0, 6.0]
        assert [h.t0 for h in store.text_search("Exit", k=10, t0=5.5, t1=8.0)] == [6.0, 8.0]
        assert [h.source for h in store.text_search("exit", k=10, modality="eeg")] == ["eeg-1"]
        whole = [h.t0 for h in store.text_search("exit sign", k=20, kind="segment") if h.score == 1.0]
        assert whole == [2.0, 6.0, 8.0]  # the others hold "sign" only, in the label "street sign"
        assert all(h.score == 1.0 for h in store.text_search("exit", k=10))


def test_dimension_mismatch_is_refused_and_nothing_is_added(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(3))
        bad = make_obs(2, seed=5)
        bad[1].vectors["visual"] = np.ones(15, np.float32)
        with pytest.raises(StoreError, match=r"'visual' has dim 16.*dim 15") as err:
            store.add(bad)
        assert str(store_dir) in str(err.value)
        mixed = make_obs(2, seed=6, dims=(32, 8))  # a new space must agree within one batch
        mixed[0].vectors = {"audio": np.ones(5, np.float32)}
        mixed[1].vectors = {"audio": np.ones(6, np.float32)}
        with pytest.raises(StoreError, match="'audio' has dim 5"):
            store.add(mixed)
        assert len(store) == 3 and store.spaces == {"visual": 16, "concept": 8}
    with EpisodicStore.open(store_dir) as store:
        assert len(store) == 3 and "audio" not in store.spaces


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_missing_or_broken_faiss_file_is_rebuilt(store_dir, damage):
    obs = make_obs(20)
    with EpisodicStore.open(store_dir) as store:
        store.add(obs)
        before = [(h.id, h.score) for h in store.search("concept", obs[3].vectors["concept"], k=4)]
    faiss_file = store_dir / "concept.faiss"
    if damage == "delete":
        faiss_file.unlink()
    else:
        faiss_file.write_bytes(b"not a faiss index at all")
    with EpisodicStore.open(store_dir) as store:
        after = [(h.id, h.score) for h in store.search("concept", obs[3].vectors["concept"], k=4)]
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-6)
    assert faiss.read_index(str(faiss_file)).ntotal == 20  # rewritten on open


def test_crash_between_commit_and_faiss_write_leaves_consistent_store(store_dir, monkeypatch):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(5))
    store = EpisodicStore.open(store_dir)
    store.add(make_obs(5, seed=9, start=5.0))  # committed to SQLite, faiss file now stale

    def fail(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VectorIndex, "save", fail)
    with pytest.raises(StoreError, match="segments are safe"):
        store.flush()
    store._lock_fh.close()  # the process "dies" here without closing
    monkeypatch.undo()
    assert faiss.read_index(str(store_dir / "visual.faiss")).ntotal == 5  # stale on disk
    with EpisodicStore.open(store_dir) as reopened:
        assert len(reopened) == 10
        q = make_obs(5, seed=9, start=5.0)[2].vectors["visual"]
        assert reopened.search("visual", q, k=1)[0].t0 == 7.0


def test_failed_transaction_rolls_back_segments_progress_and_index(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(4))
        store.set_progress("clip-a", t1=4.0)
        with pytest.raises(RuntimeError, match="boom"):
            with store.transaction():
                store.add(make_obs(4, seed=3, start=4.0))
                store.set_progress("clip-a", t1=8.0)
                raise RuntimeError("boom")
        assert len(store) == 4 and store.get_progress("clip-a") == {"t1": 4.0}
        assert len(store.search("visual", np.ones(16), k=10)) == 4
        assert store.add(make_obs(1, seed=4, start=4.0)) == [5]


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    from memory import EpisodicStore
    from memory_testdata import make_obs
    store = EpisodicStore.open({path!r})
    done = (store.get_progress("clip-a") or {{}}).get("n", 0)
    for step in range(done, 400):
        with store.transaction():
            store.add(make_obs(1, seed=step, start=float(step)))
            store.set_progress("clip-a", n=step + 1, t1=step + 1.0)
        if step % 7 == 0:
            store.flush()
    store.close()
""")


def test_killed_writer_resumes_without_duplicates_or_loss(store_dir, tmp_path):
    helper = Path(__file__).parent
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(tests=str(helper), path=str(store_dir)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it mid-way, whenever it has written something
        time.sleep(0.2)
        db = store_dir / "segments.sqlite"
        if db.exists():
            try:
                with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as con:
                    if con.execute("SELECT COUNT(*) FROM segments").fetchone()[0] >= 30:
                        break
            except sqlite3.Error:
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with EpisodicStore.open(store_dir) as store:
        n = store.get_progress("clip-a")["n"]
        assert 30 <= n < 400, "the writer must have been killed mid-way"
        assert len(store) == n
        assert store._spaces.indexes["visual"].count == n  # rebuilt or loaded, never stale
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    with EpisodicStore.open(store_dir, read_only=True) as store:
        t0s = [s.t0 for s in store.segments("clip-a")]
        assert t0s == [float(i) for i in range(400)]
        q = make_obs(1, seed=123, start=123.0)[0].vectors["visual"]
        assert store.search("visual", q, k=1)[0].t0 == 123.0


def test_newer_schema_is_refused(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(2))
    meta_path = store_dir / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = SCHEMA_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"schema version \d+ is newer.*upgrade") as err:
        EpisodicStore.open(store_dir)
    assert str(store_dir) in str(err.value)


def test_bad_folders_give_one_line_store_errors(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("hi")
    with pytest.raises(StoreError, match="is a file"):
        EpisodicStore.open(a_file)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(StoreError, match="not an episodic store"):
        EpisodicStore.open(other)
    assert os.listdir(other) == ["cat.jpg"]
    with pytest.raises(StoreError, match="does not exist"):
        EpisodicStore.open(tmp_path / "missing", create=False)


def test_corrupt_sqlite_is_reported_and_left_untouched(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(3))
    db = store_dir / "segments.sqlite"
    garbage = b"this is not sqlite" * 100
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match="segments.sqlite is corrupt") as err:
        EpisodicStore.open(store_dir)
    assert "\n" not in str(err.value) and str(store_dir) in str(err.value)
    assert db.read_bytes() == garbage
    assert faiss.read_index(str(store_dir / "visual.faiss")).ntotal == 3


def test_read_only_and_single_writer(store_dir):
    with EpisodicStore.open(store_dir) as writer:
        writer.add(make_obs(3))
        writer.flush()
        with pytest.raises(StoreError, match="open for writing elsewhere"):
            EpisodicStore.open(store_dir)
        with EpisodicStore.open(store_dir, read_only=True) as reader:
            assert len(reader) == 3
            with pytest.raises(StoreError, match="read-only"):
                reader.add(make_obs(1))
    with pytest.raises(StoreError, match="closed"):
        writer.search("visual", np.ones(16), k=1)


def test_bad_arguments_raise_value_errors(store_dir):
    with EpisodicStore.open(store_dir) as store:
        assert store.search("visual", np.ones(16), k=3) == []  # empty store
        store.add(make_obs(2))
        with pytest.raises(ValueError, match="space 'nope'"):
            store.search("nope", np.ones(16))
        with pytest.raises(ValueError, match="dim 16"):
            store.search("visual", np.ones(3))
        with pytest.raises(ValueError, match="k must be"):
            store.search("visual", np.ones(16), k=0)
        with pytest.raises(ValueError, match=r"t0 <= t1"):
            store.add([Obs(source="s", t0=2, t1=1)])
        with pytest.raises(TypeError, match="observation-like"):
            store.add([object()])
        with pytest.raises(ValueError, match="non-finite"):
            store.add([Obs(source="s", t0=0, t1=1, vectors={"visual": np.full(16, np.nan)})])
        with pytest.raises(ValueError, match="JSON"):
            store.add([Obs(source="s", t0=0, t1=1, meta={"x": object()})])
        assert len(store) == 2


def test_every_file_is_a_safe_format(store_dir):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(5))
        store.set_progress("clip-a", t1=5.0)
    for f in sorted(store_dir.iterdir()):
        data = f.read_bytes()
        assert not data.startswith(b"\x80"), f"{f.name} looks like a pickle"
        if f.suffix == ".json":
            assert json.loads(data)["schema_version"] == SCHEMA_VERSION
        elif f.suffix == ".sqlite":
            assert data.startswith(b"SQLite format 3\x00")
        elif f.suffix == ".faiss":
            assert faiss.read_index(str(f)).ntotal == 5
        else:
            assert f.name == ".writer.lock" and data == b""
    with sqlite3.connect(store_dir / "segments.sqlite") as con:
        blob, = con.execute("SELECT vec FROM vectors WHERE space = 'visual' LIMIT 1").fetchone()
    assert np.frombuffer(blob, dtype=np.float32).shape == (16,)
    np.save(store_dir.parent / "probe.npy", np.frombuffer(blob, dtype=np.float32))
    assert np.load(store_dir.parent / "probe.npy", allow_pickle=False).shape == (16,)


def test_remove_source_drops_segments_vectors_text_and_progress(store_dir):
    keep, drop = make_obs(6, source="keep", seed=1), make_obs(4, source="drop", seed=2)
    drop[0].text = "UNIQUEWORD"
    with EpisodicStore.open(store_dir) as store:
        store.add(keep + drop)
        store.set_progress("drop", t1=4.0)
        assert store.remove_source("drop") == 4
        assert store.sources() == ["keep"] and store.get_progress("drop") is None
        assert store.text_search("uniqueword", k=3) == []
        assert {h.source for h in store.search("visual", drop[0].vectors["visual"], k=10)} == {"keep"}
        assert store.add(make_obs(1, source="drop", seed=3)) == [11]  # ids are not reused
    with EpisodicStore.open(store_dir) as store:  # the saved index matches SQLite: no rebuild needed
        assert store._spaces.indexes["visual"].count == 7 and len(store) == 7


def test_unwritable_folder_opens_read_only(store_dir, monkeypatch):
    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(2))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with EpisodicStore.open(store_dir) as store:
        assert store.read_only and len(store) == 2
        with pytest.raises(StoreError, match="read-only"):
            store.add(make_obs(1))


def test_range_labels_and_windows_answer_from_indexes_and_follow_writes(store_dir):
    """similarities equal a brute-force cosine for every query at once, labelled finds names inside
    longer names, a time window still finds a long segment that starts well before it, and all
    three see new writes."""
    obs = make_obs(60, source="a", seed=3)
    query = obs[10].vectors["visual"]
    with EpisodicStore.open(store_dir) as store:
        store.add(obs + make_obs(20, source="b", seed=4, start=500.0))
        unit = np.stack([o.vectors["visual"] / np.linalg.norm(o.vectors["visual"]) for o in obs])
        queries = np.stack([query, obs[20].vectors["visual"]])
        ids, sims = store.similarities("visual", queries, source="a")
        assert ids.tolist() == list(range(1, 61)) and sims.shape == (60, 2)
        expected = unit @ (queries / np.linalg.norm(queries, axis=1, keepdims=True)).T
        np.testing.assert_allclose(sims, expected, atol=1e-5)
        assert len(store.similarities("visual", query)[0]) == 80  # every source
        assert store.labelled(["TABBY"], source="a") == list(range(1, 61))  # "tabby cat", case ignored
        assert store.labelled(["walrus"], source="a") == []
        assert store.labelled(["tabby", "street"], source="a", min_score=0.75) == list(range(1, 61))  # 0.7 + 0.1
        assert store.labelled(["tabby"], source="a", min_score=0.75) == []
        assert store.labelled(["tabby"], source="a", limit=5) == [1, 2, 3, 4, 5]  # ties: the earliest
        [long_id] = store.add([Obs("a", 0.0, 300.0, vectors={"visual": query, "concept": obs[0].vectors["concept"]},
                                   labels={"walrus": 0.9})])
        assert store.labelled(["walrus"], source="a") == [long_id]  # the write reached the label index
        assert store.modalities("a") == {"video"} and store.modalities() == {"video"}
        assert long_id in [s.id for s in store.segments("a", t0=250.0, t1=251.0)]
        ids, sims = store.similarities("visual", query, source="a")
        assert long_id in ids[sims[:, 0] > 0.99].tolist()
        with pytest.raises(ValueError, match="space"):
            store.similarities("nowhere", query)
        [seg] = store.get([5], vectors=True, spaces=["concept"])
        assert set(seg.vectors) == {"concept"}


def test_reads_and_writes_from_two_threads_never_deadlock(store_dir):
    """A live stream writes while a question reads: text search runs a Python SQL function
    (casefold) per row, which needs the GIL inside SQLite, while the writer holds the GIL and waits
    for SQLite's connection lock. The store serialises its connection, so both finish."""
    import threading

    with EpisodicStore.open(store_dir) as store:
        store.add(make_obs(400, seed=5))
        stop = threading.Event()
        errors: list[BaseException] = []

        def write():
            try:
                for k in range(40):
                    store.add(make_obs(20, seed=100 + k, start=1000.0 + 20 * k))
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)
            finally:
                stop.set()

        def read():
            try:
                while not stop.is_set():
                    store.text_search("frame 3", k=5)
                    store.segments("clip-a", t0=10.0, t1=20.0)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        threads = [threading.Thread(target=write, daemon=True), threading.Thread(target=read, daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a reader and a writer deadlocked on the store"
        assert not errors, errors
        assert len(store) == 400 + 40 * 20
