"""Split-conformal prediction sets: a set of answers that holds the right one with P about 1 - alpha.

Candidates come from the answer itself: each multiple-choice option with its share
(``value.option_scores``), or each candidate span of a "when" answer with its score. A
candidate's nonconformity is 1 - score. The calibrator keeps the nonconformity of the right
candidate of every fit question (`NO_RIGHT_CANDIDATE` when none was right). A new candidate
with nonconformity s gets the conformal p-value

    p = (#{fit scores > s} + u * (#{fit scores = s} + 1)) / (n + 1)

and joins the set when p > alpha. The tie-breaking u in [0, 1) makes the coverage exact rather
than conservative (scores tie often: a clear answer has share 1.0); it is drawn from a hash of
the question and the candidate, so the same question always gets the same set.

The fit scores are kept per group as well as per kind (Mondrian conformal): answers whose best
candidate is certain (score 1: exact on-screen text, a unanimous option) and graded answers
calibrate against their own kind, so a split with more graded answers than the fit split still
gets its coverage. A group with fewer than `MIN_GROUP` fit scores uses the kind's pooled scores.
"""
from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from agentkit.schemas import Answer, PredictionSet

if TYPE_CHECKING:
    from agentkit.calibration.calibrator import Calibrator

__all__ = ["CONFORMAL_KINDS", "NO_RIGHT_CANDIDATE", "MIN_GROUP", "candidates", "conformal_group", "conformal_pvalue",
           "prediction_set", "true_nonconformity"]

CONFORMAL_KINDS = ("choice", "when")
"""Answer kinds that carry a conformal set."""
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


def conformal_group(answer: Answer) -> str:
    """The calibration key of an answer: ``kind/certain`` when its best candidate scores 1, else ``kind/graded``."""
    best = max((s for s, _ in candidates(answer)), default=0.0)
    return f"{answer.kind}/{'certain' if best >= 1.0 - 1e-3 else 'graded'}"


def true_nonconformity(answer: Answer, is_right: Sequence[bool]) -> float:
    """Nonconformity of the best right candidate (``is_right`` flags each candidate)."""
    scores = [s for (s, _), ok in zip(candidates(answer), is_right) if ok]
    return 1.0 - max(scores) if scores else NO_RIGHT_CANDIDATE


def conformal_pvalue(fit_scores: Sequence[float], s: float, u: float) -> float:
    """The randomised conformal p-value of nonconformity ``s`` against sorted ``fit_scores``."""
    scores = np.asarray(fit_scores, dtype=np.float64)
    above = int(np.sum(scores > s + _TIE))
    ties = int(np.sum(np.abs(scores - s) <= _TIE))
    return (above + u * (ties + 1)) / (scores.size + 1)


def _tie_break(question: str, index: int) -> float:
    digest = hashlib.sha256(f"{question}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def prediction_set(answer: Answer, calibrator: "Calibrator", alpha: float) -> PredictionSet | None:
    """The conformal set of ``answer`` at error rate ``alpha``, or None when its kind has no fit scores."""
    if not 0.0 < alpha < 1.0 or math.isnan(alpha):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    fit = calibrator.conformal.get(conformal_group(answer))
    if not fit or len(fit) < MIN_GROUP:
        fit = calibrator.conformal.get(answer.kind)
    cands = candidates(answer)
    if not fit or not cands:
        return None
    kept = [i for s, i in cands if conformal_pvalue(fit, 1.0 - s, _tie_break(answer.question, i)) > alpha]
    if answer.kind == "choice":
        return PredictionSet(alpha=alpha, options=sorted(kept))
    return PredictionSet(alpha=alpha, spans=[answer.evidence[i] for i in kept])
