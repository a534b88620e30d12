"""A small slice of the default evaluation (one 1-min fit video, one 1-min test video), end to end.

The shipped calibrator was fitted on the full generated set's fit split; the test video here is
one it never saw, so its calibrated confidences must beat the raw evidence scores there.
"""
from __future__ import annotations

import json

import pytest

from agentkit.evaluation import FAMILIES, run_eval


@pytest.fixture(scope="module")
def slice_result(tmp_path_factory, one_thread):
    with one_thread():
        return run_eval(cases_file=None, out=tmp_path_factory.mktemp("eval"), videos=1)


def test_slice_covers_every_family_and_writes_its_files(slice_result):
    summary = slice_result.summary
    assert summary["split"] == "test" and summary["n_videos"] == 1 and summary["errors"] == 0
    # A one-minute video shows each picture about once, so it may pose no first/last question.
    assert set(FAMILIES) - {"first_last"} <= set(summary["families"]) <= set(FAMILIES)
    names = {p.name for p in slice_result.files}
    assert {"answers.jsonl", "summary.json", "reliability.png", "risk_coverage.png"} <= names
    rows = [json.loads(line) for line in (slice_result.out / "answers.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"fit", "test"}
    first = rows[0]
    for key in ("question", "family", "answer", "evidence", "raw", "confidence", "abstained", "correct"):
        assert key in first
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)


def test_calibrated_confidence_beats_the_raw_score_on_unseen_videos(slice_result):
    summary = slice_result.summary
    assert summary["overall"]["ece"] < summary["overall_raw"]["ece"]
    # Brier is not asserted on this one video: it shows a rocket the frame encoder cannot see, and
    # the calibrated "no"s about it (0.96-0.99) outweigh the rest of its 63 answers (docs/benchmarks.md).
