"""Split-conformal sets: coverage on generated exchangeable answers, "when" spans scored within
their own answer, independent tie-breaks for a repeated question, and old calibrator files."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from agentkit.calibration import Calibrator, FamilyModel
from agentkit.calibration.conformal import (CONFORMAL_VERSION, nonconformities, prediction_set,
                                            true_nonconformity)
from agentkit.schemas import Answer, AnswerValue, Evidence

POOLED = FamilyModel("constant", {"p": 0.5})


def _when(question: str, scores: list[float], rng: np.random.Generator) -> Answer:
    starts = np.sort(rng.uniform(0.0, 3000.0, size=len(scores)))
    spans = [Evidence(t0=round(float(t), 1), t1=round(float(t) + 2.0, 1), score=float(s)) for t, s in zip(starts, scores)]
    order = sorted(range(len(spans)), key=lambda i: -spans[i].score)
    return Answer(question=question, text="", confidence=0.5, kind="when", evidence=[spans[i] for i in order])


def _video_answers(n: int, scale: tuple[float, float], rng: np.random.Generator, prefix: str):
    """(answer, index of its right span): 1-4 spans whose scores share a per-video scale (how well
    that footage matches at all); the right span is the best one 85 % of the time, else the second."""
    out = []
    for i in range(n):
        c = rng.uniform(*scale)
        k = int(rng.integers(1, 5))
        scores = np.sort(c * rng.uniform(0.2, 0.99, size=k))[::-1]
        answer = _when(f"{prefix} {i}: when is it on screen?", list(scores), rng)
        right = 0 if k == 1 or rng.uniform() < 0.85 else 1
        out.append((answer, right))
    return out


def _fit(pairs, version: int = CONFORMAL_VERSION) -> Calibrator:
    scores = sorted(round(true_nonconformity(a, [j == right for j in range(len(a.evidence))], version), 6)
                    for a, right in pairs)
    return Calibrator(families={}, pooled=POOLED, conformal={"when": scores}, conformal_version=version)


def _coverage(pairs, cal: Calibrator, alpha: float) -> tuple[float, float]:
    hits, sizes = [], []
    for a, right in pairs:
        ps = prediction_set(a, cal, alpha)
        hits.append(any(e == a.evidence[right] for e in ps.spans))
        sizes.append(len(ps.spans))
    return float(np.mean(hits)), float(np.mean(sizes))


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_when_sets_cover_one_minus_alpha_on_exchangeable_answers(alpha):
    rng = np.random.default_rng(7)
    cal = _fit(_video_answers(1500, (0.3, 1.0), rng, "fit"))
    coverage, size = _coverage(_video_answers(1500, (0.3, 1.0), rng, "test"), cal, alpha)
    assert abs(coverage - (1 - alpha)) < 0.03  # binomial SE about 0.01
    assert size < 1.2  # the best span is right 85 % of the time: sets stay near one span


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_when_sets_keep_their_coverage_on_footage_that_matches_less_strongly(alpha):
    """Fit videos match their subjects strongly, test videos weakly; the rank of the right span
    within its answer is the same. Scores relative to the answer's best span keep the coverage;
    1 - score (version 1) drops the right best span of every weak answer."""
    rng = np.random.default_rng(11)
    fit = _video_answers(1000, (0.7, 1.0), rng, "fit")
    test = _video_answers(1000, (0.2, 0.5), rng, "test")
    coverage, _ = _coverage(test, _fit(fit), alpha)
    assert abs(coverage - (1 - alpha)) < 0.035
    legacy, _ = _coverage(test, _fit(fit, version=1), alpha)
    assert legacy < 1 - alpha - 0.3


def test_scaling_every_span_score_of_an_answer_leaves_its_nonconformities_alone():
    rng = np.random.default_rng(3)
    a = _when("when is the cat on screen?", [0.9, 0.45, 0.3], rng)
    half = a.model_copy(update={"evidence": [e.model_copy(update={"score": e.score / 2}) for e in a.evidence]})
    assert [s for s, _ in nonconformities(a)] == pytest.approx([s for s, _ in nonconformities(half)])
    assert [s for s, _ in nonconformities(a)] == pytest.approx([0.0, 0.5, 2 / 3])
    assert [s for s, _ in nonconformities(a, version=1)] == pytest.approx([0.1, 0.55, 0.7])


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_one_question_asked_about_many_videos_draws_its_own_tie_break_for_each(alpha):
    """Every fit score ties (the best span was always right), so the tie-break alone decides. With
    u drawn from the question alone, 400 askings of one question would all be in or all be out."""
    rng = np.random.default_rng(5)
    cal = Calibrator(families={}, pooled=POOLED, conformal={"when": [0.0] * 200})
    answers = [_when("When is a tripod on screen?", [0.8, 0.4], rng) for _ in range(400)]
    coverage = np.mean([answer.evidence[0] in prediction_set(answer, cal, alpha).spans for answer in answers])
    assert abs(coverage - (1 - alpha)) < 0.06  # binomial SE 0.015-0.02
    again = [prediction_set(answer, cal, alpha) for answer in answers[:20]]
    assert again == [prediction_set(answer, cal, alpha) for answer in answers[:20]]  # same answer, same set


def test_calibrator_files_carry_the_conformal_version(caplog):
    cal = Calibrator(families={}, pooled=POOLED, conformal={"when": [0.0, 0.1]})
    d = json.loads(cal.to_json())
    assert d["conformal_version"] == CONFORMAL_VERSION
    assert Calibrator.from_json(cal.to_json()).conformal_version == CONFORMAL_VERSION
    del d["conformal_version"]  # a file written before versions: 1 - score, applied as fitted
    old = Calibrator.from_json(json.dumps(d))
    assert old.conformal_version == 1 and old.conformal == {"when": [0.0, 0.1]}
    d["conformal_version"] = 99
    with caplog.at_level(logging.WARNING):
        future = Calibrator.from_json(json.dumps(d))
    assert future.conformal == {} and "unknown" in caplog.text


def test_an_answers_jsonl_line_rebuilds_the_answer_the_sets_read():
    from agentkit.evaluation.report import record_answer

    full = Answer(question="when is the cat on screen?", text="00:10", confidence=0.9, kind="when",
                  evidence=[Evidence(source="v.mp4", t0=10.0, t1=12.0, score=0.8, labels=["cat"]),
                            Evidence(source="v.mp4", t0=30.0, t1=31.0, score=0.2)],
                  value=AnswerValue(yes=True), raw_score=0.8, features={"raw": 0.8})
    line = {"question": full.question, "answer": full.text, "kind": "when", "raw": 0.8, "confidence": 0.9,
            "features": full.features, "value": full.value.model_dump(exclude_defaults=True),
            "evidence": [[e.t0, e.t1, e.score] for e in full.evidence]}
    rebuilt = record_answer(line)
    assert nonconformities(rebuilt) == nonconformities(full)
    cal = Calibrator(families={}, pooled=POOLED, conformal={"when": [0.0] * 30 + [0.5] * 10})
    for alpha in (0.1, 0.2, 0.5):
        assert ([(e.t0, e.t1) for e in prediction_set(rebuilt, cal, alpha).spans]
                == [(e.t0, e.t1) for e in prediction_set(full, cal, alpha).spans])
