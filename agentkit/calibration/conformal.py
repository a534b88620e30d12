"""Split-conformal prediction sets: a set of answers that holds the right one with P >= 1 - alpha.

Candidates come from the answer itself: each multiple-choice option with its share
(``value.option_scores``), or each candidate span of a "when" answer with its score. A
candidate's nonconformity is 1 - score. On labelled calibration questions the nonconformity of
the right candidate (infinite when no candidate is right) gives the threshold q, the
ceil((n + 1)(1 - alpha)) / n empirical quantile; a new answer's set keeps every candidate with
nonconformity <= q. Coverage holds on average over questions exchangeable with the calibration ones.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from agentkit.schemas import Answer, PredictionSet

if TYPE_CHECKING:
    from agentkit.calibration.calibrator import Calibrator

__all__ = ["CONFORMAL_KINDS", "candidates", "conformal_threshold", "prediction_set", "true_nonconformity"]

CONFORMAL_KINDS = ("choice", "when")
"""Answer kinds that carry a conformal set."""


def candidates(answer: Answer) -> list[tuple[float, int]]:
    """(score, index) of each candidate: an option index, or an index into ``answer.evidence``."""
    if answer.kind == "choice":
        return [(float(s), i) for i, s in enumerate(answer.value.option_scores)]
    if answer.kind == "when":
        return [(float(e.score), i) for i, e in enumerate(answer.evidence)]
    return []


def true_nonconformity(answer: Answer, is_right: Sequence[bool]) -> float:
    """Nonconformity of the best right candidate (``is_right`` flags each candidate); inf if none."""
    scores = [s for (s, _), ok in zip(candidates(answer), is_right) if ok]
    return 1.0 - max(scores) if scores else math.inf


def conformal_threshold(nonconformity: Sequence[float], alpha: float) -> float:
    """The split-conformal quantile for error rate ``alpha`` (inf when there are too few scores)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    scores = np.sort(np.asarray(nonconformity, dtype=np.float64))
    n = scores.size
    rank = math.ceil((n + 1) * (1.0 - alpha))
    return math.inf if rank > n or n == 0 else float(scores[rank - 1])


def prediction_set(answer: Answer, calibrator: "Calibrator", alpha: float) -> PredictionSet | None:
    """The conformal set of ``answer`` at ``alpha``, or None when its kind has no fitted threshold."""
    q = calibrator.conformal_threshold(answer.kind, alpha)
    cands = candidates(answer)
    if q is None or not cands:
        return None
    kept = [i for s, i in cands if 1.0 - s <= q + 1e-9]
    if answer.kind == "choice":
        return PredictionSet(alpha=alpha, options=sorted(kept))
    return PredictionSet(alpha=alpha, spans=[answer.evidence[i] for i in kept])
