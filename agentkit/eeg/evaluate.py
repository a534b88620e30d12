"""Calibrating the EEG report on generated recordings whose content is known.

Real recordings labelled blink by blink, burst by burst and episode by episode are not shipped,
so `agentkit.eeg.synthetic.make_recording` builds them. Sizes are drawn over ranges that straddle
the detectors' thresholds (weak blinks and bursts, nearly flat channels, faint mains and alpha),
so some statements are wrong and calibration has something to learn.

Each detector statement of `build_report` is judged against the truth (rule per family):

- ``eeg.blink`` ("N x eye blink"): at least 80% of the detected blinks lie within 0.25 s of an
  injected blink, and at least half of the injected blinks were detected (the count is not off
  by more than 2x). ``eeg.bursts`` and its spans likewise against injected bursts (overlap).
- ``eeg.blink.none``, ``eeg.alpha.none``, ``eeg.bad_channels.none``: correct when nothing of
  the kind was injected (of any size: a faint blink is still a blink). ``eeg.mains.none``: no
  line was injected at a frequency it speaks of (those the sampling rate can show).
- ``eeg.flat``: every channel it lists was made flat (or clipped: a channel held at its rail
  for a whole window is flat there) and every channel made flat is listed. ``eeg.clipped``:
  the listed channels are exactly the clipped ones.
- ``eeg.bad_channels``: the listed set equals the channels flat for more than half of the
  recording or clipped (the report's own definition of a bad channel).
- ``eeg.mains``: a line was injected at the stated frequency.
- ``eeg.usable``: the stated share of artifact-free windows is within 10 points of the share of
  windows touching no injected blink, burst or partial flat span.
- ``eeg.rhythm`` (dominant 4-13 Hz rhythm): a rhythm was injected within 1 Hz of the stated peak.
- ``eeg.segment`` ("alpha dominant" in a time segment): the stated band has the largest mean
  relative power in that segment of the clean signal (everything but blinks, bursts, mains and
  flat/clipped channels), average-referenced, measured with the report's own window features.
- ``eeg.alpha`` (one alpha episode): its span overlaps an injected episode with
  intersection-over-union at least 0.5. A rhythm present throughout has no episodes.

Injected events no statement caught are counted per family as ``missed`` (recall); they give no
calibration rows, since a calibrator can only put a probability on statements that were made.

Recordings are seeded one by one (seed + k); even seeds fit the calibrator, odd seeds test it,
so no recording is in both halves. `run_eeg_eval` is what ``agentkit eval --eeg`` calls.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from agentkit.calibration import CalibrationRow, brier, ece, fit_calibrator
from agentkit.eeg.report import CALIBRATOR_PATH, Statement, build_report, eeg_calibrator, statement_features
from agentkit.eeg.synthetic import EEGTruth, SyntheticEEG, make_recording
from perception.eeg import analyze, from_array
from perception.eeg.features import BANDS, REL_POWER, Windower, window_features
from perception.eeg.pipeline import EEGAnalysis

__all__ = ["EEGTruth", "SyntheticEEG", "eeg_rows", "judge_report", "make_recording", "run_eeg_eval", "truth_json"]

logger = logging.getLogger(__name__)

BLINK_TOL_S = 0.25
USABLE_TOL = 10.0
RHYTHM_TOL_HZ = 1.0
ALPHA_IOU = 0.5


# ----------------------------------------------------------------------------- judging
def _overlaps(a0: float, a1: float, b0: float, b1: float, tol: float = 0.0) -> bool:
    return a0 < b1 + tol and b0 < a1 + tol


def _precision_recall(found: list[tuple[float, float]], true: list[tuple[float, float]], tol: float
                      ) -> tuple[float, float, int]:
    """(share of found spans matching a true one, share of true spans found, true spans missed)."""
    hit = [any(_overlaps(a, b, c, d, tol) for c, d in true) for a, b in found]
    caught = [any(_overlaps(a, b, c, d, tol) for a, b in found) for c, d in true]
    precision = float(np.mean(hit)) if hit else 1.0
    recall = float(np.mean(caught)) if caught else 1.0
    return precision, recall, int(len(caught) - sum(caught))


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def _true_segment_band(rec: SyntheticEEG, a: EEGAnalysis, s0: float, s1: float) -> str:
    """The band with the largest mean relative power over [s0, s1] of the clean signal,
    average-referenced, in the report's own 2 s windows and feature definitions."""
    fs = rec.truth.sfreq
    x = rec.clean[:, int(s0 * fs):int(round(s1 * fs))]
    x = x - x.mean(axis=0, keepdims=True)
    win = Windower(fs, a.window_s, a.step_s)
    _, w = win.push(x)
    if not len(w):
        return ""
    feats, *_ = window_features(w, fs, a.recipe.h_freq)
    rel = np.nanmean(feats[:, :, REL_POWER], axis=(0, 1))
    return list(BANDS)[int(np.nanargmax(rel))]


