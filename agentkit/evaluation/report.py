"""From judged records to numbers: calibrate, fit, summarise, plot.

Records are what `run.run_cases` returns (one dict per question). Summaries are measured on the
test split only; fitting (calibrator and conformal thresholds) uses the fit split only.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from agentkit.calibration import CalibrationRow, Calibrator, answer_family, ece, fit_calibrator, risk_coverage, selective_accuracy_at
from agentkit.calibration.conformal import CONFORMAL_KINDS, conformal_group, prediction_set, true_nonconformity
from agentkit.calibration.metrics import brier, reliability
from agentkit.evaluation.judge import spans_overlap
from agentkit.schemas import Answer, AnswerValue, Evidence

__all__ = ["ALPHAS", "COVERAGES", "apply_calibrator", "fit_from_records", "read_records", "record_answer", "summarize",
           "plot_summary"]

ALPHAS = (0.1, 0.2)
COVERAGES = (0.2, 0.4, 0.6, 0.8, 1.0)


def _answered(records: list[dict[str, Any]], split: str | None = None) -> list[dict[str, Any]]:
    return [r for r in records if "error" not in r and (split is None or r["split"] == split)]


def apply_calibrator(records: list[dict[str, Any]], calibrator: Calibrator | None, abstain_below: float = 0.5) -> None:
    """Set each record's ``confidence`` (P(correct), or the raw score without a calibrator) and ``abstained``."""
    for r in _answered(records):
        family = answer_family(r["kind"], r["value"].get("yes"))
        conf = calibrator.predict(family, r["features"]) if calibrator is not None else float(r["raw"] or 0.0)
        r["confidence"] = round(float(conf), 4)
        r["abstained"] = r["confidence"] < abstain_below


def _right_candidates(r: dict[str, Any], answer: Answer) -> list[bool]:
    if answer.kind == "choice":
        return [i == int(r["truth"]["option"]) for i in range(len(answer.value.option_scores))]
    return [any(spans_overlap((e.t0, e.t1), (a, b)) for a, b in r["truth"]["spans"]) for e in answer.evidence]


