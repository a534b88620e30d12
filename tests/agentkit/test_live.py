"""Live streams: bounded queue with newest-wins drops, chunked writes with coverage, asking from
another thread mid-stream, and the needles found after a clean stop.

The fast tests use a small stand-in frame encoder (optionally slow) so drops are certain; the
tests on `live_run` run the default models on the short composed video of conftest.py.
"""
from __future__ import annotations

import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from agentkit import Agent
from agentkit.live import LiveSettings, LiveStreamError, check_frame
from agentkit.toolkit import Toolkit
from perception.image.encoder import FrameFeatures

LIVE = "camera"


class StandInEncoder:
    """Frame encoder contract with 4-d vectors: the frame's mean colour (and a constant)."""

    dim = 4
    concept_dim = 4

    def __init__(self, delay: float = 0.0, fail_after: int | None = None):
        self.delay, self.fail_after, self.calls, self.shapes = delay, fail_after, 0, []

    def encode(self, images):
        self.calls += 1
        self.shapes += [np.asarray(im).shape for im in images]
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("stand-in encoder broke")
        time.sleep(self.delay * len(images))
        v = np.array([[*(np.asarray(im, np.float32).mean(axis=(0, 1)) / 255.0), 1.0] for im in images], np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return FrameFeatures(visual=v, concept=v.copy(), labels=[{"thing": 0.9} for _ in images])

    def embed_text(self, texts):
        v = np.array([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(4) for t in texts], np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _agent(folder, encoder=None) -> Agent:
    agent = Agent(Toolkit(store_dir=folder, use_ocr=False))
    agent.toolkit.set_model("frame_encoder", encoder or StandInEncoder())
    return agent


def _frame(i: int, size=(36, 64)) -> np.ndarray:
    """A frame whose colour changes a lot from one index to the next (every frame is kept)."""
    palette = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230], [230, 230, 20], [20, 230, 230]], np.uint8)
    img = np.empty((*size, 3), np.uint8)
    img[:] = palette[i % len(palette)]
    img[: size[0] // 2, : size[1] // 2] = palette[(i + 2) % len(palette)]
    return img


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("frame, t, match", [
    (np.zeros((8, 8, 3), np.float32), 0.0, "uint8 RGB, got dtype float32 .*astype"),
    (np.zeros((8, 8), np.uint8), 0.0, r"shape \(H, W, 3\), got \(8, 8\) .*grey"),
    (np.zeros((8, 8, 4), np.uint8), 0.0, "alpha"),
    (np.zeros((3, 8, 8), np.uint8), 0.0, "channels first"),
    (np.zeros((1, 8, 3), np.uint8), 0.0, "at least 2x2"),
    ([[0, 0, 0]], 0.0, "numpy RGB array or an av.VideoFrame, got list"),
    (np.zeros((8, 8, 3), np.uint8), None, "t .* is required"),
    (np.zeros((8, 8, 3), np.uint8), float("nan"), "finite"),
    (np.zeros((8, 8, 3), np.uint8), -1.0, ">= 0"),
    (np.zeros((8, 8, 3), np.uint8), "3", "must be a number of seconds, got str"),
])
def test_bad_frames_name_the_problem(frame, t, match):
    with pytest.raises((TypeError, ValueError), match=match):
        check_frame(frame, t)


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="queue_size must be a positive int, got 0"):
        LiveSettings(queue_size=0)
    with pytest.raises(ValueError, match="max_fps must be a positive number or None"):
        LiveSettings(max_fps=-1)


def test_time_must_increase_and_observe_after_close_fails(tmp_path):
    with _agent(tmp_path / "s") as agent:
        stream = agent.live(LIVE)
        stream.observe(_frame(0), 1.0)
        with pytest.raises(ValueError, match="t must increase: got 1 s, not after the previous frame's 1 s"):
            stream.observe(_frame(1), 1.0)
        with pytest.raises(ValueError, match="got 0.5 s"):
            stream.observe(_frame(1), 0.5)
        with pytest.raises(LiveStreamError, match="still open"):
            agent.live("other")
        stream.close()
        with pytest.raises(LiveStreamError, match=r"closed: observe\(\) after close\(\)"):
            stream.observe(_frame(2), 2.0)
        with pytest.raises(LiveStreamError, match="closed"):
            agent.observe(_frame(2), 2.0)
        # a stream continued under the same id must start after what memory holds
        with pytest.raises(ValueError, match=r"memory already holds source 'camera' up to 1.04 s; continue after that, or use a new source id"):
            agent.live(LIVE).observe(_frame(3), 0.5)


