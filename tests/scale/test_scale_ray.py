"""`agentkit index FOLDER --store DIR --engine ray` on a local Ray cluster (2 CPUs) started here.

The serial command is the reference: Ray workers must store the same segments (times, labels,
text), answer the needle questions the same, and survive a killed worker or an interrupted job
with no segment lost or stored twice.
"""
from __future__ import annotations

import os
import signal
import sys

import pytest
from scale_testkit import label_scores, segments
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from agentkit.cli import app  # noqa: E402
from agentkit.scale import RayPool, index_videos, plan_videos  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(cluster):
    """Two workers, shared by the tests of this module (they load their models meanwhile)."""
    with RayPool(2) as p:
        yield p


@pytest.fixture(scope="module")
def serial_store(tmp_path_factory, video_folder):
    """The folder indexed by the serial command (`Agent.index`, one file after another)."""
    store = tmp_path_factory.mktemp("serial") / "store"
    result = runner.invoke(app, ["index", str(video_folder), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "indexed 2 videos" in result.stdout
    return store


def test_eeg_reports_on_ray_workers_match_the_serial_ones(tmp_path, cluster, eeg_folder):
    # First in this module: its two workers take the cluster's 2 CPUs before the video pool does.
    from agentkit.scale.eeg_job import eeg_actors, report_recordings

    serial = report_recordings([eeg_folder], tmp_path / "serial")
    actors, owns = eeg_actors(2)
    assert not owns  # the test's cluster is used as it is
    try:
        on_ray = report_recordings([eeg_folder], tmp_path / "ray", pool=actors)
    finally:
        for a in actors:
            ray.kill(a)
    assert on_ray["recordings"] == serial["recordings"] and (on_ray["done"], on_ray["failed"]) == (2, 1)
    for row in serial["recordings"]:
        if "report" in row:
            assert (tmp_path / "ray" / row["report"]).read_text() == (tmp_path / "serial" / row["report"]).read_text()


def test_ray_and_serial_store_the_same_segments(tmp_path, monkeypatch, pool, serial_store, video_folder):
    import agentkit.scale

    class Borrowed:  # the command's pool is the module's (models already loaded); it is not closed
        def __init__(self, workers, address=None):
            assert workers == 2 and address is None
            self.size, self.ready, self.run = pool.size, pool.ready, pool.run

        def close(self):
            pass

    monkeypatch.setattr(agentkit.scale, "RayPool", Borrowed)
    store = tmp_path / "ray"
    result = runner.invoke(app, ["index", str(video_folder), "--store", str(store), "--engine", "ray", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "on 2 workers" in result.stdout and "a.mp4" in result.stdout and "b.mp4" in result.stdout
    reference = segments(serial_store)
    assert len({s[0] for s in reference}) == 2 and len(reference) >= 8
    assert segments(store) == reference
    for ours, theirs in zip(label_scores(store), label_scores(serial_store)):
        assert ours == pytest.approx(theirs, abs=1e-4)
    texts = " ".join(s[3] for s in reference)
    assert "PARKING" in texts and "KUMQUAT" in texts
    # the same answers to the needle questions
    from agentkit import Agent

    answers = []
    for folder in (serial_store, store):
        with Agent.default(store=folder, read_only=True) as agent:
            answers.append([(a.text, [(e.t0, e.t1) for e in a.evidence])
                            for a in (agent.ask("when does the cat appear?"), agent.ask("what is the code word?"))])
    assert answers[0] == answers[1]
    assert "KUMQUAT" in answers[0][1][0].upper()
    # indexing again finds every file complete and stores nothing
    again = index_videos(plan_videos([video_folder]), store, pool=pool)
    assert [f.n_new for f in again.files] == [0, 0] and segments(store) == reference


def test_a_worker_killed_mid_job_loses_and_repeats_nothing(tmp_path, pool, serial_store, video_folder):
    before = pool.pids()
    killed = []

    def kill_once(done, total):
        if done > 0 and not killed:
            killed.append(before[0])
            os.kill(before[0], signal.SIGKILL)

    report = index_videos(plan_videos([video_folder]), tmp_path / "store", pool=pool, progress=kill_once)
    assert killed and report.frames == 28
    after = pool.pids()
    assert after[0] != before[0] and after[1] == before[1]  # Ray restarted the killed worker only
    assert segments(tmp_path / "store") == segments(serial_store)


def test_an_interrupted_job_resumes_with_nothing_lost_or_doubled(tmp_path, pool, serial_store, video_folder):
    store = tmp_path / "store"
    files = plan_videos([video_folder])

    def interrupt(done, total):  # Ctrl-C once some segments are committed
        if (store / "store.json").exists() and len(segments(store)) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_videos(files, store, pool=pool, progress=interrupt)
    partial = segments(store)
    reference = segments(serial_store)
    assert 0 < len(partial) < len(reference)  # it really stopped mid-way, after some commits
    report = index_videos(files, store, pool=pool)
    resumed = segments(store)
    assert set(partial) <= set(resumed)  # what was stored before the interruption is kept as is
    assert resumed == reference
    assert sum(f.n_new for f in report.files) == len(reference) - len(partial)


def test_ray_asked_for_but_missing_is_one_clear_line(tmp_path, monkeypatch, video_folder):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    result = runner.invoke(app, ["index", str(video_folder), "--store", str(tmp_path / "s"), "--engine", "ray"])
    assert result.exit_code == 1
    assert "needs Ray" in result.stderr and "agentkit[scale]" in result.stderr


def test_bad_paths_in_a_job_are_named_before_any_work(tmp_path, video_folder):
    broken = tmp_path / "more"
    broken.mkdir()
    (broken / "broken.mp4").write_bytes(os.urandom(4000))
    store = tmp_path / "s"
    for args, named in [([str(video_folder), str(tmp_path / "gone.mp4")], "gone.mp4"),
                        ([str(video_folder), str(broken)], "broken.mp4"),
                        ([str(video_folder)], "--store")]:
        extra = ["--store", str(store)] if named != "--store" else []
        result = runner.invoke(app, ["index", *args, *extra, "--engine", "ray"])
        err = result.stderr.strip()
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert err.startswith("error:") and named in err, err
    assert not store.exists()  # nothing was written

