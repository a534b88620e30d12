"""The EEG report: statements built from measured features, each with a confidence and the
windows it rests on, and an explicit abstention where the data cannot support a statement.

Text comes from templates filled with numbers; nothing is added that was not measured.

Detector statements (blinks, bursts, flat and clipped channels, bad channels, mains, usable
windows, rhythms, alpha episodes) carry a family in ``data["family"]``. Their raw score (kept as
``data["raw_confidence"]``) and the numbers named in `FAMILY_FEATURES` go through the calibrator
fitted on generated recordings with known content (`agentkit.eeg.evaluate`, shipped as
``agentkit/calibration/eeg.json``), so ``confidence`` is P(correct); a statement abstains when
that is under 0.5. Without a readable calibrator the raw score is used, with a logged warning.
"""
from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from agentkit.calibration import Calibrator, load_calibrator
from perception.eeg.features import BANDS, FEATURE_NAMES, relative_power
from perception.eeg.pipeline import ARTIFACT_TEXT, EEGAnalysis
from perception.eeg.recipe import MAINS_RATIO
from perception.eeg.rhythms import (  # noqa: F401  (alpha_series, edge_peak, peak_frequency: re-exported)
    ALPHA_MIN_RATIO, MIN_PEAK_PROMINENCE, alpha_episodes, alpha_series, edge_peak, peak_frequency, rhythm_band,
    spectral_peak,
)

logger = logging.getLogger(__name__)

BAND_NAMES = tuple(BANDS)
_LINE_LENGTH, _DELTA = FEATURE_NAMES.index("line_length"), FEATURE_NAMES.index("logpow_delta")

CALIBRATOR_PATH = Path(__file__).resolve().parents[1] / "calibration" / "eeg.json"
"""The EEG report's calibrator, fitted by `agentkit.eeg.evaluate.run_eeg_eval(fit=True)`."""

ARTIFACT_FAMILY = {"blink": "eeg.blink", "burst": "eeg.bursts", "flat": "eeg.flat", "clipped": "eeg.clipped",
                   "missing": "eeg.missing"}
"""Artifact kind -> calibration family of its report statement (ICA labels keep ICLabel's probability)."""

_ARTIFACT_FEATURES = ("count", "rate_per_min", "fraction", "n_channels", "mean_score", "min_score")
FAMILY_FEATURES: dict[str, tuple[str, ...]] = {
    "eeg.blink": _ARTIFACT_FEATURES,
    "eeg.blink.none": ("n_frontal", "minutes", "frontal_delta_spread"),
    "eeg.bursts": _ARTIFACT_FEATURES + ("weakest_excess",),
    "eeg.flat": _ARTIFACT_FEATURES,
    "eeg.clipped": _ARTIFACT_FEATURES,
    "eeg.missing": _ARTIFACT_FEATURES,
    "eeg.bad_channels": ("n_bad", "bad_fraction"),
    "eeg.bad_channels.none": ("n_channels",),
    "eeg.mains": ("line_log10",),
    "eeg.mains.none": ("line_log10",),
    "eeg.usable": ("percent_usable", "n_windows"),
    "eeg.rhythm": ("log10_prominence", "posterior", "edge_peak"),
    "eeg.segment": ("margin", "top_share", "n_clean"),
    "eeg.alpha": ("log2_ratio", "seconds", "separation_log10", "posterior"),
    "eeg.alpha.none": ("separation_log10", "posterior", "clean_fraction"),
}
"""Family -> the numbers in a statement's ``data`` that the calibrator reads besides ``raw``."""


class Statement(BaseModel):
    """One claim of the report."""

    section: Literal["facts", "quality", "rhythms", "events"]
    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    spans: list[tuple[float, float]] = Field(default_factory=list, description="file-time windows it rests on, s")
    abstained: bool = False
    data: dict = Field(default_factory=dict, description="the numbers behind the text")


class EEGReport(BaseModel):
    """What `agentkit eeg report` prints, as data."""

    path: str
    duration_s: float
    sfreq_hz: float
    channels: list[str]
    other_channels: list[str]
    units: list[str]
    recipe: dict
    recipe_hash: str
    percent_usable: float
    bad_channels: list[str]
    statements: list[Statement]


def mmss(t: float) -> str:
    t = max(0.0, float(t))
    return f"{int(t // 60):02d}:{t % 60:04.1f}" if t % 1 else f"{int(t // 60):02d}:{int(t % 60):02d}"