def test_read_only_agent_cannot_stream(tmp_path):
    _agent(tmp_path / "s").close()
    agent = Agent(Toolkit(store_dir=tmp_path / "s", use_ocr=False, read_only=True))
    with pytest.raises(ValueError, match="read_only=False"):
        agent.live()
    agent.close()


def test_perception_failure_reaches_the_caller(tmp_path):
    agent = _agent(tmp_path / "s", StandInEncoder(fail_after=1))
    stream = agent.live(LIVE, batch_size=1)
    stream.observe(_frame(0), 0.0)
    stream.observe(_frame(1), 0.1)
    with pytest.raises(LiveStreamError, match="perception failed .*stand-in encoder broke"):
        stream.flush(timeout=10)
    with pytest.raises(LiveStreamError, match="stand-in encoder broke"):
        stream.observe(_frame(2), 0.2)
    with pytest.raises(LiveStreamError):
        agent.close()


# ---- queueing and writing --------------------------------------------------------------------
def test_fast_stream_drops_oldest_counts_and_stays_bounded(tmp_path):
    """300 frames arrive at once; perception takes 10 ms per frame: most are dropped (newest wins)."""
    with _agent(tmp_path / "s", StandInEncoder(delay=0.01)) as agent:
        stream = agent.live(LIVE, queue_size=4, batch_size=2, chunk_size=4)
        for i in range(300):
            assert stream.observe(_frame(i), 0.1 * i) is True
            assert stream.stats().queued <= 4
        stats = stream.close()
        assert stats.received == 300 and stats.dropped > 100
        assert stats.taken + stats.dropped == 300
        assert stats.max_queued == 4 and stats.queued == 0
        assert stats.kept == stats.taken == stats.written  # every frame differs: each is a segment
        assert stats.drop_rate == pytest.approx(stats.dropped / 300)
        segs = agent.toolkit.memory.store.segments(source=LIVE)
        assert len(segs) == stats.written
        assert max(s.t0 for s in segs) == pytest.approx(29.9)  # the newest frame always survives
        assert agent.progress(LIVE) == (pytest.approx(stats.covered_until), True)


def test_max_fps_thins_on_arrival(tmp_path):
    with _agent(tmp_path / "s") as agent:
        stream = agent.live(LIVE, max_fps=2.0)
        taken = [stream.observe(_frame(i), i / 10) for i in range(20)]  # 10 fps offered
        assert taken.count(True) == 4 and stream.stats().thinned == 16
        assert stream.close().dropped == 0


def test_redundant_frames_extend_a_segment_and_coverage_uses_stream_time(tmp_path):
    """A robot clock starting at 1000 s; a static scene is one segment, re-kept every max_gap."""
    with _agent(tmp_path / "s") as agent:
        stream = agent.live(LIVE, max_gap=1.0, queue_size=64)
        for i in range(25):  # 2.5 s of the same picture at 10 fps
            stream.observe(_frame(0), 1000.0 + i / 10)
        stats = stream.flush(timeout=30)
        assert stats.taken == 25 and stats.kept == 3  # at 1000.0, 1001.0 and 1002.0
        cov = stream.coverage()
        assert cov.seen == [(1000.0, 1002.0)] and not cov.complete and cov.indexing
        stream.close()
        segs = sorted(agent.toolkit.memory.store.segments(source=LIVE), key=lambda s: s.t0)
        assert [(s.t0, s.t1) for s in segs] == [(1000.0, 1001.0), (1001.0, 1002.0), (1002.0, pytest.approx(1002.5))]
        assert [s.meta["frames"] for s in segs] == [10, 10, 5]
        cov = stream.coverage()
        assert cov.complete and not cov.indexing and cov.seen == [(1000.0, pytest.approx(1002.5))]