def judge_report(statements: list[Statement], a: EEGAnalysis, rec: SyntheticEEG
                 ) -> tuple[list[tuple[Statement, bool]], dict[str, tuple[int, int]]]:
    """Judge every detector statement against the truth (rules in the module docstring).

    Returns:
        ([(statement, correct)] for the statements that have a family and a rule,
         {family: (injected events missed, injected events)} for the families that detect events).
    """
    tr = rec.truth
    out: list[tuple[Statement, bool]] = []
    arts = {k: [(x.t0, x.t1) for x in a.artifacts if x.kind == k] for k in ("blink", "burst")}
    listed = {k: {c for x in a.artifacts if x.kind == k for c in x.channels} for k in ("flat", "clipped")}
    true_flat = {c for c, *_ in tr.flat}
    blinks = [(s, e) for s, e, _ in tr.blinks]
    bursts = [(s, e) for s, e, _ in tr.bursts]
    for s in statements:
        fam = s.data.get("family")
        if fam == "eeg.blink":
            p, r, _ = _precision_recall(arts["blink"], blinks, BLINK_TOL_S)
            ok = bool(blinks) and p >= 0.8 and r >= 0.5
        elif fam == "eeg.bursts":
            p, r, _ = _precision_recall(arts["burst"], bursts, 0.0)
            ok = bool(bursts) and p >= 0.8 and r >= 0.5
        elif fam == "eeg.blink.none":
            ok = not blinks
        elif fam == "eeg.flat":
            ok = listed["flat"] <= (true_flat | set(tr.clipped)) and true_flat <= listed["flat"]
        elif fam == "eeg.clipped":
            ok = listed["clipped"] == set(tr.clipped)
        elif fam == "eeg.bad_channels":
            ok = set(s.data["bad_channels"]) == tr.bad_channels()
        elif fam == "eeg.bad_channels.none":
            ok = not tr.bad_channels()
        elif fam == "eeg.mains":
            ok = tr.mains_hz is not None and abs(s.data["mains_hz"] - tr.mains_hz) < 1.0
        elif fam == "eeg.mains.none":  # it speaks of the frequencies the rate can show
            ok = tr.mains_hz not in a.mains_scores
        elif fam == "eeg.usable":
            spans = tr.local_artifacts()
            touched = np.zeros(len(a.times), bool)
            for t0, t1 in spans:
                touched |= (a.times < t1) & (a.times + a.window_s > t0)
            ok = abs(s.data["percent_usable"] - 100.0 * float((~touched).mean())) <= USABLE_TOL
        elif fam == "eeg.rhythm":
            ok = tr.rhythm_hz is not None and abs(s.data["peak_hz"] - tr.rhythm_hz) <= RHYTHM_TOL_HZ
        elif fam == "eeg.segment":
            s0, s1 = s.data["segment"]
            ok = s.data["band"] == _true_segment_band(rec, a, s0, s1)
        elif fam == "eeg.alpha":
            span = (s.data["onset_s"], s.data["offset_s"])
            ok = any(_iou(span, e) >= ALPHA_IOU for e in tr.alpha_episodes)
        elif fam == "eeg.alpha.none":
            ok = not tr.alpha_episodes
        else:
            continue  # a family without a rule here (e.g. missing samples, never generated)
        out.append((s, bool(ok)))

    missed: dict[str, tuple[int, int]] = {}
    frontal = any(s.data.get("family") in ("eeg.blink", "eeg.blink.none") for s in statements)
    if frontal:
        missed["eeg.blink"] = (_precision_recall(arts["blink"], blinks, BLINK_TOL_S)[2], len(blinks))
    missed["eeg.bursts"] = (_precision_recall(arts["burst"], bursts, 0.0)[2], len(bursts))
    found = [(s.data["onset_s"], s.data["offset_s"]) for s in statements if s.data.get("family") == "eeg.alpha"]
    missed["eeg.alpha"] = (sum(not any(_iou(f, e) >= ALPHA_IOU for f in found) for e in tr.alpha_episodes),
                           len(tr.alpha_episodes))
    missed["eeg.flat"] = (len(true_flat - listed["flat"]), len(true_flat))
    if tr.mains_hz in a.mains_scores:  # the rate can show this line: was it named?
        named = [s.data["mains_hz"] for s in statements if s.data.get("family") == "eeg.mains"]
        missed["eeg.mains"] = (int(tr.mains_hz not in named), 1)
    return out, missed