def _spans(times: np.ndarray, window_s: float, mask: np.ndarray, limit: int = 20) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t in times[mask]:
        if out and t <= out[-1][1]:
            out[-1] = (out[-1][0], float(t + window_s))
        else:
            out.append((float(t), float(t + window_s)))
    return out[:limit]


def _claim(section: str, family: str, raw: float, text: str, spans: list[tuple[float, float]],
           data: dict) -> Statement:
    """A detector statement: raw score now, calibrated by `calibrate` once the report is built."""
    raw = float(min(1.0, max(0.0, raw)))
    return Statement(section=section, confidence=round(raw, 3), spans=spans, text=text,
                     data={**data, "family": family, "raw_confidence": raw})


def statement_features(s: Statement) -> dict[str, float] | None:
    """What the calibrator reads for `s` ({"raw": ..., FAMILY_FEATURES...}); None for statements
    outside the calibrated families (facts, notes, file annotations, rule-based abstentions)."""
    family = s.data.get("family")
    if family not in FAMILY_FEATURES:
        return None
    out = {"raw": float(s.data["raw_confidence"])}
    for name in FAMILY_FEATURES[family]:
        value = s.data.get(name)
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


@functools.lru_cache(maxsize=8)
def _load(path: str, stamp: int | None) -> Calibrator | None:
    """`stamp` (the file's mtime) is only part of the cache key: a refitted file is read again."""
    return load_calibrator(path)


def eeg_calibrator(path: str | Path | None = None) -> Calibrator | None:
    """The calibrator at `path` (default `CALIBRATOR_PATH`), read once per file version; None,
    with a logged warning, when it is missing or unreadable."""
    p = Path(path) if path is not None else CALIBRATOR_PATH
    try:
        stamp = p.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _load(str(p), stamp)


def calibrate(statements: list[Statement], calibrator: Calibrator | None) -> list[Statement]:
    """Set each detector statement's confidence to P(correct) (the raw score without a
    calibrator) and let it abstain below 0.5; other statements are left as they are. In place."""
    for s in statements:
        features = statement_features(s)
        if features is None:
            continue
        p = features["raw"]
        if calibrator is not None:
            try:
                p = float(calibrator.predict(s.data["family"], features))
            except (ValueError, TypeError, KeyError) as err:
                logger.warning("calibrator failed on %s (%s); raw score kept", s.data["family"], err)
                p = features["raw"]
            if not math.isfinite(p):
                p = features["raw"]
        s.confidence = round(min(1.0, max(0.0, p)), 3)
        s.abstained = p < 0.5
    return statements


def _excess(a: EEGAnalysis, t0: float, t1: float, channels: list[str], median_ll: np.ndarray) -> float:
    """log10 of the largest line length in [t0, t1) on `channels` over that channel's median."""
    rows = (a.times < t1) & (a.times + a.window_s > t0)
    cols = [a.ch_names.index(c) for c in channels if c in a.ch_names]
    if not rows.any() or not cols:
        return 0.0
    ratio = a.features[rows][:, cols, _LINE_LENGTH] / (median_ll[cols] + 1e-9)
    return float(np.log10(np.nanmax(ratio) + 1e-9))


def _delta_spread(a: EEGAnalysis, picks: list[int]) -> float:
    """How far the frontal delta power of the most deflected windows (95th percentile) rises
    over the typical window's (median), log10 units: blinks too small to detect still show here."""
    x = np.nanmean(a.features[:, picks, _DELTA], axis=1)
    return float(np.nanpercentile(x, 95) - np.nanmedian(x)) if len(x) else 0.0


def build_report(a: EEGAnalysis, *, n_segments: int = 6, calibrator: Calibrator | str | Path | None = None,
                 calibrated: bool = True) -> EEGReport:
    """Measure-backed statements about a recording (see the module docstring).

    Args:
        a: what `perception.eeg.analyze` measured.
        n_segments: at most this many time segments described under rhythms.
        calibrator: a `Calibrator`, or the path of one (default: the shipped `CALIBRATOR_PATH`).
        calibrated: False keeps the raw scores as confidences and reads no calibrator (what the
            calibration harness, `agentkit.eeg.evaluate`, measures).
    """
    if not calibrated:
        cal = None
    else:
        cal = calibrator if isinstance(calibrator, Calibrator) else eeg_calibrator(calibrator)
    clean = ~a.window_artifact_mask()
    st = _facts(a) + _quality(a, clean) + _rhythms(a, clean, n_segments) + _events(a, clean)
    calibrate(st, cal)
    return EEGReport(
        path=a.path, duration_s=a.duration, sfreq_hz=a.sfreq_in, channels=a.ch_names, other_channels=a.other_channels,
        units=a.unit_labels, recipe=json.loads(a.recipe.to_json()), recipe_hash=a.recipe_hash,
        percent_usable=float(clean.mean() * 100), bad_channels=a.bad_channels, statements=st,
    )


