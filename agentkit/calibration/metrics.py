"""How well confidences describe correctness: ECE, Brier, NLL, risk-coverage and AURC.

Pure numpy over two arrays: ``confidence`` (the stated P(correct)) and ``correct`` (0/1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ece", "brier", "nll", "RiskCoverage", "risk_coverage", "reliability", "selective_accuracy_at"]


def _arrays(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(confidence, dtype=np.float64).reshape(-1)
    y = np.asarray(correct, dtype=np.float64).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"confidence and correct differ in length ({p.size} vs {y.size})")
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise ValueError("confidence must lie in [0, 1] with no NaN")
    return p, y


def _bins(p: np.ndarray, n_bins: int, strategy: str) -> list[np.ndarray]:
    """Index groups: equal-width bins over [0, 1], or equal-mass bins (quantile edges) over the confidences."""
    if strategy == "width":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
        return [np.flatnonzero(which == b) for b in range(n_bins)]
    if strategy == "mass":
        # Edges at the quantiles; equal confidences always share a bin (splitting ties would
        # measure the order of the rows, not the calibration).
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]) if p.size else np.array([])
        which = np.searchsorted(edges, p, side="left")
        return [np.flatnonzero(which == b) for b in range(n_bins)]
    raise ValueError(f"strategy must be 'mass' or 'width', got {strategy!r}")


def reliability(confidence, correct, n_bins: int = 15, strategy: str = "mass") -> list[dict[str, float]]:
    """Per bin: mean confidence, accuracy and count (the points of a reliability diagram)."""
    p, y = _arrays(confidence, correct)
    return [{"confidence": float(p[i].mean()), "accuracy": float(y[i].mean()), "n": int(i.size)}
            for i in _bins(p, n_bins, strategy) if i.size]


def ece(confidence, correct, n_bins: int = 15, strategy: str = "mass") -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins."""
    p, _ = _arrays(confidence, correct)
    if p.size == 0:
        return float("nan")
    return float(sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in reliability(confidence, correct, n_bins, strategy)) / p.size)


def brier(confidence, correct) -> float:
    """Mean squared difference between confidence and correctness."""
    p, y = _arrays(confidence, correct)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def nll(confidence, correct, eps: float = 1e-6) -> float:
    """Mean negative log-likelihood of the outcomes under the stated confidences."""
    p, y = _arrays(confidence, correct)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if p.size else float("nan")


@dataclass(frozen=True)
class RiskCoverage:
    """Answering only the most confident share of questions: how accurate is that share?"""

    coverage: list[float]
    """Share of questions answered (1/n, 2/n, ..., 1), most confident first."""
    selective_accuracy: list[float]
    """Accuracy among the answered questions at each coverage."""
    threshold: list[float]
    """Confidence of the last question answered at each coverage."""
    aurc: float
    """Area under the risk (1 - selective accuracy) versus coverage curve; lower is better."""


def risk_coverage(confidence, correct) -> RiskCoverage:
    """The risk-coverage curve of ranking questions by confidence (ties broken pessimistically)."""
    p, y = _arrays(confidence, correct)
    if p.size == 0:
        return RiskCoverage([], [], [], float("nan"))
    # Most confident first; among equal confidences wrong answers first, so ties cannot flatter.
    order = np.lexsort((y, -p))
    hits = np.cumsum(y[order])
    n = np.arange(1, p.size + 1)
    acc = hits / n
    return RiskCoverage(coverage=(n / p.size).tolist(), selective_accuracy=acc.tolist(),
                        threshold=p[order].tolist(), aurc=float(np.mean(1.0 - acc)))


def selective_accuracy_at(curve: RiskCoverage, coverage: float) -> float:
    """Selective accuracy when answering at least ``coverage`` of the questions."""
    if not curve.coverage:
        return float("nan")
    i = min(len(curve.coverage) - 1, max(0, math.ceil(coverage * len(curve.coverage)) - 1))
    return float(curve.selective_accuracy[i])