def record_answer(r: dict[str, Any]) -> Answer:
    """The answer of a record: ``full`` as `run_cases` returns it, or, for a line of answers.jsonl
    (written without ``full``), rebuilt from its question, kind, value and evidence, which is all
    the conformal sets read (its evidence has no source, labels or text)."""
    if "full" in r:
        return Answer.model_validate(r["full"])
    return Answer(question=r["question"], text=r.get("answer", ""), kind=r["kind"], raw_score=r.get("raw"),
                  confidence=min(1.0, max(0.0, float(r.get("confidence") or 0.0))), features=r.get("features", {}),
                  value=AnswerValue.model_validate(r.get("value", {})),
                  evidence=[Evidence(t0=t0, t1=t1, score=sc) for t0, t1, sc in r.get("evidence", [])])


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of an answers.jsonl that `agentkit eval` wrote, to refit or summarise offline:
    ``fit_from_records(read_records(path))`` refits from a run without answering again."""
    import json

    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _conformal_rows(records: list[dict[str, Any]]):
    """Answers with a conformal set to fit or measure: multiple choice, and "when" answered with
    times about a subject that is shown (a "where" set means nothing for what is not there)."""
    for r in records:
        if r["family"] in CONFORMAL_KINDS and r["kind"] == r["family"]:
            if r["family"] == "when" and (not r["truth"]["spans"] or r["value"].get("yes") is False):
                continue
            yield r, record_answer(r)


def fit_from_records(records: list[dict[str, Any]], *, info: dict[str, Any] | None = None) -> Calibrator:
    """Fit a calibrator (by answer kind) and conformal thresholds on the fit split."""
    fit = _answered(records, "fit")
    if not fit:
        raise ValueError("no answered questions in the fit split to fit on")
    rows = [CalibrationRow(answer_family(r["kind"], r["value"].get("yes")), r["features"], r["correct"], r["group"])
            for r in fit]
    calibrator = fit_calibrator(rows, info=info)
    keyed: dict[str, list[float]] = {}
    for r, a in _conformal_rows(fit):
        if a.kind in CONFORMAL_KINDS:
            score = round(true_nonconformity(a, _right_candidates(r, a), calibrator.conformal_version), 6)
            keyed.setdefault(a.kind, []).append(score)
            keyed.setdefault(conformal_group(a), []).append(score)
    calibrator.conformal.update({key: sorted(scores) for key, scores in keyed.items()})
    return calibrator


def _metrics(rows: list[dict[str, Any]], key: str = "confidence") -> dict[str, Any]:
    conf = [r[key] if r[key] is not None else 0.0 for r in rows]
    y = [r["correct"] for r in rows]
    curve = risk_coverage(conf, y)
    return {
        "n": len(rows), "accuracy": float(np.mean(y)) if rows else math.nan,
        "ece": ece(conf, y, 15, "mass"), "ece_width": ece(conf, y, 15, "width"), "brier": brier(conf, y),
        "aurc": curve.aurc, "selective_accuracy": {f"{c:g}": selective_accuracy_at(curve, c) for c in COVERAGES},
        "answered": int(sum(1 for r in rows if not r["abstained"])),
        "answered_accuracy": (float(np.mean([r["correct"] for r in rows if not r["abstained"]]))
                              if any(not r["abstained"] for r in rows) else math.nan),
    }


def summarize(records: list[dict[str, Any]], calibrator: Calibrator | None, split: str = "test") -> dict[str, Any]:
    """Numbers of the ``split``: per family and overall, calibrated and raw; conformal coverage."""
    rows = _answered(records, split)
    families = sorted({r["family"] for r in rows})
    out: dict[str, Any] = {
        "split": split, "n": len(rows), "n_videos": len({r["group"] for r in rows}),
        "errors": sum(1 for r in records if "error" in r),
        "overall": _metrics(rows), "overall_raw": _metrics(rows, "raw"),
        "families": {f: _metrics([r for r in rows if r["family"] == f]) for f in families},
        "families_raw": {f: _metrics([r for r in rows if r["family"] == f], "raw") for f in families},
        "reliability": reliability([r["confidence"] for r in rows], [r["correct"] for r in rows]) if rows else [],
        "reliability_raw": reliability([r["raw"] or 0.0 for r in rows], [r["correct"] for r in rows]) if rows else [],
        "curve": risk_coverage([r["confidence"] for r in rows], [r["correct"] for r in rows]).__dict__ if rows else {},
    }
    negatives = [r for r in rows if r.get("negative")]
    out["negatives"] = {"n": len(negatives),
                        "wrong_at_0.8": sum(1 for r in negatives if not r["correct"] and r["confidence"] >= 0.8),
                        "wrong_at_0.8_raw": sum(1 for r in negatives if not r["correct"] and (r["raw"] or 0) >= 0.8)}
    conformal: dict[str, Any] = {}
    if calibrator is not None:
        for kind in CONFORMAL_KINDS:
            pairs = [(r, a) for r, a in _conformal_rows(rows) if a.kind == kind]
            for alpha in ALPHAS:
                hits, sizes = [], []
                for r, a in pairs:
                    ps = prediction_set(a, calibrator, alpha)
                    if ps is None:
                        continue
                    if kind == "choice":
                        hits.append(int(r["truth"]["option"]) in ps.options)
                        sizes.append(len(ps.options))
                    else:
                        hits.append(any(spans_overlap((e.t0, e.t1), (a0, b0)) for e in ps.spans for a0, b0 in r["truth"]["spans"]))
                        sizes.append(len(ps.spans))
                if hits:
                    conformal[f"{kind}@{alpha:g}"] = {"n": len(hits), "target": 1 - alpha,
                                                      "coverage": float(np.mean(hits)), "mean_size": float(np.mean(sizes))}
    out["conformal"] = conformal
    return out


def plot_summary(summary: dict[str, Any], folder: str | Path) -> list[Path]:
    """Write reliability.png (raw vs calibrated) and risk_coverage.png into ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for key, label, color in (("reliability_raw", "raw evidence score", "tab:red"), ("reliability", "calibrated", "tab:blue")):
        pts = summary.get(key) or []
        if pts:
            ax.plot([p["confidence"] for p in pts], [p["accuracy"] for p in pts], "o-", color=color, label=label)
    ax.set(xlabel="stated confidence (15 equal-mass bins)", ylabel="share right", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability on the {summary['split']} split (n={summary['n']})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    paths.append(folder / "reliability.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    curve = summary.get("curve") or {}
    fig, ax = plt.subplots(figsize=(6, 4))
    if curve.get("coverage"):
        ax.plot(curve["coverage"], curve["selective_accuracy"], color="tab:blue")
    ax.axhline(0.9, color="grey", lw=1, ls="--")
    ax.set(xlabel="coverage (share of questions answered, most confident first)", ylabel="selective accuracy",
           ylim=(0, 1.02), xlim=(0, 1), title=f"Risk-coverage (AURC {summary['overall']['aurc']:.3f})")
    fig.tight_layout()
    paths.append(folder / "risk_coverage.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
