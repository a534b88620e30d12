"""BIDS input: `agentkit eeg report/ask ROOT --subject ... --task ...`, written by mne-bids itself."""
from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from agentkit.eeg.cli import eeg_app
from perception.eeg.bids import bids_events, find_bids_recording
from perception.errors import InputError

runner = CliRunner()


@pytest.fixture(scope="module")
def bids_root(synth_edf, tmp_path_factory):
    """A BIDS dataset with two runs of task 'rest' of subject 01 (the generated EDF), written by
    mne-bids; run 1's events.tsv gets a 'target' row at 90 s that the EDF does not hold."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    root = tmp_path_factory.mktemp("bids")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for run in ("1", "2"):
            raw = mne.io.read_raw_edf(synth_edf, preload=False, verbose="error")
            raw.info["line_freq"] = 60.0
            write_raw_bids(raw, BIDSPath(root=root, subject="01", task="rest", run=run, datatype="eeg"),
                           overwrite=True, verbose="error")
    events = next(root.rglob("*run-1_events.tsv"))
    header = events.read_text().splitlines()[0].split("\t")
    row = {"onset": "90.0", "duration": "0.5", "trial_type": "target"}
    with open(events, "a") as fh:
        fh.write("\t".join(row.get(c, "n/a") for c in header) + "\n")
    return root


def test_find_recording_and_events(bids_root):
    ref = find_bids_recording(bids_root, "01", task="rest", run="1")
    assert ref.data.name == "sub-01_task-rest_run-1_eeg.edf" and ref.events is not None
    texts = {(round(a.onset), a.description) for a in bids_events(ref.events)}
    assert {(30, "eyes closed cue"), (60, "stimulus"), (90, "target")} <= texts


def test_bad_bids_selections_name_the_root_and_the_problem(bids_root, tmp_path):
    with pytest.raises(InputError, match=r"2 EEG recordings match subject=01 task=rest: .*run-1.*run-2.*--run"):
        find_bids_recording(bids_root, "01", task="rest")
    with pytest.raises(InputError, match=r"no subject '02'; subjects here: \['01'\]"):
        find_bids_recording(bids_root, "02")
    with pytest.raises(InputError, match=r"no EEG recording .* for subject=01 task=sleep"):
        find_bids_recording(bids_root, "01", task="sleep")
    with pytest.raises(InputError, match="not a BIDS root: dataset_description.json is missing"):
        find_bids_recording(tmp_path, "01")


def test_report_and_ask_read_a_bids_recording_with_its_events(bids_root):
    res = runner.invoke(eeg_app, ["report", str(bids_root), "--subject", "01", "--task", "rest", "--run", "1", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["path"].endswith("sub-01_task-rest_run-1_eeg.edf") and rep["duration_s"] == 120
    texts = [s["text"] for s in rep["statements"]]
    assert any('01:30: "target"' in t for t in texts) and sum('"stimulus"' in t for t in texts) == 1  # not twice
    res = runner.invoke(eeg_app, ["ask", str(bids_root), "when was the 'target' marker?", "--subject", "01",
                                  "--task", "rest", "--run", "1", "--json"])
    assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert not ans["abstained"] and [round(e["t0"]) for e in ans["evidence"]] == [90]
    # run 2's events.tsv has no target row: the same question finds nothing there
    res = runner.invoke(eeg_app, ["ask", str(bids_root), "when was the 'target' marker?", "--subject", "01",
                                  "--task", "rest", "--run", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["evidence"] == []
    res = runner.invoke(eeg_app, ["report", str(bids_root), "--subject", "01", "--task", "rest"])
    assert res.exit_code == 1 and "2 EEG recordings match" in res.output
    res = runner.invoke(eeg_app, ["report", str(bids_root), "--task", "rest"])
    assert res.exit_code != 0 and "--subject" in res.output


def test_train_on_trials_cut_around_bids_events(tmp_path):
    # a generated recording whose 'rhythm' events start 1 s of a 10 Hz source on C3 and C4 and
    # whose 'rest' events start nothing: trials cut around the events.tsv rows are separable
    import mne
    import numpy as np
    from mne_bids import BIDSPath, write_raw_bids

    from perception.eeg.bids import bids_trials
    from perception.eeg.edf import write_edf
    from perception.eeg.encoders import load_encoder

    fs, seconds = 128.0, 200
    rng = np.random.default_rng(0)
    t = np.arange(int(fs * seconds)) / fs
    x = rng.normal(0, 10, (4, t.size))
    kinds = rng.permutation(["rest", "rhythm"] * 49)
    onsets = 2.0 + 2.0 * np.arange(len(kinds))
    for onset, kind in zip(onsets, kinds):
        if kind == "rhythm":
            sel = (t >= onset) & (t < onset + 1.0)
            x[:2, sel] += 30 * np.sin(2 * np.pi * 10 * t[sel] + rng.uniform(0, 6))
    edf = write_edf(tmp_path / "cued.edf", x, fs, ["C3", "C4", "Pz", "Oz"],
                    annotations=[(float(o), 1.0, str(k)) for o, k in zip(onsets, kinds)])
    root = tmp_path / "bids"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mne.io.read_raw_edf(edf, preload=False, verbose="error")
        raw.info["line_freq"] = 50.0
        write_raw_bids(raw, BIDSPath(root=root, subject="07", task="cue", datatype="eeg"), verbose="error")
    trials, names = bids_trials(root, "07", task="cue", tmin=0.0, tmax=1.0)
    assert trials.X.shape == (98, 4, 128) and trials.classes == ["rest", "rhythm"] and names == ["C3", "C4", "Pz", "Oz"]
    assert [trials.classes[i] for i in trials.y] == list(kinds)
    res = runner.invoke(eeg_app, ["train", str(root), "--subject", "07", "--task", "cue", "--tmax", "1.0",
                                  "--encoder", "tangent", "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    enc = load_encoder(tmp_path / "m")
    assert enc.info.ch_names == ["C3", "C4", "Pz", "Oz"] and enc.info.sfreq == 128.0
    assert (enc.predict(trials.X) == trials.y).mean() > 0.9
    res = runner.invoke(eeg_app, ["train", str(root), "--subject", "07", "--task", "cue", "--events", "rest,left",
                                  "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "cue_events.tsv: no events of type ['left']; types here: ['rest', 'rhythm']" in res.output