def eeg_rows(seed: int) -> tuple[list[CalibrationRow], dict[str, tuple[int, int]], EEGTruth]:
    """Generate, analyse, report and judge one recording: its calibration rows (group = recording
    id), its missed events per family, and its truth. The input checks' warnings about the flat
    and clipped channels put there on purpose are silenced while it runs."""
    rec = make_recording(seed)
    with warnings.catch_warnings():  # flat/clipped channels are meant to be there
        warnings.simplefilter("ignore")
        level = logging.getLogger("perception.eeg").level
        logging.getLogger("perception.eeg").setLevel(logging.ERROR)
        try:
            a = analyze(from_array(rec.data, rec.truth.sfreq, rec.truth.ch_names, name=rec.truth.rec_id))
        finally:
            logging.getLogger("perception.eeg").setLevel(level)
    report = build_report(a, calibrated=False)
    judged, missed = judge_report(report.statements, a, rec)
    rows = [CalibrationRow(family=s.data["family"], features=statement_features(s), correct=ok, group=rec.truth.rec_id)
            for s, ok in judged]
    return rows, missed, rec.truth


# ----------------------------------------------------------------------------- the harness
def _metrics(p: np.ndarray, y: np.ndarray, suffix: str) -> dict[str, float]:
    return {f"ece{suffix}": ece(p, y, 15, "mass"), f"ece_width{suffix}": ece(p, y, 15, "width"),
            f"brier{suffix}": brier(p, y)}


def _compare(cal: np.ndarray, raw: np.ndarray, y: np.ndarray, n_boot: int = 500, seed: int = 0) -> dict:
    """Paired bootstrap 95% interval of ECE(calibrated) - ECE(raw) (15 equal-mass bins) over the
    statements (spanning 0: this test set cannot tell the two apart); the ECE that perfectly
    calibrated confidences would show on this many statements (outcomes drawn from them: with a
    few statements per bin, binning noise alone gives a sizeable ECE); and what abstaining below
    0.5 keeps."""
    rng = np.random.default_rng(seed)
    diff = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        diff.append(ece(cal[i], y[i]) - ece(raw[i], y[i]))
    floor = float(np.mean([ece(cal, rng.random(len(cal)) < cal) for _ in range(200)]))
    kept = cal >= 0.5
    return {"ece_minus_raw_ci95": [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))],
            "ece_if_calibrated": floor,
            "kept": float(kept.mean()), "accuracy_kept": float(y[kept].mean()) if kept.any() else None}


