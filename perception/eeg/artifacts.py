"""Artifacts as timed spans: flat, clipped and missing channels, high-amplitude bursts,
blinks on frontal channels, and ICA components labelled by ICLabel where the montage allows.

Thresholds are explicit settings (`ArtifactConfig`) because they are clinical choices.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from perception.eeg import dsp

logger = logging.getLogger(__name__)

FRONTAL_ROWS = (("Fp1", "Fp2", "Fpz"), ("AF7", "AF8", "AF3", "AF4", "AFz"), ("F7", "F8"))
"""Channels where eye blinks are largest, most anterior row first."""
FRONTAL = tuple(c for row in FRONTAL_ROWS for c in row)


@dataclass(frozen=True)
class ArtifactConfig:
    """Detection thresholds.

    Args:
        flat_uv: a channel whose standard deviation in a window is below this is flat.
        clip_fraction: a channel with at least this fraction of a window's samples held (two
            equal samples in a row) at the converter's rails or at its own extreme is clipped.
        burst_uv: peak-to-peak amplitude (µV, after filtering) above which a window is a burst.
        blink_uv: smallest blink peak on the frontal mean (µV); the threshold used is the larger
            of this and 6 robust SDs of that signal.
        blink_width_s: (min, max) width of a blink deflection at half height.
    """

    flat_uv: float = 0.5
    clip_fraction: float = 0.02
    burst_uv: float = 250.0
    blink_uv: float = 50.0
    blink_width_s: tuple[float, float] = (0.05, 0.6)


@dataclass
class Artifact:
    """One artifact span, in file time (seconds)."""

    t0: float
    t1: float
    kind: str  # "flat", "clipped", "missing", "burst", "blink", "ica:<label>"
    channels: list[str] = field(default_factory=list)
    score: float = 1.0  # confidence in [0, 1]
    detail: str = ""


def raw_window_flags(raw: np.ndarray, clip_range: np.ndarray | None, cfg: ArtifactConfig) -> dict[str, np.ndarray]:
    """Flags from unfiltered windows (n_windows, n_channels, n) µV: each (n_windows, n_channels) bool."""
    finite = np.isfinite(raw)
    missing = ~finite.all(-1)
    x = np.where(finite, raw, 0.0)
    flat = (x.std(-1) < cfg.flat_uv) & ~missing
    # samples sitting exactly on the window's own extreme, many times over (a clipped plateau) ...
    at_rail = (x == x.max(-1, keepdims=True)) | (x == x.min(-1, keepdims=True))
    if clip_range is not None:  # ... or on the converter's rails
        lo, hi = clip_range[None, :, 0:1], clip_range[None, :, 1:2]
        tol = (hi - lo) * 1e-4
        at_rail |= (x <= lo + tol) | (x >= hi - tol)
    held = at_rail[..., 1:] & (x[..., 1:] == x[..., :-1])  # a plateau, not a sine's single peak sample
    clipped = (held.mean(-1) >= cfg.clip_fraction) & ~flat & ~missing
    return {"flat": flat, "clipped": clipped, "missing": missing}


def burst_flags(windows: np.ndarray, cfg: ArtifactConfig) -> np.ndarray:
    """High-amplitude bursts in filtered windows: (n_windows, n_channels) bool."""
    return np.ptp(windows, axis=-1) > cfg.burst_uv


def merge_spans(times: np.ndarray, window_s: float, flags: np.ndarray, kind: str, ch_names: list[str],
                score: float = 0.9) -> list[Artifact]:
    """Join consecutive flagged windows into spans; channels are the union over the span."""
    out: list[Artifact] = []
    any_flag = flags.any(axis=1)
    cur: Artifact | None = None
    for t, row, on in zip(times, flags, any_flag):
        if not on:
            continue
        chans = [ch_names[i] for i in np.flatnonzero(row)]
        if cur is not None and t <= cur.t1 + 1e-9:
            cur.t1 = max(cur.t1, t + window_s)
            cur.channels = sorted(set(cur.channels) | set(chans), key=ch_names.index)
        else:
            cur = Artifact(float(t), float(t + window_s), kind, chans, score)
            out.append(cur)
    return out


def frontal_picks(ch_names: list[str]) -> list[int]:
    """Indices of the most anterior row of frontal channels present (case-insensitive): blinks
    are largest there, and averaging in further rows would dilute them."""
    lower = {c.lower(): i for i, c in enumerate(ch_names)}
    for row in FRONTAL_ROWS:
        found = [lower[c.lower()] for c in row if c.lower() in lower]
        if found:
            return found
    return []


def detect_blinks(x: np.ndarray, sfreq: float, ch_names: list[str], t_start: float,
                  cfg: ArtifactConfig) -> list[Artifact]:
    """Blinks in a preprocessed chunk (n_channels, n) µV starting at `t_start` s.

    Works on the mean of the most anterior frontal channels, low-passed at 10 Hz: a blink is a deflection
    taller than the threshold and 0.05-0.6 s wide. Returns [] when no frontal channel exists.
    """
    picks = frontal_picks(ch_names)
    if not picks or x.shape[1] < int(sfreq):
        return []
    y = x[picks].mean(axis=0)
    y = y - np.median(y)
    h = min(10.0, sfreq / 2 * 0.9)
    pad = int(sfreq)
    y = dsp.fft_filter(dsp.odd_pad(y[None], pad, pad), sfreq,
                       lambda f: dsp.zero_phase_gain(f, l_freq=None, h_freq=h, order=4))[0][0, pad:pad + len(y)]
    mad = np.median(np.abs(y - np.median(y))) * 1.4826
    thr = max(cfg.blink_uv, 6 * mad)
    polarity = 1.0 if np.percentile(y, 99.9) >= -np.percentile(y, 0.1) else -1.0
    out = []
    names = [ch_names[i] for i in picks]
    for p, h, left, right in dsp.find_peaks(polarity * y, thr, int(0.3 * sfreq)):
        if not cfg.blink_width_s[0] * sfreq <= right - left <= cfg.blink_width_s[1] * sfreq:
            continue
        score = float(min(0.99, 0.5 + 0.5 * (1 - thr / h))) if h > 0 else 0.5
        out.append(Artifact(t_start + left / sfreq, t_start + right / sfreq, "blink", names, score,
                            f"peak {polarity * h:.0f} µV on the frontal mean"))
    return out


def ica_artifacts(rec, recipe, *, seconds: float = 180.0, n_components: int = 15,
                  seed: int = 0) -> tuple[list[Artifact], str]:
    """Fit ICA on up to `seconds` of the recording and label components with ICLabel.

    Needs EEG channels with positions in the standard 10-05 montage (at least 8 of them).
    ICLabel was trained on 1-100 Hz band-passed, average-referenced data, so that is what the
    ICA is fitted on (whatever the recipe says).

    Returns:
        (artifacts, note): one Artifact per non-brain component with its ICLabel probability,
        spanning the analysed segment; `note` says what was done or why it was skipped.
    """
    try:
        import mne
        from mne_icalabel import label_components
    except ImportError as err:
        return [], f"ICA skipped: {err.name} is not installed"
    builtin = mne.channels.get_builtin_montages()
    montage = mne.channels.make_standard_montage("colin27_1005" if "colin27_1005" in builtin else "standard_1005")
    known = {c.lower(): c for c in montage.ch_names}
    picks = [i for i in rec.eeg_picks if rec.ch_names[i].lower() in known
             and rec.ch_names[i] not in (rec.check.bad_channels if rec.check else [])]
    if len(picks) < 8:
        return [], f"ICA skipped: {len(picks)} EEG channels with standard 10-05 positions (need 8)"
    n = min(rec.n_samples, int(seconds * rec.sfreq))
    start = max(0, (rec.n_samples - n) // 2)
    data = np.nan_to_num(rec.read(start, start + n)[picks]) * 1e-6
    names = [known[rec.ch_names[i].lower()] for i in picks]
    info = mne.create_info(names, rec.sfreq, "eeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mne.io.RawArray(data, info, verbose="error")
        raw.set_montage(montage, verbose="error")
        h = min(100.0, rec.sfreq / 2 * 0.9)
        raw.filter(1.0, h, verbose="error")
        raw.set_eeg_reference("average", verbose="error")
        k = min(n_components, len(picks) - 1)
        ica = mne.preprocessing.ICA(n_components=k, method="infomax", fit_params=dict(extended=True),
                                    random_state=seed, max_iter=300, verbose="error")
        ica.fit(raw, verbose="error")
        result = label_components(raw, ica, method="iclabel")
    t0, t1 = start / rec.sfreq, (start + n) / rec.sfreq
    out = []
    for comp, (label, prob) in enumerate(zip(result["labels"], result["y_pred_proba"])):
        if label in ("brain", "other"):
            continue
        out.append(Artifact(t0, t1, f"ica:{label}", names, float(prob),
                            f"ICA component {comp} labelled {label!r} by ICLabel (p={float(prob):.2f})"))
    note = (f"ICA ({k} components, extended infomax) on {t1 - t0:.0f} s from {t0:.0f} s; "
            f"ICLabel: {', '.join(result['labels'])}")
    return out, note
