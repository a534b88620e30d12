"""From a recording to features, artifacts and timed observations, in one pass of chunks.

`analyze` streams the recording once: raw chunks feed the flat/clipped/missing checks,
preprocessed chunks feed the windows (features, bursts) and the blink detector. What it keeps
is per-window numbers, never the signal, so memory stays bounded for long recordings.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from perception.eeg.artifacts import (
    Artifact, ArtifactConfig, burst_flags, detect_blinks, ica_artifacts, merge_spans, raw_window_flags,
)
from perception.eeg.features import BANDS, Windower, relative_power, summary_vector, window_features
from perception.eeg.recipe import Preprocessor, Recipe, mains_scores
from perception.eeg.recording import Recording
from perception.errors import InputError
from perception.types import Observation

logger = logging.getLogger(__name__)

POSTERIOR = ("O1", "O2", "Oz", "PO3", "PO4", "PO7", "PO8", "POz", "P3", "P4", "Pz", "P7", "P8")
"""Channels where the eyes-closed alpha rhythm is largest."""


@dataclass
class EEGAnalysis:
    """Per-window numbers and artifacts of one recording (file time, seconds)."""

    path: str
    duration: float
    sfreq_in: float
    sfreq: float  # after resampling
    ch_names: list[str]  # processed (EEG) channels
    other_channels: list[str]
    unit_labels: list[str]
    recipe: Recipe
    window_s: float
    step_s: float
    times: np.ndarray  # (n_windows,) window starts
    features: np.ndarray  # (n_windows, n_channels, 12) float32, FEATURE_NAMES order
    freqs: np.ndarray  # (n_freqs,)
    mean_psd: np.ndarray  # (n_windows, n_freqs) over channels
    posterior_psd: np.ndarray | None  # (n_windows, n_freqs) over posterior channels, if any
    posterior_channels: list[str]
    artifacts: list[Artifact]
    bad_channels: list[str]
    annotations: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mains_scores: dict[float, float] = field(default_factory=dict)
    """{50.0, 60.0: line power over its neighbourhood} when the recipe detected mains itself
    (`perception.eeg.recipe.mains_scores`); empty when mains was given or the rate cannot show it."""

    @property
    def recipe_hash(self) -> str:
        return self.recipe.hash

    def window_artifact_mask(self) -> np.ndarray:
        """(n_windows,) True where a window overlaps a local artifact (not whole-channel or ICA ones)."""
        mask = np.zeros(len(self.times), bool)
        bad = set(self.bad_channels)
        for a in self.artifacts:
            if a.kind.startswith("ica:"):
                continue
            if a.kind in ("flat", "clipped", "missing") and set(a.channels) <= bad:
                continue  # a bad channel is excluded, not a reason to drop the window
            mask |= (self.times < a.t1) & (self.times + self.window_s > a.t0)
        return mask


def analyze(
    rec: Recording,
    recipe: Recipe | None = None,
    *,
    window_s: float = 2.0,
    step_s: float = 1.0,
    chunk_s: float = 60.0,
    artifacts: ArtifactConfig | None = None,
    ica: bool = False,
    progress: Callable[[float], None] | None = None,
    batch: int = 16,
) -> EEGAnalysis:
    """Preprocess, window and measure a recording in one pass of chunks.

    Args:
        rec: an opened recording (`open_recording`, `from_array`).
        recipe: preprocessing recipe; resolved against `rec` here (default `Recipe()`).
        window_s, step_s: window length and hop in seconds.
        chunk_s: seconds read per chunk (memory bound).
        artifacts: thresholds (default `ArtifactConfig()`).
        ica: also fit ICA and label components with ICLabel (slower; needs a 10-05 montage).
        progress: called with the fraction done after each chunk.
        batch: windows measured at once (bounds the working memory).
    """
    cfg = artifacts or ArtifactConfig()
    recipe = recipe or Recipe()
    line = mains_scores(rec) if recipe.mains == "auto" else {}  # the evidence behind the detection
    recipe = recipe.resolve(rec)
    pre = Preprocessor(recipe, rec)
    check = rec.check
    bad = list(check.bad_channels) if check else []
    names = pre.ch_names
    posterior = [i for i, c in enumerate(names) if c.lower() in {p.lower() for p in POSTERIOR} and c not in bad]
    good = [i for i, c in enumerate(names) if c not in bad] or list(range(len(names)))
    win = Windower(pre.sfreq, window_s, step_s)
    raw = _RawFlags(rec, pre, Windower(rec.sfreq, window_s, step_s), chunk_s, batch, cfg)
    times, feats, mpsd, ppsd = [], [], [], []
    bursts, found = [], []
    last_blink = -1.0
    freqs = None
    for t_chunk, x in pre.stream(chunk_s):
        for blink in detect_blinks(x, pre.sfreq, names, t_chunk, cfg):
            if blink.t0 > last_blink:
                found.append(blink)
                last_blink = blink.t1
        t_all, w_all = win.push(x)
        del x
        for b in range(0, len(t_all), batch):  # a few windows at a time: bounded working memory
            t, w = t_all[b:b + batch], w_all[b:b + batch]
            f, freqs, mp, pp = window_features(w, pre.sfreq, recipe.h_freq)
            times.append(t)
            feats.append(f.astype(np.float32))
            mpsd.append(pp[:, good].mean(1).astype(np.float32))
            if posterior:
                ppsd.append(pp[:, posterior].mean(1).astype(np.float32))
            bursts.append(burst_flags(w, cfg))
            del f, mp, pp, w
        del w_all
        raw.catch_up(sum(len(a) for a in times))
        if progress:
            progress(min(1.0, (t_chunk + chunk_s) / rec.duration))
    if not times:
        raise InputError(rec.path, f"recording too short ({rec.duration:.2f} s) for one {window_s} s window")
    times = np.concatenate(times)
    n_win = len(times)
    feats = np.concatenate(feats)
    found_all, bad_now = _channel_artifacts(times, window_s, raw.arrays(n_win, len(names)), np.concatenate(bursts),
                                            names, bad)
    found_all += found
    notes = []
    if ica:
        ica_found, note = ica_artifacts(rec, recipe)
        found_all += ica_found
        notes.append(note)
    found_all.sort(key=lambda a: (a.t0, a.kind))
    return EEGAnalysis(
        path=rec.path, duration=rec.duration, sfreq_in=rec.sfreq, sfreq=pre.sfreq, ch_names=names,
        other_channels=[c for i, c in enumerate(rec.ch_names) if i not in pre.picks],
        unit_labels=sorted(set(rec.unit_labels)), recipe=recipe, window_s=window_s, step_s=step_s,
        times=times, features=feats, freqs=freqs, mean_psd=np.concatenate(mpsd),
        posterior_psd=np.concatenate(ppsd) if ppsd else None,
        posterior_channels=[names[i] for i in posterior], artifacts=found_all, bad_channels=bad_now,
        annotations=list(rec.annotations), notes=notes, mains_scores=line,
    )


ARTIFACT_TEXT = {
    "flat": "flat channel", "clipped": "clipped channel (amplifier saturation)", "missing": "missing samples",
    "burst": "high-amplitude burst", "blink": "eye blink artifact",
}


class _RawFlags:
    """Flat, clipped and missing flags of the raw (unfiltered) windows, kept level with the
    processed windows as the chunks stream by."""

    def __init__(self, rec: Recording, pre: Preprocessor, win: Windower, chunk_s: float, batch: int,
                 cfg: ArtifactConfig):
        self.flags: dict[str, list[np.ndarray]] = {"flat": [], "clipped": [], "missing": []}
        self.n = 0
        self.batch, self.cfg = batch, cfg
        self.clip = rec.clip_range[pre.picks] if rec.clip_range is not None else None

        def chunks():
            step = pre._aligned(max(1, int(round(chunk_s * rec.sfreq))))
            for start in range(0, rec.n_samples, step):
                yield start / rec.sfreq, rec.read(start, min(rec.n_samples, start + step))[pre.picks]

        self._windows = win.windows(chunks())

    def catch_up(self, n_windows: int) -> None:
        """Flag raw windows until as many as `n_windows` are done (or the stream ends)."""
        while self.n < n_windows:
            rt, rw = next(self._windows, (None, None))
            if rt is None:
                break
            for b in range(0, len(rt), self.batch):
                flags = raw_window_flags(rw[b:b + self.batch], self.clip, self.cfg)
                for k in self.flags:
                    self.flags[k].append(flags[k])
            self.n += len(rt)

    def arrays(self, n_win: int, n_ch: int) -> dict[str, np.ndarray]:
        """kind -> (n_win, n_ch) bool, cut or padded (False) to the processed windows."""
        out = {}
        for k, v in self.flags.items():
            arr = np.concatenate(v)[:n_win] if v else np.zeros((0, n_ch), bool)
            out[k] = np.concatenate([arr, np.zeros((n_win - len(arr), n_ch), bool)])
        return out


def _channel_artifacts(times: np.ndarray, window_s: float, flags: dict[str, np.ndarray], bursts: np.ndarray,
                       names: list[str], bad: list[str]) -> tuple[list[Artifact], list[str]]:
    """Missing, flat, clipped and burst spans from per-window flags, and the bad channels: those
    the input check named plus any flat, clipped or missing for more than half the windows."""
    frac = {k: flags[k].mean(0) for k in flags}
    bad_now = sorted({names[i] for k in frac for i in np.flatnonzero(frac[k] > 0.5)} | set(bad), key=names.index)
    bad_cols = np.array([c in bad_now for c in names])
    found: list[Artifact] = []
    for kind, score in (("missing", 0.99), ("flat", 0.95), ("clipped", 0.9)):
        # bad channels' spans apart from the others': merged together, a whole-recording flat
        # channel would carry a brief dropout elsewhere over every window (0% usable)
        for cols in (bad_cols, ~bad_cols):
            found += merge_spans(times, window_s, flags[kind] & cols, kind, names, score)
    found += merge_spans(times, window_s, bursts & ~flags["clipped"] & ~bad_cols, "burst", names, 0.8)
    return found, bad_now


def observations(analysis: EEGAnalysis, *, source: str, offset: float = 0.0) -> Iterator[Observation]:
    """Timed observations for memory: one per window, artifact and file annotation.

    Args:
        analysis: what `analyze` measured.
        source: source id shared with other modalities of the same session.
        offset: seconds added to file time, putting EEG on the caller's time axis (e.g. video).
    """
    h = analysis.recipe_hash
    from perception.eeg.artifacts import frontal_picks

    yield Observation(  # one record of facts about the whole recording, for questions about it
        source=source, t0=offset, t1=analysis.duration + offset, modality="eeg", kind="event",
        labels={"recording": 1.0},
        text=f"EEG recording, {len(analysis.ch_names)} channels at {analysis.sfreq_in:g} Hz, {analysis.duration:.0f} s",
        meta={"recipe": h, "summary": True, "channels": analysis.ch_names, "bad_channels": analysis.bad_channels,
              "frontal": [analysis.ch_names[i] for i in frontal_picks(analysis.ch_names)],
              "posterior": analysis.posterior_channels, "ica": bool(analysis.notes and "ICA (" in analysis.notes[0]),
              "sfreq": analysis.sfreq_in, "duration": analysis.duration, "recipe_json": analysis.recipe.to_json()},
    )
    vec = summary_vector(analysis.features)
    rel = np.nan_to_num(relative_power(analysis.features))
    bands = tuple(BANDS)
    art_mask = analysis.window_artifact_mask()
    for i, t in enumerate(analysis.times):
        labels = {b: float(np.clip(rel[i, k], 0, 1)) for k, b in enumerate(bands)}
        dom = bands[int(np.argmax(rel[i]))]
        yield Observation(
            source=source, t0=float(t + offset), t1=float(t + analysis.window_s + offset), modality="eeg",
            kind="window", vectors={"eeg_bands": vec[i]}, labels=labels,
            text=f"EEG window, {dom} dominant" + (", artifact" if art_mask[i] else ""),
            meta={"recipe": h, "window": i, "artifact": bool(art_mask[i]),
                  "alpha_posterior": _posterior_alpha(analysis, i)},
        )
    for a in analysis.artifacts:
        yield Observation(
            source=source, t0=a.t0 + offset, t1=a.t1 + offset, modality="eeg", kind="artifact",
            labels={a.kind: a.score}, text=f"{ARTIFACT_TEXT.get(a.kind, a.kind.replace('ica:', 'ICA '))}"
            + (f" on {', '.join(a.channels[:8])}" if a.channels else ""),
            meta={"recipe": h, "channels": a.channels, "detail": a.detail, "artifact": a.kind},
        )
    for ann in analysis.annotations:
        yield Observation(
            source=source, t0=ann.onset + offset, t1=ann.onset + ann.duration + offset, modality="eeg",
            kind="event", labels={"annotation": 1.0}, text=ann.description,  # untrusted text from the file
            meta={"recipe": h, "origin": "file annotation"},
        )


def _posterior_alpha(analysis: EEGAnalysis, i: int) -> float | None:
    if analysis.posterior_psd is None:
        return None
    f = analysis.freqs
    p = analysis.posterior_psd[i]
    lo, hi = BANDS["alpha"]
    sel = (f >= lo) & (f < hi)
    tot = (f >= 1) & (f < 30)
    return float(p[sel].sum() / (p[tot].sum() + 1e-12))