def test_pyav_frames_are_accepted_with_their_own_time(tmp_path):
    av = pytest.importorskip("av")
    frame = av.VideoFrame.from_ndarray(_frame(1), format="rgb24")
    frame.pts, frame.time_base = 50, __import__("fractions").Fraction(1, 25)
    arr, t = check_frame(frame, None)
    assert t == 2.0 and arr.shape == (36, 64, 3) and arr.dtype == np.uint8
    agent = _agent(tmp_path / "s")
    assert agent.observe(frame) is True  # opens the default stream, source "live"
    agent.close()  # closes the stream: its one frame is written
    with _agent(tmp_path / "s") as again:
        assert [s.t0 for s in again.toolkit.memory.store.segments(source="live")] == [2.0]
        assert again.progress("live") == (pytest.approx(2.04), True)


def test_any_frame_size_is_taken_and_large_frames_are_reduced_first(tmp_path):
    """Tiny, odd and 720p frames; the encoder sees a 1280x720 frame halved (area mean)."""
    encoder = StandInEncoder()
    with _agent(tmp_path / "s", encoder) as agent:
        stream = agent.live(LIVE, queue_size=16, skip=False)
        for i, size in enumerate([(5, 7), (17, 33), (181, 319), (720, 1280), (1080, 1920)]):
            stream.observe(_frame(i, size), float(i))
        stats = stream.close()
    assert stats.kept == 5 and stats.dropped == 0
    assert encoder.shapes == [(5, 7, 3), (17, 33, 3), (181, 319, 3), (360, 640, 3), (360, 640, 3)]


# ---- with the default models ---------------------------------------------------------------------
def _video_frames(path, fps: float, keep_all=(0.0, 0.0)):
    """(t, RGB frame, on the ``fps`` grid) of a video file decoded with PyAV: the frames on the grid,
    and every frame within ``keep_all`` (a time range)."""
    import av

    with av.open(str(path)) as container:
        next_t = 0.0
        for frame in container.decode(video=0):
            t = float(frame.time)
            on_grid = t + 1e-6 >= next_t
            if on_grid:
                next_t += 1.0 / fps
            if on_grid or keep_all[0] <= t < keep_all[1]:
                yield t, frame.to_ndarray(format="rgb24"), on_grid


@pytest.fixture(scope="module")
def live_run(tmp_path_factory, short_video):
    """The short video as a camera: 0-20 s at 2 fps, fed no faster than perception takes it; then
    a question from another thread while 20-25 s arrives as a burst of every 25 fps frame (far
    faster than perception: frames are dropped), then 25-40 s at 2 fps again; then the stream
    is closed."""
    agent = Agent.default(store=tmp_path_factory.mktemp("live") / "store")
    agent.load_models()
    stream = agent.live(LIVE, queue_size=8)
    stream.watch("cat", "first")
    frames = list(_video_frames(short_video.path, fps=2.0, keep_all=(20.0, 25.0)))

    def paced(a, b):
        for i, (t, f) in enumerate((t, f) for t, f, on_grid in frames if a <= t < b and on_grid):
            stream.observe(f, t)
            if i % 4 == 3:
                stream.flush(timeout=300)

    paced(0.0, 20.0)
    stream.flush(timeout=300)
    cat_at_20 = stream.watched("cat")
    with ThreadPoolExecutor(1) as pool:
        mid = pool.submit(agent.ask, "what does the sign say?", budget_ms=60_000)
        burst = [(t, f) for t, f, _ in frames if 20.0 <= t < 25.0]
        for t, f in burst:
            stream.observe(f, t)
        after_burst = stream.stats()
        paced(25.0, 40.0)
        mid_answer = mid.result(timeout=300)
    stats = stream.close(timeout=300)
    yield agent, stats, mid_answer, (stream, cat_at_20, after_burst, len(burst))
    agent.close()


