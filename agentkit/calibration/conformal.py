"""Split-conformal prediction sets: a set of answers that holds the right one with P about 1 - alpha.

Candidates come from the answer itself: each multiple-choice option with its share
(``value.option_scores``), or each candidate span of a "when" answer with its score. A
candidate's nonconformity (`nonconformities`) is

- multiple choice: 1 - its share (shares already sum to 1 within the answer);
- "when": 1 - its score / the answer's best span score, so the best span of every answer has 0.
  The absolute span score says how strongly the footage matches the subject, which differs from
  video to video (on the 2026-12-02 set, 34 % of the test videos' "when" answers had a best span
  below the fit split's 80 % threshold of 1 - score against 19 % of the fit answers, yet that best
  span was right in every fit and test answer); the ratio asks only how the span ranks within its
  own answer, which is what decides whether it is the right one.

The calibrator keeps the nonconformity of the right candidate of every fit question
(`NO_RIGHT_CANDIDATE` when none was right). A new candidate with nonconformity s gets the
conformal p-value

    p = (#{fit scores > s} + u * (#{fit scores = s} + 1)) / (n + 1)

and joins the set when p > alpha. The tie-breaking u in [0, 1) makes the coverage exact rather
than conservative (scores tie often: a clear answer has share 1.0, and the best span of a "when"
answer always has 0); it is drawn from a hash of the question and the candidate (for a span, its
times too), so the same question always gets the same set, while the same question about other
footage draws its own u (with the question alone, the 155 fit "when" questions shared 44 draws,
which doubled the sampling noise of the coverage).

The fit scores are kept per group as well as per kind (Mondrian conformal): answers whose best
candidate is certain (score 1: exact on-screen text, a unanimous option) and graded answers
calibrate against their own kind, so a split with more graded answers than the fit split still
gets its coverage. A group with fewer than `MIN_GROUP` fit scores uses the kind's pooled scores.

Calibrators record which nonconformity their scores are (`CONFORMAL_VERSION`); one written
before version 2 (1 - score for "when" too, u from the question alone) is applied as it was fitted.
"""
from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from agentkit.schemas import Answer, PredictionSet

if TYPE_CHECKING:
    from agentkit.calibration.calibrator import Calibrator

__all__ = ["CONFORMAL_KINDS", "CONFORMAL_VERSION", "CONFORMAL_VERSIONS", "NO_RIGHT_CANDIDATE", "MIN_GROUP",
           "candidates", "conformal_group", "conformal_pvalue", "nonconformities", "prediction_set", "true_nonconformity"]

CONFORMAL_KINDS = ("choice", "when")
"""Answer kinds that carry a conformal set."""
CONFORMAL_VERSION = 2
"""Which nonconformity fitted scores are: 1 = 1 - score for every kind; 2 = "when" spans relative
to the answer's best span, and span times in the tie-break."""
CONFORMAL_VERSIONS = (1, 2)
NO_RIGHT_CANDIDATE = 2.0
"""Nonconformity recorded when no candidate was right: above every candidate's (at most 1)."""
_TIE = 1e-9
MIN_GROUP = 20
"""Fit scores a group needs before it is used on its own (else its kind's pooled scores are)."""


def candidates(answer: Answer) -> list[tuple[float, int]]:
    """(score, index) of each candidate: an option index, or an index into ``answer.evidence`` (none
    for a "when" answered "it does not appear": its evidence is only the weak closest match)."""
    if answer.kind == "choice":
        return [(float(s), i) for i, s in enumerate(answer.value.option_scores)]
    if answer.kind == "when" and answer.value.yes is not False:
        return [(float(e.score), i) for i, e in enumerate(answer.evidence)]
    return []


def nonconformities(answer: Answer, version: int = CONFORMAL_VERSION) -> list[tuple[float, int]]:
    """(nonconformity, index) of each candidate, in [0, 1]: 1 - share for an option; for a span,
    1 - score / the best span's score (version 2) or 1 - score (version 1)."""
    cands = candidates(answer)
    if answer.kind != "when" or version < 2:
        return [(1.0 - s, i) for s, i in cands]
    best = max((s for s, _ in cands), default=0.0)
    if not best > 0.0:
        return [(1.0, i) for _, i in cands]
    return [(min(1.0, max(0.0, 1.0 - s / best)), i) for s, i in cands]


def conformal_group(answer: Answer) -> str:
    """The calibration key of an answer: ``kind/certain`` when its best candidate scores 1, else ``kind/graded``."""
    best = max((s for s, _ in candidates(answer)), default=0.0)
    return f"{answer.kind}/{'certain' if best >= 1.0 - 1e-3 else 'graded'}"


def true_nonconformity(answer: Answer, is_right: Sequence[bool], version: int = CONFORMAL_VERSION) -> float:
    """Nonconformity of the best right candidate (``is_right`` flags each candidate)."""
    scores = [s for (s, _), ok in zip(nonconformities(answer, version), is_right) if ok]
    return min(scores) if scores else NO_RIGHT_CANDIDATE


def conformal_pvalue(fit_scores: Sequence[float], s: float, u: float) -> float:
    """The randomised conformal p-value of nonconformity ``s`` against sorted ``fit_scores``."""
    scores = np.asarray(fit_scores, dtype=np.float64)
    above = int(np.sum(scores > s + _TIE))
    ties = int(np.sum(np.abs(scores - s) <= _TIE))
    return (above + u * (ties + 1)) / (scores.size + 1)


def _tie_break(question: str, index: int, span: tuple[float, float] | None = None) -> float:
    key = f"{question}\0{index}" if span is None else f"{question}\0{index}\0{span[0]:.3f}\0{span[1]:.3f}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def _u(answer: Answer, index: int, version: int) -> float:
    if answer.kind == "when" and version >= 2:
        e = answer.evidence[index]
        return _tie_break(answer.question, index, (e.t0, e.t1))
    return _tie_break(answer.question, index)


def prediction_set(answer: Answer, calibrator: "Calibrator", alpha: float) -> PredictionSet | None:
    """The conformal set of ``answer`` at error rate ``alpha``, or None when its kind has no fit scores."""
    if not 0.0 < alpha < 1.0 or math.isnan(alpha):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    version = int(getattr(calibrator, "conformal_version", CONFORMAL_VERSION))
    fit = calibrator.conformal.get(conformal_group(answer))
    if not fit or len(fit) < MIN_GROUP:
        fit = calibrator.conformal.get(answer.kind)
    cands = nonconformities(answer, version)
    if not fit or not cands:
        return None
    kept = [i for s, i in cands if conformal_pvalue(fit, s, _u(answer, i, version)) > alpha]
    if answer.kind == "choice":
        return PredictionSet(alpha=alpha, options=sorted(kept))
    return PredictionSet(alpha=alpha, spans=[answer.evidence[i] for i in kept])
