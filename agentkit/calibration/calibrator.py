"""P(correct) from evidence features, one small model per question family, stored as JSON.

Fitting uses scikit-learn (`fit_calibrator`); applying needs numpy only, so the shipped
calibrator (``default.json`` beside this file) loads anywhere and never unpickles anything.
For each family the method with the lowest held-out NLL (cross-validation grouped by video) wins:

- ``constant``: the family's smoothed accuracy (too few or one-sided examples);
- ``platt``: a logistic map of the logit of the raw score;
- ``isotonic``: a monotone step map of the raw score;
- ``logistic``: logistic regression on all the family's standardised features.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from agentkit.calibration.conformal import CONFORMAL_VERSION, CONFORMAL_VERSIONS
from agentkit.calibration.metrics import nll

__all__ = ["CalibrationRow", "Calibrator", "FamilyModel", "answer_family", "fit_calibrator", "load_calibrator",
           "DEFAULT_PATH", "METHODS"]

logger = logging.getLogger(__name__)

DEFAULT_PATH = Path(__file__).with_name("default.json")
"""The calibrator the default agent uses (fitted by ``agentkit eval --fit`` on the generated set)."""
METHODS = ("constant", "platt", "isotonic", "logistic")
FORMAT = "agentkit-calibrator/1"
_EPS = 1e-3
MIN_ROWS = 20
"""A family with fewer fit rows than this uses the pooled model."""


def answer_family(kind: str, yes: bool | None = None) -> str:
    """The family an answer is calibrated in: its kind, with "yes" and "no" to "does X appear?"
    apart (a wrong yes is a near miss in the evidence, a wrong no a miss of perception).

    The "no" of a question that takes the subject for granted ("when does the rocket appear?"
    answered "nothing matches") is a family of its own, "absent": people ask such questions mostly
    about what is there, so that "no" is wrong far more often than the "no" to "does X appear?"
    (29 % against 4 % of the fit questions, 2026-12-02).
    """
    if yes is False:
        return "whether.no" if kind == "whether" else "absent"
    if kind == "whether" and yes:
        return "whether.yes"
    return kind


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


@dataclass(frozen=True)
class CalibrationRow:
    """One judged answer: what the calibrator sees and whether the answer was right."""

    family: str
    features: Mapping[str, float]
    """Must hold ``raw`` (the evidence score in [0, 1]); any other named numbers are optional."""
    correct: bool
    group: str = ""
    """What held-out folds are split by (the video), so no video is in both halves."""


@dataclass
class FamilyModel:
    """One family's map from features to P(correct)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    n: int = 0
    cv_nll: dict[str, float] = field(default_factory=dict)
    """Held-out NLL of every method tried (the chosen one is the lowest)."""

    def predict(self, features: Mapping[str, float]) -> float:
        raw = float(features.get("raw", 0.0))
        m, p = self.method, self.params
        if m == "constant":
            out = p["p"]
        elif m == "platt":
            out = float(_sigmoid(p["a"] * _logit(raw) + p["b"]))
        elif m == "isotonic":
            out = float(np.interp(raw, p["x"], p["y"]))
        elif m == "logistic":
            x = _vector(features, p["features"])
            z = (x - np.asarray(p["mean"])) / np.asarray(p["scale"])
            out = float(_sigmoid(float(np.dot(z, p["coef"]) + p["intercept"])))
        else:
            raise ValueError(f"unknown calibration method {m!r}")
        return float(min(1 - _EPS, max(_EPS, out)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "n": self.n, "cv_nll": self.cv_nll}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FamilyModel":
        model = cls(method=str(d["method"]), params=dict(d.get("params", {})), n=int(d.get("n", 0)),
                    cv_nll={str(k): float(v) for k, v in dict(d.get("cv_nll", {})).items()})
        if model.method not in METHODS:
            raise ValueError(f"unknown calibration method {model.method!r}")
        model.predict({"raw": 0.5})  # fails now, not at the first question, if params are incomplete
        return model


def _vector(features: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    out = []
    for name in names:
        v = float(features.get(name, 0.0))
        out.append(float(_logit(v)) if name == "raw" else (v if math.isfinite(v) else 0.0))
    return np.asarray(out, dtype=np.float64)


@dataclass
class Calibrator:
    """Per-family models, a pooled fallback, and split-conformal thresholds."""

    families: dict[str, FamilyModel]
    pooled: FamilyModel
    conformal: dict[str, list[float]] = field(default_factory=dict)
    """answer kind -> sorted nonconformity of the right candidate on the fit questions
    (see `agentkit.calibration.conformal`)."""
    info: dict[str, Any] = field(default_factory=dict)
    conformal_version: int = CONFORMAL_VERSION
    """Which nonconformity the ``conformal`` scores are (a file without it: 1, the first)."""

    def predict(self, family: str, features: Mapping[str, float]) -> float:
        """P(correct) of an answer of ``family`` with these evidence features."""
        model = self.families.get(family, self.pooled)
        return model.predict(features)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "info": self.info, "pooled": self.pooled.to_dict(),
            "families": {k: v.to_dict() for k, v in sorted(self.families.items())},
            "conformal": self.conformal, "conformal_version": self.conformal_version,
        }, indent=1, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write atomically as JSON."""
        from memory.atomic import write_bytes_atomic

        write_bytes_atomic(path, self.to_json().encode("utf-8"), shared=True)
        return Path(path)

    @classmethod
    def from_json(cls, text: str) -> "Calibrator":
        d = json.loads(text)
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not an agentkit calibrator (format must be {FORMAT!r})")
        conformal = {str(k): sorted(float(x) for x in v) for k, v in d.get("conformal", {}).items()}
        version = int(d.get("conformal_version", 1))
        if version not in CONFORMAL_VERSIONS:
            logger.warning("conformal scores of version %s are unknown here; answers carry no conformal set", version)
            conformal, version = {}, CONFORMAL_VERSION
        return cls(families={str(k): FamilyModel.from_dict(v) for k, v in d["families"].items()},
                   pooled=FamilyModel.from_dict(d["pooled"]), conformal=conformal,
                   info=dict(d.get("info", {})), conformal_version=version)


def load_calibrator(path: str | Path | None = None) -> Calibrator | None:
    """The calibrator at ``path`` (default: the shipped one); None, with a warning, if it is
    missing or corrupt, so answers fall back to the raw evidence score instead of failing."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        return Calibrator.from_json(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning("calibrator %s is missing; confidences are raw evidence scores", p)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.warning("calibrator %s is unreadable (%s); confidences are raw evidence scores", p,
                       " ".join(str(err).split())[:200])
    return None