def run_eeg_eval(n_recordings: int = 600, seed: int = 0, fit: bool = False,
                 calibrator_path: str | Path | None = None, *, out: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Generate `n_recordings` labelled recordings, judge the report's statements on each, fit
    the EEG calibrator on the even-seed half when `fit`, and measure on the odd-seed half.

    Args:
        n_recordings: recordings generated (seeds seed .. seed + n - 1); at least 4.
        seed: first recording seed.
        fit: fit a calibrator on the fit half and save it: to `calibrator_path` if given, else
            to ``out/calibrator.json`` if `out` is given, else over the shipped
            ``agentkit/calibration/eeg.json`` (how that file is made).
        calibrator_path: the calibrator measured (default: the shipped one), or where `fit` writes.
        out: folder for ``summary.json`` and ``statements.jsonl`` (every judged statement: split,
            family, features, correct, recording); nothing is written without it.
        progress: called as progress(done, total) after each recording.

    Returns:
        JSON-able summary. ``families`` maps each family to, on the test half: n, accuracy,
        ``ece`` (15 equal-mass bins), ``ece_width`` (15 equal-width bins) and ``brier`` of the
        calibrated confidence, the same with ``_raw`` for the raw score, a paired bootstrap 95%
        interval of the ECE difference (``ece_minus_raw_ci95``: spanning 0, the test half is too
        small to tell), the ECE perfectly calibrated confidences would show on as many statements
        (``ece_if_calibrated``), the share kept when abstaining below 0.5 and its accuracy, the family's
        fitted method and fit-row count, and ``missed`` injected events where the family
        detects events; ``all`` is the same over every test statement.

    Raises:
        ValueError: if `n_recordings` < 4.
    """
    if n_recordings < 4:
        raise ValueError(f"n_recordings must be at least 4 (two to fit, two to test), got {n_recordings}")
    if calibrator_path is not None:
        path = Path(calibrator_path)
    elif fit and out is not None:
        path = Path(out) / "calibrator.json"
    else:
        path = CALIBRATOR_PATH
    start = time.perf_counter()
    fit_rows: list[CalibrationRow] = []
    test_rows: list[CalibrationRow] = []
    missed: dict[str, list[int]] = {}
    for k in range(n_recordings):
        s = seed + k
        rows, miss, _ = eeg_rows(s)
        (fit_rows if s % 2 == 0 else test_rows).extend(rows)
        if s % 2:
            for fam, (m, total) in miss.items():
                acc = missed.setdefault(fam, [0, 0])
                acc[0] += m
                acc[1] += total
        if progress:
            progress(k + 1, n_recordings)
    analysed = time.perf_counter() - start
    if fit:
        cal = fit_calibrator(fit_rows, info={"set": "agentkit.eeg.evaluate", "seed": seed, "n_recordings": n_recordings,
                                             "fit_rows": len(fit_rows), "split": "even seeds fit, odd seeds test"})
        path.parent.mkdir(parents=True, exist_ok=True)
        cal.save(path)
        logger.info("EEG calibrator fitted on %d statements, saved to %s", len(fit_rows), path)
    else:
        cal = eeg_calibrator(path)
    summary: dict = {"n_recordings": n_recordings, "seed": seed, "fit": fit, "calibrator": str(path) if cal else None,
                     "n_fit_rows": len(fit_rows), "n_test_rows": len(test_rows), "families": {}}
    by_family: dict[str, list[CalibrationRow]] = {}
    for r in test_rows:
        by_family.setdefault(r.family, []).append(r)
    p_all, c_all, y_all = [], [], []
    for fam, rows in sorted(by_family.items()):
        raw = np.array([r.features["raw"] for r in rows])
        calp = np.array([cal.predict(fam, r.features) for r in rows]) if cal else raw
        y = np.array([r.correct for r in rows], dtype=float)
        p_all.append(raw), c_all.append(calp), y_all.append(y)
        model = cal.families.get(fam) if cal else None
        summary["families"][fam] = {
            "n": len(rows), "accuracy": float(y.mean()), **_metrics(calp, y, ""), **_metrics(raw, y, "_raw"),
            **_compare(calp, raw, y), "method": model.method if model else ("pooled" if cal else "raw"),
            "n_fit": model.n if model else 0,
        }
    for fam, (m, total) in sorted(missed.items()):
        summary["families"].setdefault(fam, {"n": 0})["missed"] = {"events": total, "missed": m}
    if y_all:
        y, calp, raw = np.concatenate(y_all), np.concatenate(c_all), np.concatenate(p_all)
        summary["all"] = {"n": int(y.size), "accuracy": float(y.mean()), **_metrics(calp, y, ""),
                          **_metrics(raw, y, "_raw"), **_compare(calp, raw, y)}
    summary["seconds"] = {"analyse": analysed, "total": time.perf_counter() - start}
    if out is not None:
        _write(Path(out), summary, fit_rows, test_rows)
    return summary


def _write(folder: Path, summary: dict, fit_rows: list[CalibrationRow], test_rows: list[CalibrationRow]) -> None:
    from memory.atomic import write_bytes_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / "summary.json", json.dumps(summary, indent=1).encode("utf-8"), shared=True)
    lines = [json.dumps({"split": split, "family": r.family, "features": dict(r.features), "correct": r.correct,
                         "recording": r.group})
             for split, rows in (("fit", fit_rows), ("test", test_rows)) for r in rows]
    write_bytes_atomic(folder / "statements.jsonl", ("\n".join(lines) + "\n").encode("utf-8"), shared=True)


def truth_json(seed: int) -> dict:
    """The truth of recording `seed` as plain data (what a test compares across runs)."""
    return asdict(make_recording(seed).truth)