def test_ask_mid_stream_says_which_stream_time_it_covers(live_run):
    agent, _, mid, _ = live_run
    cov = {c.source: c for c in mid.coverage}[LIVE]
    assert not cov.complete and cov.seen and cov.seen[0][0] == 0.0
    assert 18.0 <= cov.seen[0][1] < 40.0
    assert "NO PARKING" in mid.text.upper()
    assert any("memory covers 0.0-" in n for n in mid.notices)


def test_burst_drops_are_counted_and_the_queue_stays_bounded(live_run):
    _, stats, _, (_, _, after_burst, n_burst) = live_run
    assert n_burst == 125 and after_burst.dropped > 0  # 125 frames in well under a second
    assert after_burst.max_queued == 8 and stats.max_queued == 8
    assert stats.received == 40 + n_burst + 30 and stats.taken + stats.dropped == stats.received
    # afterwards only burst frames still waiting can be dropped (the paced frames push them out)
    assert after_burst.dropped <= stats.dropped <= after_burst.dropped + 8


def test_needles_found_after_stop(live_run):
    agent, stats, _, _ = live_run
    assert stats.covered_until >= 39.0
    answer = agent.ask("what is the code word?")
    assert "KUMQUAT" in answer.text.upper()
    cat = agent.ask("when does the cat appear?")
    assert cat.evidence and any(e.t0 < 29.0 and e.t1 > 25.0 for e in cat.evidence[:2]), cat.evidence
    cov = {c.source: c for c in cat.coverage}[LIVE]
    assert cov.complete and cov.seen[0][1] >= 39.0


def test_a_watch_follows_the_stream_online(live_run):
    """The gated reader steps once per closed segment and stops reading once the first cat ended."""
    _, stats, _, (stream, at_20, _, _) = live_run
    assert not at_20.found and at_20.read > 0  # by 20 s no cat yet (it is shown at 26-28 s)
    found = stream.watched("cat")
    cat = found.first["cat"]
    assert cat.t0 < 29.0 and cat.t1 > 25.0 and cat.peak > 0.5
    assert found.exited and found.read < stats.written
    with pytest.raises(KeyError, match="no watch on 'dog'"):
        stream.watched("dog")


def test_watch_checks_its_goal(tmp_path):
    with _agent(tmp_path / "s") as agent:
        stream = agent.live(LIVE)
        with pytest.raises(ValueError, match="goal must be 'exists', 'first', 'nth', 'count' or 'duration'.*got 'last'"):
            stream.watch("cat", "last")
        stream.watch("thing", "count")  # the stand-in encoder has no label names: a vector cue
        for i in range(5):
            stream.observe(_frame(i), float(i))
        stream.close()
        assert stream.watched("thing").read == 5


def test_a_crash_mid_stream_loses_at_most_the_unwritten_chunk(tmp_path):
    """The process dies (no close) after a flush and more frames: the store opens, holds what was
    written, and its progress says up to where."""
    import subprocess
    import sys

    code = f"""
import os, sys, numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_live import _agent, _frame
agent = _agent({str(tmp_path / "s")!r})
stream = agent.live("camera", queue_size=16, chunk_size=4, flush_seconds=60.0)
for i in range(10):
    stream.observe(_frame(i), float(i))
stream.flush(timeout=30)
for i in range(10, 13):
    stream.observe(_frame(i), float(i))
os._exit(3)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    with _agent(tmp_path / "s") as agent:
        until, done = agent.progress("camera")
        segs = agent.toolkit.memory.store.segments(source="camera")
        assert not done and until == 9.0 and len(segs) == 9  # 0-9 s written; the open 9 s segment and 10-12 s lost
        assert max(s.t1 for s in segs) == until
        with agent.live("camera") as stream:  # continues after what memory holds
            with pytest.raises(ValueError, match="up to 9 s"):
                stream.observe(_frame(0), 8.0)
            stream.observe(_frame(1), 10.0)
        assert agent.progress("camera") == (pytest.approx(10.04), True)