def _where(a: EEGAnalysis) -> str:
    return "posterior channels" if a.posterior_psd is not None else "all channels"


def _facts(a: EEGAnalysis) -> list[Statement]:
    """Duration, rate, channels and units; the preprocessing recipe."""
    st: list[Statement] = []
    whole = [(0.0, a.duration)]
    st.append(Statement(section="facts", confidence=1.0, spans=whole,
                        text=f"{a.duration:.1f} s recorded at {a.sfreq_in:g} Hz from {len(a.ch_names)} EEG channels"
                        + (f" (+{len(a.other_channels)} other: {', '.join(a.other_channels)})" if a.other_channels else "")
                        + f"; units as stated in the file: {', '.join(a.unit_labels) or 'none'}.",
                        data={"duration_s": a.duration, "sfreq": a.sfreq_in, "n_eeg": len(a.ch_names)}))
    r = a.recipe
    st.append(Statement(section="facts", confidence=1.0, spans=whole,
                        text=f"Preprocessed by recipe {a.recipe_hash[:12]}: band-pass {r.l_freq or 0:g}-{r.h_freq or a.sfreq / 2:g} Hz, "
                        f"mains notch {f'{r.mains:g} Hz' if r.mains else 'none (no mains line found)'}, "
                        f"{'resampled to ' + format(a.sfreq, 'g') + ' Hz' if r.resample else 'no resampling'}, "
                        f"reference {r.reference if isinstance(r.reference, str) else '+'.join(r.reference) if r.reference else 'as recorded'}.",
                        data=json.loads(r.to_json())))
    return st


