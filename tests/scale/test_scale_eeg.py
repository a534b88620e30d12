"""`agentkit eeg report FOLDER --out DIR`: one JSON report per recording plus an index, resumable."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from agentkit.cli import app

runner = CliRunner()


def test_a_folder_gives_one_report_per_recording_and_an_index(tmp_path, eeg_folder):
    out = tmp_path / "reports"
    result = runner.invoke(app, ["eeg", "report", str(eeg_folder), "--out", str(out)])
    assert result.exit_code == 1  # one recording failed, and the command says so
    assert "broken.edf" in result.stderr and "not an EDF" in result.stderr
    index = json.loads((out / "index.json").read_text())
    assert (index["done"], index["failed"]) == (2, 1)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in index["recordings"]}
    assert set(rows) == {"a.edf", "b.edf", "broken.edf"}  # notes.txt was passed over
    assert rows["b.edf"]["report"] == "night2/b.edf.report.json" and "error" in rows["broken.edf"]
    report = json.loads((out / "night2" / "b.edf.report.json").read_text())
    assert report["path"].endswith("b.edf") and report["duration_s"] == 30.0 and len(report["channels"]) == 12
    # a rerun skips what is done: the reports are not written again
    stamp = (out / "a.edf.report.json").stat().st_mtime_ns
    again = runner.invoke(app, ["eeg", "report", str(eeg_folder), "--out", str(out)])
    assert again.exit_code == 1 and "2 reports, 1 failed" in again.stdout
    assert (out / "a.edf.report.json").stat().st_mtime_ns == stamp


def test_a_folder_without_out_or_with_nothing_in_it_is_one_clear_line(tmp_path, eeg_folder):
    result = runner.invoke(app, ["eeg", "report", str(eeg_folder)])
    assert result.exit_code != 0 and "--out" in result.output
    empty = tmp_path / "empty_night"
    empty.mkdir()
    result = runner.invoke(app, ["eeg", "report", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "empty_night" in result.stderr and "no EEG files" in result.stderr