# ----------------------------------------------------------------------------- fitting
def _fit_one(method: str, rows: Sequence[CalibrationRow], names: Sequence[str]) -> FamilyModel:
    y = np.array([r.correct for r in rows], dtype=np.float64)
    raw = np.array([float(r.features.get("raw", 0.0)) for r in rows])
    n = len(rows)
    base = (y.sum() + 1.0) / (n + 2.0)
    if method == "constant" or y.min() == y.max():
        return FamilyModel("constant", {"p": float(base)}, n)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=100.0).fit(_logit(raw).reshape(-1, 1), y)
        return FamilyModel("platt", {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}, n)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        # Bounded away from 0 and 1: a step of a few right answers is not certainty.
        iso = IsotonicRegression(y_min=0.02, y_max=0.98, out_of_bounds="clip").fit(raw, y)
        xs, ys = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        return FamilyModel("isotonic", {"x": xs.tolist(), "y": ys.tolist()}, n)
    if method == "logistic":
        from sklearn.linear_model import LogisticRegression

        X = np.stack([_vector(r.features, names) for r in rows])
        mean, scale = X.mean(0), X.std(0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(C=1.0, max_iter=1000).fit((X - mean) / scale, y)
        return FamilyModel("logistic", {"features": list(names), "mean": mean.tolist(), "scale": scale.tolist(),
                                        "coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0])}, n)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _held_out_nll(method: str, rows: Sequence[CalibrationRow], names: Sequence[str], folds: int = 5) -> float:
    groups = sorted({r.group for r in rows})
    k = min(folds, len(groups))
    if k < 2:
        return float("inf")
    rng = np.random.default_rng(0)
    fold_of = {g: i % k for i, g in enumerate(rng.permutation(groups))}
    preds, outcome = [], []
    for fold in range(k):
        train = [r for r in rows if fold_of[r.group] != fold]
        test = [r for r in rows if fold_of[r.group] == fold]
        if not train or not test:
            continue
        model = _fit_one(method, train, names)
        preds += [model.predict(r.features) for r in test]
        outcome += [r.correct for r in test]
    return nll(preds, outcome) if preds else float("inf")


def _choose(rows: Sequence[CalibrationRow], methods: Sequence[str]) -> FamilyModel:
    names = ["raw", *sorted({k for r in rows for k in r.features if k != "raw"})]
    scores = {m: _held_out_nll(m, rows, names) for m in methods}
    best = min(methods, key=lambda m: (scores[m], methods.index(m)))
    model = _fit_one(best, rows, names)
    model.cv_nll = {m: (round(v, 4) if math.isfinite(v) else 1e9) for m, v in scores.items()}
    return model


def fit_calibrator(rows: Iterable[CalibrationRow], methods: Sequence[str] = METHODS, *,
                   info: Mapping[str, Any] | None = None) -> Calibrator:
    """Fit one model per family (the lowest held-out NLL among ``methods``) and a pooled fallback.

    Raises:
        ValueError: If there are no rows, or a row has no ``raw`` feature.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no labelled answers to fit a calibrator on")
    for i, r in enumerate(rows):
        if "raw" not in r.features:
            raise ValueError(f"row {i} ({r.family}) has no 'raw' feature")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods must be among {METHODS}, got {m!r}")
    by_family: dict[str, list[CalibrationRow]] = {}
    for r in rows:
        by_family.setdefault(r.family, []).append(r)
    families = {fam: _choose(fr, list(methods)) for fam, fr in sorted(by_family.items()) if len(fr) >= MIN_ROWS}
    pooled = _choose(rows, [m for m in methods if m != "logistic"] or ["constant"])
    return Calibrator(families=families, pooled=pooled, info=dict(info or {}))