def _quality(a: EEGAnalysis, clean: np.ndarray) -> list[Statement]:
    """Bad channels, mains, each artifact kind, blinks (or why not), usable windows, notes."""
    st: list[Statement] = []
    whole = [(0.0, a.duration)]
    minutes = max(a.duration / 60.0, 1e-9)
    usable = float(clean.mean() * 100)
    if a.bad_channels:
        why = {c: sorted({x.kind for x in a.artifacts if c in x.channels and x.kind in ("flat", "clipped", "missing")})
               for c in a.bad_channels}
        st.append(_claim("quality", "eeg.bad_channels", 0.9, spans=whole,
                         text="Bad channels: " + "; ".join(f"{c} ({', '.join(w) or 'failed the input checks'})" for c, w in why.items()) + ".",
                         data={"bad_channels": a.bad_channels, "n_bad": len(a.bad_channels),
                               "bad_fraction": len(a.bad_channels) / max(1, len(a.ch_names))}))
    else:
        st.append(_claim("quality", "eeg.bad_channels.none", 0.8, spans=whole,
                         text="No channel was flat, clipped or missing for more than half of the recording.",
                         data={"bad_channels": [], "n_channels": len(a.ch_names)}))
    if a.mains_scores:
        best = max(a.mains_scores, key=a.mains_scores.get)
        ratio = a.mains_scores[best]
        line = {"line_log10": float(np.log10(max(ratio, 1e-9))),
                "line_ratios": {f"{k:g}": v for k, v in a.mains_scores.items()}}
        if a.recipe.mains:  # raw scores: monotone in the evidence, 0.5 at the detection threshold
            raw = min(0.99, 0.5 + 0.4 * np.log10(max(ratio, MAINS_RATIO) / MAINS_RATIO))
            st.append(_claim("quality", "eeg.mains", raw, spans=whole,
                             text=f"Mains interference at {a.recipe.mains:g} Hz: the line stands {ratio:.0f}x above "
                             "its 3-7 Hz neighbourhood (notched).", data={**line, "mains_hz": float(a.recipe.mains)}))
        else:
            st.append(_claim("quality", "eeg.mains.none", 0.5 + 0.45 * max(0.0, 1 - ratio / MAINS_RATIO), spans=whole,
                             text=f"No mains line at {' or '.join(f'{k:g}' for k in sorted(a.mains_scores))} Hz "
                             f"(strongest {ratio:.1f}x its neighbourhood; {MAINS_RATIO:g}x needed).",
                             data={**line, "mains_hz": None}))
    kinds = sorted({x.kind for x in a.artifacts})
    median_ll = np.nanmedian(a.features[:, :, _LINE_LENGTH], axis=0)
    for kind in kinds:
        items = [x for x in a.artifacts if x.kind == kind]
        total = sum(x.t1 - x.t0 for x in items)
        scores = [x.score for x in items]
        conf = float(np.mean(scores))
        label = ARTIFACT_TEXT.get(kind, kind.replace("ica:", "ICA component: "))
        chans = sorted({c for x in items for c in x.channels}, key=lambda c: a.ch_names.index(c) if c in a.ch_names else 0)
        text = (f"{len(items)} x {label} ({total:.1f} s in all), first at {mmss(items[0].t0)}"
                + (f", channels {', '.join(chans[:8])}" + ("..." if len(chans) > 8 else "") if chans else "") + ".")
        spans = [(x.t0, x.t1) for x in items[:20]]
        data = {"kind": kind, "count": len(items), "seconds": float(total)}
        if kind not in ARTIFACT_FAMILY:
            st.append(Statement(section="quality", confidence=round(conf, 3), spans=spans, text=text, data=data))
            continue
        data.update(rate_per_min=len(items) / minutes, fraction=float(total) / max(a.duration, 1e-9),
                    n_channels=len(chans), mean_score=conf, min_score=float(min(scores)))
        if kind == "burst":
            data["weakest_excess"] = min(_excess(a, x.t0, x.t1, x.channels, median_ll) for x in items)
        st.append(_claim("quality", ARTIFACT_FAMILY[kind], conf, text=text, spans=spans, data=data))
    if not any(x.kind == "blink" for x in a.artifacts):
        from perception.eeg.artifacts import frontal_picks

        front = frontal_picks(a.ch_names)
        if front:
            st.append(_claim("quality", "eeg.blink.none", 0.7, spans=whole,
                             text="No eye blinks were detected on the frontal channels.",
                             data={"kind": "blink", "count": 0, "n_frontal": len(front), "minutes": a.duration / 60.0,
                                   "frontal_delta_spread": _delta_spread(a, front)}))
        else:
            st.append(Statement(section="quality", confidence=0.0, abstained=True, spans=[],
                                text="Blinks cannot be assessed: no frontal channel (Fp1/Fp2/AF3/AF4/F7/F8).",
                                data={"kind": "blink"}))
    st.append(_claim("quality", "eeg.usable", 0.8, spans=_spans(a.times, a.window_s, clean),
                     text=f"{usable:.0f}% of the {len(a.times)} windows ({a.window_s:g} s, step {a.step_s:g} s) are free of artifacts.",
                     data={"percent_usable": usable, "n_windows": len(a.times)}))
    for note in a.notes:
        st.append(Statement(section="quality", confidence=1.0, spans=whole, text=note))
    return st


