"""`agentkit eeg report` and `agentkit eeg ask` end to end, and answers over memory records."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentkit.eeg.ask import ListReader, answer_eeg
from agentkit.eeg.cli import eeg_app
from perception.eeg import observations

runner = CliRunner()


def test_report_json_and_png(synth_edf, tmp_path):
    png = tmp_path / "t.png"
    res = runner.invoke(eeg_app, ["report", str(synth_edf), "--json", "--png", str(png)])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["duration_s"] == 120.0 and rep["sfreq_hz"] == 256.0 and len(rep["channels"]) == 12
    assert rep["recipe"]["mains"] == 60.0 and len(rep["recipe_hash"]) == 64
    assert set(rep["bad_channels"]) == {"F4", "C4"}
    assert all(0 <= s["confidence"] <= 1 for s in rep["statements"])
    events = [s for s in rep["statements"] if s["section"] == "events" and "Alpha rhythm" in s["text"]]
    assert events and abs(events[0]["spans"][0][0] - 47.0) <= 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_text_on_real_pyedflib_file(pyedflib_edf):
    res = runner.invoke(eeg_app, ["report", str(pyedflib_edf)])
    assert res.exit_code == 0, res.output
    assert "600.0 s recorded at 200 Hz" in res.stdout
    assert "[abstains] Blinks cannot be assessed: no frontal channel" in res.stdout


def test_bad_file_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "x.edf"
    bad.write_bytes(b"garbage" * 100)
    res = runner.invoke(eeg_app, ["report", str(bad)])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [f"error: {bad}: not an EDF/BDF file (the version field must be '0' or '\\xffBIOSEMI')"]


def test_bad_store_is_one_line_exit_1(synth_edf, tmp_path):
    """A store path that is a file: the memory's StoreError ends the command like bad input does."""
    not_a_store = tmp_path / "store"
    not_a_store.write_text("not a store")
    res = runner.invoke(eeg_app, ["ask", str(synth_edf), "which channels were bad?", "--store", str(not_a_store)])
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors == [f"error: {not_a_store}: is a file, not a store folder"] and "Traceback" not in res.output


@pytest.fixture(scope="module")
def reader(synth_analysis):
    return ListReader(observations(synth_analysis, source="eeg1", offset=0.0))


@pytest.mark.parametrize("question,expect", [
    ("were there blink artifacts?", "Yes: 3 blink"),
    ("which channels were bad?", "Bad channels: F4, C4."),
    ("is 01:10-01:20 eyes-open or eyes-closed?", "Most likely eyes closed"),
    ("is 00:10 to 00:20 eyes open or eyes closed?", "Most likely eyes open"),
    ("when was the 'stimulus' marker?", "1 annotation(s), first at 01:00"),
])
def test_answers(reader, question, expect):
    ans = answer_eeg(question, reader, "eeg1")
    assert ans is not None and ans.text.startswith(expect), ans.text
    assert not ans.abstained and ans.evidence


def test_alpha_highest_points_inside_the_alpha_episode(reader):
    ans = answer_eeg("when was alpha power highest?", reader, "eeg1")
    assert ans.evidence and all(ev.t0 >= 46.0 for ev in ans.evidence)


@pytest.mark.parametrize("span,state", [("00:10-00:30", "eyes open"), ("01:00-01:30", "eyes closed"),
                                        ("70 s", "eyes closed")])
def test_eyes_question_reads_the_asked_span(reader, span, state):
    """The synthetic posterior 10 Hz rhythm starts at 47 s: the span written in the question decides."""
    ans = answer_eeg(f"is {span} eyes open or eyes closed?", reader, "eeg1")
    assert not ans.abstained and f"Most likely {state}" in ans.text
    lo, hi = {"00:10-00:30": (10, 30), "01:00-01:30": (60, 90), "70 s": (68, 72)}[span]
    assert ans.evidence and all(e.t1 > lo and e.t0 < hi for e in ans.evidence)


def test_non_eeg_question_falls_through(reader):
    assert answer_eeg("what colour is the car?", reader, "eeg1") is None


def test_ask_cli_with_offset_shares_the_time_axis(synth_edf):
    res = runner.invoke(eeg_app, ["ask", str(synth_edf), "were there blink artifacts?", "--offset", "100", "--json"])
    assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert abs(ans["evidence"][0]["t0"] - 119.9) < 0.2 and ans["evidence"][0]["source"].startswith("eeg:")


