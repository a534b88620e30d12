"""Calibration metrics, per-family calibrators (JSON, fallbacks) and split-conformal sets."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from agentkit.calibration import CalibrationRow, Calibrator, ece, fit_calibrator, load_calibrator, risk_coverage, selective_accuracy_at
from agentkit.calibration.conformal import conformal_group, conformal_pvalue, prediction_set
from agentkit.calibration.metrics import brier, reliability
from agentkit.schemas import Answer, AnswerValue


def _overconfident(n: int, seed: int, family: str = "when") -> list[CalibrationRow]:
    """Raw scores that claim far more than they deliver: P(right) = raw ** 3."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.3, 1.0, n)
    right = rng.uniform(size=n) < raw ** 3
    return [CalibrationRow(family, {"raw": float(r), "noise": float(rng.normal())}, bool(y), f"video-{i % 15}")
            for i, (r, y) in enumerate(zip(raw, right))]


def test_ece_is_zero_for_matching_rates_and_large_for_overconfidence():
    conf = np.repeat([0.2, 0.5, 0.8], 100)
    right = np.concatenate([np.arange(100) < 20, np.arange(100) < 50, np.arange(100) < 80])
    assert ece(conf, right) < 1e-9 and ece(conf, right, strategy="width") < 1e-9
    assert ece(np.full(100, 0.95), np.arange(100) < 50) == pytest.approx(0.45)
    assert brier([1.0, 0.0], [True, True]) == pytest.approx(0.5)
    assert sum(b["n"] for b in reliability(conf, right)) == 300


def test_risk_coverage_ranks_by_confidence_and_breaks_ties_pessimistically():
    curve = risk_coverage([0.9, 0.9, 0.1, 0.5], [True, False, False, True])
    assert curve.selective_accuracy[:2] == [0.0, 0.5]  # the tie puts the wrong answer first
    assert selective_accuracy_at(curve, 0.75) == pytest.approx(2 / 3)
    perfect = risk_coverage([0.9, 0.8, 0.2], [True, True, False])
    assert perfect.aurc < curve.aurc


def test_fitted_calibrator_lowers_held_out_ece_and_round_trips_through_json(tmp_path):
    cal = fit_calibrator(_overconfident(600, 0))
    test = _overconfident(600, 1)
    raw = [r.features["raw"] for r in test]
    fitted = [cal.predict("when", r.features) for r in test]
    right = [r.correct for r in test]
    assert ece(fitted, right) < 0.6 * ece(raw, right)
    model = cal.families["when"]
    assert model.method in ("platt", "isotonic", "logistic") and set(model.cv_nll) == {"constant", "platt", "isotonic", "logistic"}
    assert model.cv_nll[model.method] == min(model.cv_nll.values())
    again = load_calibrator(cal.save(tmp_path / "cal.json"))
    assert again.predict("when", {"raw": 0.7}) == pytest.approx(cal.predict("when", {"raw": 0.7}))
    assert again.predict("never-seen-family", {"raw": 0.7}) == pytest.approx(cal.pooled.predict({"raw": 0.7}))


def test_one_sided_family_gets_its_smoothed_rate():
    rows = [CalibrationRow("count", {"raw": 0.9}, False, f"v{i}") for i in range(30)] + _overconfident(200, 2)
    cal = fit_calibrator(rows)
    assert cal.families["count"].method == "constant"
    assert cal.predict("count", {"raw": 0.99}) == pytest.approx(1 / 32)


@pytest.mark.parametrize("content", ["", "{not json", '{"format": "agentkit-calibrator/1", "families": {}}',
                                     '{"format": "agentkit-calibrator/1", "pooled": {"method": "magic"}, "families": {}}',
                                     '{"format": "agentkit-calibrator/1", "pooled": {"method": "constant", "params": {"p": 0.5}}, "families": []}'])
def test_corrupt_calibrator_falls_back_to_raw_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        assert load_calibrator(path) is None
    assert "broken.json" in caplog.text and "raw evidence scores" in caplog.text


def test_missing_calibrator_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert load_calibrator(tmp_path / "absent.json") is None
    assert "missing" in caplog.text


def test_conformal_pvalues_cover_exactly_even_with_ties():
    rng = np.random.default_rng(3)
    fit = np.round(rng.uniform(size=400), 1)  # heavily tied, like option shares of clear answers
    test = np.round(rng.uniform(size=4000), 1)
    for alpha in (0.1, 0.2):
        covered = [conformal_pvalue(fit, s, u) > alpha for s, u in zip(test, rng.uniform(size=test.size))]
        assert abs(np.mean(covered) - (1 - alpha)) < 0.025


def test_prediction_set_keeps_the_candidates_that_conform():
    cal = Calibrator(families={}, pooled=fit_calibrator(_overconfident(100, 4)).pooled,
                     conformal={"choice": [0.0] * 50 + [0.5] * 50})
    answer = Answer(question="q", text="t", confidence=0.5, kind="choice",
                    value=AnswerValue(option=0, option_scores=[0.6, 0.3, 0.1]))
    assert prediction_set(answer, cal, 0.1).options == [0]  # 1 - 0.6 beats half the fit scores
    assert prediction_set(answer, cal, 0.6).options == []
    assert prediction_set(answer.model_copy(update={"kind": "when"}), cal, 0.1) is None  # no "when" scores
    with pytest.raises(ValueError, match="alpha"):
        prediction_set(answer, cal, 1.5)


def test_graded_and_certain_answers_calibrate_against_their_own_group():
    """Mondrian sets: a graded answer is judged against graded fit answers when there are enough."""
    pooled = fit_calibrator(_overconfident(100, 4)).pooled
    graded = Answer(question="q", text="t", confidence=0.5, kind="choice",
                    value=AnswerValue(option=0, option_scores=[0.6, 0.3, 0.1]))
    certain = graded.model_copy(update={"value": AnswerValue(option=0, option_scores=[1.0, 0.0, 0.0])})
    assert (conformal_group(graded), conformal_group(certain)) == ("choice/graded", "choice/certain")
    cal = Calibrator(families={}, pooled=pooled, conformal={"choice": [0.0] * 100, "choice/graded": [0.5] * 30})
    assert prediction_set(graded, cal, 0.1).options == [0]  # graded fit nonconformity is 0.5: the 0.6 option conforms
    small = Calibrator(families={}, pooled=pooled, conformal={"choice": [0.0] * 100, "choice/graded": [0.5] * 5})
    assert prediction_set(graded, small, 0.1).options == []  # too few graded scores: the pooled ones decide


def test_a_no_to_a_question_that_takes_the_subject_for_granted_is_its_own_family():
    from agentkit.calibration import answer_family

    assert answer_family("whether", False) == "whether.no" and answer_family("whether", True) == "whether.yes"
    assert {answer_family(k, False) for k in ("when", "count", "first", "last", "nth", "duration")} == {"absent"}
    assert answer_family("when") == "when" and answer_family("count", None) == "count"
