"""The `agentkit` command: --json, the per-file cache, bad inputs, and resume after a kill."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from agentkit import Answer
from agentkit.cli import app

runner = CliRunner()


def test_ask_json_validates_as_answer(agent, workdir, short_video):
    agent.toolkit.close()  # let the CLI open the store; the fixture's agent reopens on next use
    result = runner.invoke(app, ["ask", str(workdir / "store"), "When is the code word KUMQUAT shown?", "--json"])
    assert result.exit_code == 0, result.output
    answer = Answer.model_validate_json(result.stdout)
    code = next(n for n in short_video.needles if "KUMQUAT" in n.payload)
    assert any(e.t0 <= code.t1 and code.t0 <= e.t1 for e in answer.evidence), answer


def test_ask_human_output_shows_mmss_and_confidence(agent, workdir):
    agent.toolkit.close()
    result = runner.invoke(app, ["ask", str(workdir / "store"), "Which one appears? (a) a giraffe (b) a cat"])
    assert result.exit_code == 0, result.output
    assert "confidence" in result.stdout and "00:2" in result.stdout and "(b) a cat" in result.stdout


def test_ask_a_video_indexes_into_the_per_file_cache_once(tmp_path, monkeypatch, short_video):
    from agentkit.demo_video import synthesize_video, TextNeedle

    clip = synthesize_video(tmp_path / "clip.mp4", 8, size=(320, 180), fps=25,
                            needles=[TextNeedle("CODE WORD: ZEPHYR", t0=3, duration=2)], seed=4)
    monkeypatch.setenv("AGENTKIT_CACHE", str(tmp_path / "cache"))
    first = runner.invoke(app, ["ask", str(clip.path), "When is ZEPHYR shown?", "--json"])
    assert first.exit_code == 0, first.output
    assert "ZEPHYR" in first.stdout
    stores = list((tmp_path / "cache" / "videos").iterdir())
    assert len(stores) == 1 and (stores[0] / "store.json").is_file()
    mtime = (stores[0] / "segments.sqlite").stat().st_mtime_ns
    second = runner.invoke(app, ["ask", str(clip.path), "When is ZEPHYR shown?", "--json"])
    assert second.exit_code == 0 and "indexing" not in second.stderr
    assert Answer.model_validate_json(second.stdout).text == Answer.model_validate_json(first.stdout).text
    assert (stores[0] / "segments.sqlite").stat().st_mtime_ns == mtime  # nothing re-indexed


def _write_tone(path):
    """One second of a 440 Hz tone in a WAV file: a real file with audio and no video."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        samples = (np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 3000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)


def _bad_inputs(tmp_path, short_video):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(os.urandom(50_000))
    text = tmp_path / "notes.txt"
    text.write_text("just some text, not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(short_video.path.read_bytes()[:3000])
    audio = tmp_path / "tone.wav"
    _write_tone(audio)
    folder = tmp_path / "some_folder"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    return [
        (["index", str(tmp_path / "missing.mp4")], "missing.mp4"),
        (["index", str(empty)], "empty.mp4"),
        (["index", str(noise)], "noise.mp4"),
        (["index", str(text)], "notes.txt"),
        (["index", str(truncated)], "truncated.mp4"),
        (["index", str(folder)], "some_folder"),
        (["index", str(audio)], "tone.wav"),
        (["index", str(short_video.path), "--store", str(text)], "notes.txt"),
        (["index", str(short_video.path), "--fps", "0"], "fps"),
        (["ask", str(folder), "what is shown?"], "some_folder"),
        (["ask", str(tmp_path / "missing.mp4"), "what is shown?"], "missing.mp4"),
        (["ask", str(noise), "what is shown?"], "noise.mp4"),
        (["ask", str(short_video.path), "   "], "question"),
    ]


def test_bad_inputs_give_one_line_and_exit_1(tmp_path, monkeypatch, short_video):
    monkeypatch.setenv("AGENTKIT_CACHE", str(tmp_path / "cache"))
    for args, named in _bad_inputs(tmp_path, short_video):
        result = runner.invoke(app, args)
        err = result.stderr.strip()
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output, (args, result.output)
        assert len(err.splitlines()) == 1 and err.startswith("error:"), (args, err)
        assert named in err, (args, err)
        assert result.exception is None or isinstance(result.exception, SystemExit)


def _segments(store):
    from memory.store import EpisodicStore

    with EpisodicStore.open(store, read_only=True) as s:
        return [(x.source, x.t0, x.t1, x.text, tuple(sorted(x.labels))) for x in s.segments()]


def _progress(store):
    from memory.store import EpisodicStore

    if not (store / "store.json").exists():
        return 0
    try:
        with EpisodicStore.open(store, read_only=True) as s:
            return len(s)
    except Exception:  # mid-creation: try again
        return 0


def test_resume_after_kill_matches_an_uninterrupted_run(agent, tmp_path, short_video, short_source):
    """Kill `agentkit index` once some chunks are stored, re-run it, compare with the fixture's run."""
    store = tmp_path / "resumed"
    cmd = [sys.executable, "-m", "agentkit.cli", "index", str(short_video.path), "--store", str(store), "--chunk", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    killed_at = 0
    while time.monotonic() < deadline and proc.poll() is None:
        killed_at = _progress(store)
        if killed_at >= 4:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the indexer finished before it could be interrupted"
    partial = _segments(store)
    assert len(partial) >= 4
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = _segments(store)
    assert resumed[: len(partial)] == partial  # what was stored before the kill is kept as is
    agent.toolkit.close()
    reference = [s for s in _segments(agent.toolkit.store_dir) if s[0] == short_source]
    assert len(partial) < len(reference)  # it really was interrupted mid-way
    assert [s[1:3] for s in resumed] == [s[1:3] for s in reference]  # same spans, no duplicates
    assert len({s[1:3] for s in resumed}) == len(resumed)
    assert [s[3] for s in resumed] == [s[3] for s in reference]