def test_ask_human_output_matches_the_video_ask(synth_edf):
    """Same printer as `agentkit ask`: question, answer, confidence, evidence spans as mm:ss."""
    res = runner.invoke(eeg_app, ["ask", str(synth_edf), "were there blink artifacts?"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "were there blink artifacts?" and lines[2].startswith("confidence ")
    assert any(line.strip().startswith("00:19-00:20") for line in lines[3:])  # blink at file time 19.9 s


def test_abstains_without_frontal_channels(pyedflib_edf):
    res = runner.invoke(eeg_app, ["ask", str(pyedflib_edf), "were there blink artifacts?", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["abstained"] is True


def test_other_questions_go_through_the_controller(reader):
    from agentkit.eeg.ask import ask_memory

    ans = ask_memory("does stimulus appear?", reader, "eeg1")
    assert not ans.abstained and any(abs(ev.t0 - 60.0) < 0.01 for ev in ans.evidence)
    colour = ask_memory("what colour is the car?", reader, "eeg1")
    assert colour.abstained and colour.value.declined == "unsupported"
    outline = ask_memory("Summarize the recording", reader, "eeg1")  # a summary reads the same records
    assert outline.kind == "summary" and outline.evidence and outline.evidence[0].source == "eeg1"


def test_shared_store_keeps_offset_and_does_not_duplicate(synth_edf, tmp_path):
    from memory import EpisodicStore

    store = tmp_path / "store"
    for _ in range(2):
        res = runner.invoke(eeg_app, ["ask", str(synth_edf), "which channels were bad?", "--store", str(store),
                                      "--offset", "30", "--source", "eeg-a", "--json"])
        assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert ans["text"] == "Bad channels: F4, C4." and ans["evidence"][0]["t0"] == 30.0
    with EpisodicStore.open(store, read_only=True) as st:
        segs = st.segments(source="eeg-a")
        windows = [s for s in segs if s.kind == "window"]
        assert len(windows) == 119 and all(s.modality == "eeg" and len(s.meta["recipe"]) == 64 for s in segs)
        assert min(s.t0 for s in windows) == 30.0


def test_eeg_and_video_share_one_store_and_clock(synth_analysis, tmp_path):
    import numpy as np

    from agentkit.eeg.session import remember
    from agentkit.memory_view import MemoryView
    from perception.types import Observation

    store = tmp_path / "shared"
    # a video segment written first, as the video indexer would (its own vector space)
    view = MemoryView.open(store)
    vec = np.random.default_rng(0).normal(size=384).astype(np.float32)
    view.write_chunk("video-1", [Observation(source="video-1", t0=140.0, t1=150.0, modality="video",
                                             vectors={"concept": vec / np.linalg.norm(vec)},
                                             labels={"person": 0.9}, text="")])
    view.mark_done("video-1", 150.0)
    view.close()
    reader = remember(synth_analysis, source="eeg-1", offset=100.0, store=store)  # EEG starts at video 100 s
    assert set(reader.sources()) == {"video-1", "eeg-1"}
    ans = answer_eeg("were there blink artifacts?", reader, "eeg-1")
    assert [round(e.t0) for e in ans.evidence] == [120, 135, 180]  # file times 20, 35, 80 s + 100 s
    # records of both modalities overlap on the shared clock around video time 145 s
    near = [r for r in reader.records(None) if r.t0 <= 145.0 <= r.t1]
    assert {r.source for r in near} == {"video-1", "eeg-1"}
    # the agent's graph answers the same EEG question from the shared store (no model needed)
    from agentkit import Agent

    agent = Agent.default(store=store, read_only=True)
    try:
        via_agent = agent.ask("were there blink artifacts?")
    finally:
        agent.close()
    assert [round(e.t0) for e in via_agent.evidence] == [120, 135, 180]
    assert {e.source for e in via_agent.evidence} == {"eeg-1"}


def test_train_command_saves_a_calibrated_model(tmp_path):
    from perception.eeg.transformer import load

    res = runner.invoke(eeg_app, ["train", "EyesOpenShut", "--out", str(tmp_path / "m"), "--encoder", "transformer",
                                  "--patch", "16", "--group", "2", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert "test: accuracy" in res.stdout and "on 42 trials" in res.stdout
    model = load(tmp_path / "m")
    assert model.cfg.sfreq == 128.0 and model.cfg.temperature > 0 and model.cfg.classes == ["0", "1"]