def _rhythms(a: EEGAnalysis, clean: np.ndarray, n_segments: int) -> list[Statement]:
    """The dominant background rhythm, then the dominant band (and a clear peak) per segment."""
    st: list[Statement] = []
    where = _where(a)
    psd = a.posterior_psd if a.posterior_psd is not None else a.mean_psd
    if clean.sum() < 5:
        st.append(Statement(section="rhythms", confidence=0.0, abstained=True,
                            text="Too few artifact-free windows to describe the background rhythms."))
    else:
        background = spectral_peak(a.freqs, psd[clean].mean(0))
        f, prom = background.hz, background.prominence
        if prom >= MIN_PEAK_PROMINENCE:
            conf = float(min(0.95, 0.5 + 0.1 * prom))
            st.append(_claim("rhythms", "eeg.rhythm", conf, spans=_spans(a.times, a.window_s, clean),
                             text=f"Dominant background rhythm over {where}: {f:.1f} Hz ({rhythm_band(f)} range), "
                             f"peak {prom:.1f}x the 4-13 Hz median.",
                             data={"peak_hz": f, "prominence": prom, "where": where,
                                   "log10_prominence": float(np.log10(prom)), "posterior": float(a.posterior_psd is not None),
                                   "edge_peak": float(background.at_edge)}))
        else:
            st.append(Statement(section="rhythms", confidence=0.0, abstained=True,
                                text=f"No clear 4-13 Hz peak over {where} (peak only {prom:.1f}x the band median): "
                                "no dominant rhythm is reported.", data={"prominence": prom}))
        rel = relative_power(a.features)
        edges = np.linspace(0, a.duration, min(n_segments, max(1, int(a.duration // 30))) + 1)
        for s0, s1 in zip(edges[:-1], edges[1:]):
            inside = (a.times >= s0) & (a.times + a.window_s <= s1 + 1e-9) & clean
            if inside.sum() < 3:
                st.append(Statement(section="rhythms", confidence=0.0, abstained=True, spans=[(float(s0), float(s1))],
                                    text=f"{mmss(s0)}-{mmss(s1)}: too few clean windows to describe."))
                continue
            m = np.nanmean(rel[inside], axis=0)
            dom = BAND_NAMES[int(np.nanargmax(m))]
            seg_peak = spectral_peak(a.freqs, psd[inside].mean(0))
            margin = float(np.sort(m)[-1] - np.sort(m)[-2])
            # a maximum on the band edge of a sloping background is no peak (it printed 4.0 Hz, or below)
            peak = f" ; 4-13 Hz peak {seg_peak.hz:.1f} Hz" if seg_peak.clear else ""
            st.append(_claim("rhythms", "eeg.segment", float(min(0.95, 0.5 + 2 * margin)),
                             spans=_spans(a.times, a.window_s, inside),
                             text=f"{mmss(s0)}-{mmss(s1)}: {dom} dominant ({m[BAND_NAMES.index(dom)] * 100:.0f}% of 1-45 Hz power){peak}.",
                             data={"relative": dict(zip(BAND_NAMES, map(float, m))), "peak_hz": seg_peak.hz if seg_peak.clear else None,
                                   "band": dom, "segment": (float(s0), float(s1)), "margin": margin,
                                   "top_share": float(np.nanmax(m)), "n_clean": int(inside.sum())}))
    return st


def _events(a: EEGAnalysis, clean: np.ndarray) -> list[Statement]:
    """Alpha episodes (or their absence) and the file's own annotations (quoted, unverified)."""
    st: list[Statement] = []
    whole = [(0.0, a.duration)]
    where = _where(a)
    episodes, sep = alpha_episodes(a, clean)
    posterior = float(a.posterior_psd is not None)
    for t_on, t_off, ratio in episodes:
        conf = float(min(0.95, 0.5 + 0.25 * np.log2(ratio)))
        st.append(_claim("events", "eeg.alpha", conf, spans=[(t_on, t_off)],
                         text=f"Alpha rhythm (8-13 Hz) {ratio:.1f}x stronger from {mmss(t_on)} to {mmss(t_off)} ({where}).",
                         data={"onset_s": t_on, "offset_s": t_off, "ratio": ratio, "log2_ratio": float(np.log2(ratio)),
                               "seconds": t_off - t_on, "separation_log10": sep, "posterior": posterior}))
    if not episodes:
        st.append(_claim("events", "eeg.alpha.none", 0.6, spans=whole,
                         text=f"Alpha power shows no distinct high/low episodes (levels differ {10 ** sep:.1f}x; "
                         f"{ALPHA_MIN_RATIO:g}x needed).",
                         data={"separation_log10": sep, "posterior": posterior, "clean_fraction": float(clean.mean())}))
    for ann in a.annotations[:50]:
        st.append(Statement(section="events", confidence=1.0, spans=[(ann.onset, ann.onset + ann.duration)],
                            text=f"File annotation at {mmss(ann.onset)}: \"{ann.description[:80]}\" (text from the file, unverified).",
                            data={"origin": "file annotation"}))
    return st


def render_text(report: EEGReport) -> str:
    """Plain-text report: one line per statement with its confidence, abstentions marked."""
    titles = {"facts": "Recording", "quality": "Data quality", "rhythms": "Rhythms", "events": "Notable events"}
    lines = [f"EEG report: {report.path}"]
    for section, title in titles.items():
        lines.append(f"\n{title}")
        for s in (x for x in report.statements if x.section == section):
            mark = "  [abstains] " if s.abstained else f"  [{s.confidence:.2f}] "
            lines.append(mark + s.text)
    return "\n".join(lines)
