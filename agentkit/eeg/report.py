"""The EEG report: statements built from measured features, each with a confidence and the
windows it rests on, and an explicit abstention where the data cannot support a statement.

Text comes from templates filled with numbers; nothing is added that was not measured.
"""
from __future__ import annotations

import json
import logging
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from perception.eeg.pipeline import ARTIFACT_TEXT, EEGAnalysis

logger = logging.getLogger(__name__)

BAND_NAMES = ("delta", "theta", "alpha", "beta", "gamma")


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


def _otsu(x: np.ndarray) -> float:
    """Threshold splitting x into two groups with the largest between-group variance."""
    xs = np.sort(x)
    best, thr = -1.0, float(xs[len(xs) // 2])
    for i in range(1, len(xs)):
        a, b = xs[:i], xs[i:]
        v = len(a) * len(b) * (a.mean() - b.mean()) ** 2
        if v > best:
            best, thr = v, float((xs[i - 1] + xs[i]) / 2)
    return thr


def alpha_series(a: EEGAnalysis) -> tuple[np.ndarray, str]:
    """log10 alpha (8-13 Hz) power per window over posterior channels (or all) and which were used."""
    f = a.freqs
    sel = (f >= 8) & (f < 13)
    df = f[1] - f[0]
    if a.posterior_psd is not None:
        return np.log10(a.posterior_psd[:, sel].sum(1) * df + 1e-12), "posterior channels " + ", ".join(a.posterior_channels)
    return np.log10(a.mean_psd[:, sel].sum(1) * df + 1e-12), "all channels (no posterior channel found)"


def alpha_episodes(a: EEGAnalysis, clean: np.ndarray, *, min_ratio: float = 2.0,
                   min_windows: int = 3) -> tuple[list[tuple[float, float, float]], float]:
    """Runs of windows where alpha power sits in the upper of two clearly separated levels.

    Returns ([(onset s, offset s, power ratio high/low)], separation in log10 units). Onset and
    offset are placed at the middle of the first and last window past the threshold, which is
    where a step change inside a window moves its power half-way.
    """
    x, _ = alpha_series(a)
    xc = x[clean]
    if len(xc) < 2 * min_windows:
        return [], 0.0
    thr = _otsu(xc)
    hi, lo = xc[xc > thr], xc[xc <= thr]
    if len(hi) < min_windows or len(lo) < min_windows:
        return [], 0.0
    sep = float(np.median(hi) - np.median(lo))
    if sep < np.log10(min_ratio):
        return [], sep
    # artifact windows keep their own alpha value: the threshold comes from clean windows only,
    # and a run must still last `min_windows` windows
    above = x > thr
    out = []
    i = 0
    half = a.window_s / 2
    while i < len(above):
        if above[i]:
            j = i
            while j + 1 < len(above) and above[j + 1]:
                j += 1
            if j - i + 1 >= min_windows:
                t_on = a.times[i] + half if i > 0 else a.times[0]
                t_off = a.times[j] + half if j < len(above) - 1 else a.times[j] + a.window_s
                out.append((float(t_on), float(t_off), float(10 ** (np.median(x[i:j + 1]) - np.median(lo)))))
            i = j + 1
        else:
            i += 1
    return out, sep


def peak_frequency(freqs: np.ndarray, p: np.ndarray, lo: float = 4.0, hi: float = 13.0) -> tuple[float, float]:
    """(peak frequency in [lo, hi) Hz with parabolic refinement, prominence over the band's median)."""
    sel = np.flatnonzero((freqs >= lo) & (freqs < hi))
    if len(sel) < 3:
        return float("nan"), 0.0
    k = sel[np.argmax(p[sel])]
    f = float(freqs[k])
    if 0 < k < len(p) - 1:
        a, b, c = np.log(p[k - 1] + 1e-20), np.log(p[k] + 1e-20), np.log(p[k + 1] + 1e-20)
        den = a - 2 * b + c
        if den < 0:
            f += float(0.5 * (a - c) / den * (freqs[1] - freqs[0]))
    return f, float(p[k] / (np.median(p[sel]) + 1e-20))


def _spans(times: np.ndarray, window_s: float, mask: np.ndarray, limit: int = 20) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t in times[mask]:
        if out and t <= out[-1][1]:
            out[-1] = (out[-1][0], float(t + window_s))
        else:
            out.append((float(t), float(t + window_s)))
    return out[:limit]


def build_report(a: EEGAnalysis, *, n_segments: int = 6) -> EEGReport:
    """Measure-backed statements about a recording (see the module docstring)."""
    st: list[Statement] = []
    whole = [(0.0, a.duration)]
    art_mask = a.window_artifact_mask()
    clean = ~art_mask
    usable = float(clean.mean() * 100)

    # facts
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

    # quality
    if a.bad_channels:
        why = {c: sorted({x.kind for x in a.artifacts if c in x.channels and x.kind in ("flat", "clipped", "missing")})
               for c in a.bad_channels}
        st.append(Statement(section="quality", confidence=0.9, spans=whole,
                            text="Bad channels: " + "; ".join(f"{c} ({', '.join(w) or 'failed the input checks'})" for c, w in why.items()) + ".",
                            data={"bad_channels": a.bad_channels}))
    else:
        st.append(Statement(section="quality", confidence=0.8, spans=whole,
                            text="No channel was flat, clipped or missing for more than half of the recording.",
                            data={"bad_channels": []}))
    kinds = sorted({x.kind for x in a.artifacts})
    for kind in kinds:
        items = [x for x in a.artifacts if x.kind == kind]
        total = sum(x.t1 - x.t0 for x in items)
        conf = float(np.mean([x.score for x in items]))
        label = ARTIFACT_TEXT.get(kind, kind.replace("ica:", "ICA component: "))
        chans = sorted({c for x in items for c in x.channels}, key=lambda c: a.ch_names.index(c) if c in a.ch_names else 0)
        st.append(Statement(section="quality", confidence=round(conf, 3), spans=[(x.t0, x.t1) for x in items[:20]],
                            text=f"{len(items)} x {label} ({total:.1f} s in all), first at {mmss(items[0].t0)}"
                            + (f", channels {', '.join(chans[:8])}" + ("..." if len(chans) > 8 else "") if chans else "") + ".",
                            data={"kind": kind, "count": len(items), "seconds": total}))
    if not any(x.kind == "blink" for x in a.artifacts):
        from perception.eeg.artifacts import frontal_picks

        if frontal_picks(a.ch_names):
            st.append(Statement(section="quality", confidence=0.7, spans=whole,
                                text="No eye blinks were detected on the frontal channels.", data={"kind": "blink", "count": 0}))
        else:
            st.append(Statement(section="quality", confidence=0.0, abstained=True, spans=[],
                                text="Blinks cannot be assessed: no frontal channel (Fp1/Fp2/AF3/AF4/F7/F8).",
                                data={"kind": "blink"}))
    st.append(Statement(section="quality", confidence=0.8, spans=_spans(a.times, a.window_s, clean),
                        text=f"{usable:.0f}% of the {len(a.times)} windows ({a.window_s:g} s, step {a.step_s:g} s) are free of artifacts.",
                        data={"percent_usable": usable}))
    for note in a.notes:
        st.append(Statement(section="quality", confidence=1.0, spans=whole, text=note))

    # rhythms
    where = "posterior channels" if a.posterior_psd is not None else "all channels"
    psd = a.posterior_psd if a.posterior_psd is not None else a.mean_psd
    if clean.sum() < 5:
        st.append(Statement(section="rhythms", confidence=0.0, abstained=True,
                            text="Too few artifact-free windows to describe the background rhythms."))
    else:
        f, prom = peak_frequency(a.freqs, psd[clean].mean(0))
        if prom >= 2.0:
            conf = float(min(0.95, 0.5 + 0.1 * prom))
            st.append(Statement(section="rhythms", confidence=round(conf, 3), spans=_spans(a.times, a.window_s, clean),
                                text=f"Dominant background rhythm over {where}: {f:.1f} Hz "
                                f"({'alpha' if 8 <= f < 13 else 'theta' if 4 <= f < 8 else 'other'} range), "
                                f"peak {prom:.1f}x the 4-13 Hz median.",
                                data={"peak_hz": f, "prominence": prom, "where": where}))
        else:
            st.append(Statement(section="rhythms", confidence=0.0, abstained=True,
                                text=f"No clear 4-13 Hz peak over {where} (peak only {prom:.1f}x the band median): "
                                "no dominant rhythm is reported.", data={"prominence": prom}))
        rel = np.nanmean(a.features[:, :, 5:10], axis=1)
        edges = np.linspace(0, a.duration, min(n_segments, max(1, int(a.duration // 30))) + 1)
        for s0, s1 in zip(edges[:-1], edges[1:]):
            inside = (a.times >= s0) & (a.times + a.window_s <= s1 + 1e-9) & clean
            if inside.sum() < 3:
                st.append(Statement(section="rhythms", confidence=0.0, abstained=True, spans=[(float(s0), float(s1))],
                                    text=f"{mmss(s0)}-{mmss(s1)}: too few clean windows to describe."))
                continue
            m = np.nanmean(rel[inside], axis=0)
            dom = BAND_NAMES[int(np.nanargmax(m))]
            f, prom = peak_frequency(a.freqs, psd[inside].mean(0))
            margin = float(np.sort(m)[-1] - np.sort(m)[-2])
            peak = f" ; 4-13 Hz peak {f:.1f} Hz" if prom >= 2.0 else ""
            st.append(Statement(section="rhythms", confidence=round(float(min(0.95, 0.5 + 2 * margin)), 3),
                                spans=_spans(a.times, a.window_s, inside),
                                text=f"{mmss(s0)}-{mmss(s1)}: {dom} dominant ({m[BAND_NAMES.index(dom)] * 100:.0f}% of 1-45 Hz power){peak}.",
                                data={"relative": dict(zip(BAND_NAMES, map(float, m))), "peak_hz": f if prom >= 2 else None}))

    # events
    episodes, sep = alpha_episodes(a, clean)
    for t_on, t_off, ratio in episodes:
        conf = float(min(0.95, 0.5 + 0.25 * np.log2(ratio)))
        st.append(Statement(section="events", confidence=round(conf, 3), spans=[(t_on, t_off)],
                            text=f"Alpha rhythm (8-13 Hz) {ratio:.1f}x stronger from {mmss(t_on)} to {mmss(t_off)} ({where}).",
                            data={"onset_s": t_on, "offset_s": t_off, "ratio": ratio}))
    if not episodes:
        st.append(Statement(section="events", confidence=0.6, spans=whole,
                            text=f"Alpha power shows no distinct high/low episodes (levels differ {10 ** sep:.1f}x; 2x needed).",
                            data={"separation_log10": sep}))
    for ann in a.annotations[:50]:
        st.append(Statement(section="events", confidence=1.0, spans=[(ann.onset, ann.onset + ann.duration)],
                            text=f"File annotation at {mmss(ann.onset)}: \"{ann.description[:80]}\" (text from the file, unverified).",
                            data={"origin": "file annotation"}))
    return EEGReport(
        path=a.path, duration_s=a.duration, sfreq_hz=a.sfreq_in, channels=a.ch_names, other_channels=a.other_channels,
        units=a.unit_labels, recipe=json.loads(a.recipe.to_json()), recipe_hash=a.recipe_hash,
        percent_usable=usable, bad_channels=a.bad_channels, statements=st,
    )


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
