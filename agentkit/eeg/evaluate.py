"""Calibrating the EEG report on generated recordings whose content is known.

Real recordings labelled blink by blink, burst by burst and episode by episode are not shipped,
so `make_recording` builds them: 1/f background, white (muscle/electrode) noise and slow drift,
then, each with a chance, a posterior alpha rhythm in episodes or throughout (or a theta rhythm),
frontal blinks (0.5-25 a minute), high-amplitude bursts, flat and clipped channels and a 50/60 Hz
mains line. Sizes are drawn over ranges that straddle the detectors' thresholds (weak blinks and
bursts, nearly flat channels, faint mains and alpha), so some statements are wrong and
calibration has something to learn. Montages (4-32 channels, some without frontal or posterior
channels), sampling rates (128-500 Hz), durations (40-180 s) and noise levels vary per recording.
The calibrator is only as true as this mixture is to the recordings it meets: the shares of each
case are choices, written in `make_recording`.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from agentkit.calibration import CalibrationRow, brier, ece, fit_calibrator
from agentkit.eeg.report import CALIBRATOR_PATH, Statement, build_report, eeg_calibrator, statement_features
from perception.eeg import analyze, from_array
from perception.eeg.features import BANDS, REL_POWER, Windower, window_features
from perception.eeg.pipeline import EEGAnalysis

__all__ = ["EEGTruth", "SyntheticEEG", "eeg_rows", "judge_report", "make_recording", "run_eeg_eval", "truth_json"]

logger = logging.getLogger(__name__)

_SET_TAG = 20261202
"""Mixed into every recording's seed, so this set's streams differ from other seeded code."""

MONTAGES: dict[str, tuple[str, ...]] = {
    "10-20": ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4",
              "P8", "O1", "O2"),
    "12": ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "T7", "T8"),
    "8": ("Fp1", "Fp2", "C3", "C4", "P3", "P4", "O1", "O2"),
    "4": ("Fp1", "Fp2", "O1", "O2"),
    "32": ("Fp1", "Fp2", "AF3", "AF4", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz",
           "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3", "Pz", "P4", "P8", "PO3", "PO4", "O1", "Oz", "O2"),
    "no-frontal": ("F3", "F4", "C3", "Cz", "C4", "P3", "P4", "O1", "O2"),
    "no-posterior": ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "T7", "T8"),
    "generic": tuple(f"E{i}" for i in range(1, 11)),
}
"""Channel sets drawn from: standard 10-20/10-10 subsets, some without frontal (no blink
statement possible) or posterior channels (alpha over all channels), and unnamed electrodes."""
_MONTAGE_P = {"10-20": 0.2, "12": 0.2, "8": 0.15, "4": 0.1, "32": 0.1, "no-frontal": 0.1, "no-posterior": 0.1,
              "generic": 0.05}
_RATES = (128.0, 200.0, 250.0, 256.0, 256.0, 500.0)

BLINK_TOL_S = 0.25
USABLE_TOL = 10.0
RHYTHM_TOL_HZ = 1.0
ALPHA_IOU = 0.5


@dataclass
class EEGTruth:
    """What was put into one generated recording (times in s, amplitudes in µV)."""

    rec_id: str
    seed: int
    sfreq: float
    duration: float
    ch_names: list[str]
    rhythm: str | None = None
    """"alpha", "theta" or None."""
    rhythm_hz: float | None = None
    rhythm_uv: float = 0.0
    alpha_episodes: list[tuple[float, float]] = field(default_factory=list)
    """ON intervals of an episodic alpha rhythm (empty when absent or present throughout)."""
    blinks: list[tuple[float, float, float]] = field(default_factory=list)
    """(start, end, peak µV on Fp1/Fp2) of each blink; the span is the centre +- 1.5 widths."""
    bursts: list[tuple[float, float, float]] = field(default_factory=list)
    """(start, end, peak-to-peak µV) of each high-amplitude burst."""
    burst_channels: list[list[str]] = field(default_factory=list)
    flat: list[tuple[str, float, float, float]] = field(default_factory=list)
    """(channel, start, end, residual SD µV) of each flat span."""
    clipped: list[str] = field(default_factory=list)
    mains_hz: float | None = None
    mains_uv: float = 0.0
    noise: dict[str, float] = field(default_factory=dict)
    """Background SD, white-noise SD, drift SD (µV) and 1/f exponent."""

    def bad_channels(self) -> set[str]:
        """Channels the report should call bad: flat for more than half of the recording, or clipped."""
        flat_s: dict[str, float] = {}
        for ch, t0, t1, _ in self.flat:
            flat_s[ch] = flat_s.get(ch, 0.0) + (t1 - t0)
        return {c for c, s in flat_s.items() if s > 0.5 * self.duration} | set(self.clipped)

    def local_artifacts(self) -> list[tuple[float, float]]:
        """Spans that make a window unusable: blinks, bursts and flat spans of channels that are not bad."""
        bad = self.bad_channels()
        return ([(a, b) for a, b, _ in self.blinks] + [(a, b) for a, b, _ in self.bursts]
                + [(a, b) for c, a, b, _ in self.flat if c not in bad])


@dataclass
class SyntheticEEG:
    """One generated recording: the data the report sees and the clean signal the judge uses."""

    data: np.ndarray  # (n_channels, n_samples) µV
    clean: np.ndarray  # (n_channels, n_samples) µV: background + noise + rhythm, no artifacts or mains
    truth: EEGTruth


# ----------------------------------------------------------------------------- generation
def _shaped(rng: np.random.Generator, n_ch: int, n: int, fs: float, beta: float, floor_hz: float = 0.3) -> np.ndarray:
    """(n_ch, n) noise with power ~ 1/f**beta above `floor_hz`, unit SD per channel."""
    spec = np.fft.rfft(rng.normal(size=(n_ch, n)), axis=-1)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= np.maximum(f, floor_hz) ** (-beta / 2)
    spec[:, 0] = 0.0
    x = np.fft.irfft(spec, n=n, axis=-1)
    return x / (x.std(axis=1, keepdims=True) + 1e-12)


def _smooth(rng: np.random.Generator, n: int, fs: float, cutoff_hz: float) -> np.ndarray:
    """(n,) slow random wiggle (unit SD) with no power above `cutoff_hz`."""
    spec = np.fft.rfft(rng.normal(size=n))
    spec[np.fft.rfftfreq(n, 1.0 / fs) > cutoff_hz] = 0.0
    x = np.fft.irfft(spec, n=n)
    return x / (x.std() + 1e-12)


def _weights(names: tuple[str, ...], kind: str, rng: np.random.Generator) -> np.ndarray:
    """Per-channel gain of a source: blinks frontal, alpha posterior, theta fronto-central."""
    out = []
    for c in names:
        u = c.upper()
        if kind == "blink":
            w = 1.0 if u.startswith("FP") else 0.7 if u.startswith("AF") else 0.5 if u in ("F7", "F8") else \
                0.35 if u in ("F3", "F4", "FZ") else 0.2 if u.startswith("FC") else 0.05
        elif kind == "alpha":
            w = 1.0 if u in ("O1", "O2", "OZ") else 0.9 if u.startswith("PO") else 0.7 if u.startswith("P") else \
                0.3 if u.startswith(("T", "CP")) else 0.25 if u.startswith("C") else 0.05 if u.startswith("FP") else 0.1
        else:  # theta
            w = 1.0 if u in ("FZ", "CZ", "F3", "F4", "C3", "C4") else 0.5
        out.append(w)
    if names and names[0].startswith("E"):  # unnamed electrodes: no known geography
        out = list(rng.uniform(0.2, 1.0, len(names)))
    return np.asarray(out)


def _ramp(t: np.ndarray, t0: float, t1: float, edge: float = 0.5) -> np.ndarray:
    """1 inside [t0, t1] with raised-cosine edges `edge` s wide centred on t0 and t1."""
    up = np.clip((t - t0) / edge + 0.5, 0, 1)
    down = np.clip((t1 - t) / edge + 0.5, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def make_recording(seed: int) -> SyntheticEEG:
    """One labelled recording, a pure function of `seed` (same seed, same data and truth)."""
    rng = np.random.default_rng([_SET_TAG, int(seed)])
    montage = str(rng.choice(list(_MONTAGE_P), p=list(_MONTAGE_P.values())))
    names = MONTAGES[montage]
    fs = float(rng.choice(_RATES))
    duration = float(round(rng.uniform(40.0, 180.0)))
    n, n_ch = int(duration * fs), len(names)
    t = np.arange(n) / fs
    truth = EEGTruth(rec_id=f"eeg-{seed}", seed=int(seed), sfreq=fs, duration=duration, ch_names=list(names))

    # background: correlated 1/f activity, white noise, slow drift
    beta, rho = rng.uniform(0.8, 1.6), rng.uniform(0.1, 0.5)
    bg_sd, white_sd, drift_sd = _loguniform(rng, 5, 25), _loguniform(rng, 1, 12), _loguniform(rng, 2, 30)
    truth.noise = {"background_uv": bg_sd, "white_uv": white_sd, "drift_uv": drift_sd, "beta": float(beta)}
    common = _shaped(rng, 1, n, fs, beta)
    clean = bg_sd * (np.sqrt(1 - rho) * _shaped(rng, n_ch, n, fs, beta) + np.sqrt(rho) * common)
    clean += white_sd * rng.normal(size=(n_ch, n)) + drift_sd * _shaped(rng, n_ch, n, fs, 2.0, floor_hz=0.05)

    # a rhythm: alpha in episodes or throughout, or theta throughout
    if rng.random() < 0.75:
        kind = "alpha" if rng.random() < 0.85 else "theta"
        f0 = rng.uniform(8.5, 12.0) if kind == "alpha" else rng.uniform(5.0, 7.0)
        amp = _loguniform(rng, 1.5, 40.0)
        phase = 2 * np.pi * np.cumsum(f0 + 0.15 * _smooth(rng, n, fs, 0.5)) / fs
        wave = amp * np.sqrt(2) * np.sin(phase) * np.clip(1 + 0.25 * _smooth(rng, n, fs, 0.3), 0.3, None)
        gate = np.ones(n)
        if kind == "alpha" and rng.random() < 0.6:
            episodes = []
            t_on = 0.0 if rng.random() < 0.15 else rng.uniform(3.0, 0.4 * duration)
            for _ in range(int(rng.integers(1, 4))):
                length = min(rng.uniform(8.0, 40.0), duration - t_on)
                if length < 8.0:
                    break
                episodes.append((float(t_on), float(t_on + length)))
                t_on += length + rng.uniform(8.0, 40.0)
                if t_on > duration - 8.0:
                    break
            if episodes:
                gate = sum(_ramp(t, a, b) for a, b in episodes)
                truth.alpha_episodes = episodes
        clean += _weights(names, kind, rng)[:, None] * (wave * gate)[None]
        truth.rhythm, truth.rhythm_hz, truth.rhythm_uv = kind, float(f0), float(amp)

    data = clean.copy()
    # blinks: Gaussian bumps on the frontal channels, sized per recording around the 50 µV threshold
    if rng.random() < 0.55:
        rate, base = _loguniform(rng, 0.5, 25.0), _loguniform(rng, 25.0, 300.0)  # per minute; µV
        w_ch = _weights(names, "blink", rng)[:, None]
        last = -2.0
        for c in np.sort(rng.uniform(1.0, duration - 1.0, int(max(1, round(rate * duration / 60))))):
            if c - last < 1.0:
                continue
            width, peak = rng.uniform(0.06, 0.12), base * rng.uniform(0.75, 1.25)
            i0, i1 = int((c - 4 * width) * fs), int((c + 4 * width) * fs) + 1
            data[:, i0:i1] += w_ch * peak * np.exp(-((t[i0:i1] - c) / width) ** 2)[None]
            truth.blinks.append((float(c - 1.5 * width), float(c + 1.5 * width), float(peak)))
            last = c
    # bursts: high-amplitude slow waves on some channels (movement, electrode pops)
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 5))):
            length, ptp = rng.uniform(0.3, 2.0), _loguniform(rng, 120.0, 900.0)
            t0 = rng.uniform(0.5, duration - length - 0.5)
            i0, m = int(t0 * fs), int(length * fs)
            k = max(1, int(round(rng.uniform(0.1, 1.0) * n_ch)))
            chans = np.sort(rng.choice(n_ch, k, replace=False))
            tt = np.arange(m) / fs
            wave = sum(np.sin(2 * np.pi * rng.uniform(1.0, 8.0) * tt + rng.uniform(0, 2 * np.pi)) for _ in range(3))
            wave = (wave + 0.3 * rng.normal(size=m)) * np.hanning(m)
            wave *= ptp / (np.ptp(wave) + 1e-12)
            data[chans, i0:i0 + m] += rng.uniform(0.5, 1.0, (k, 1)) * wave[None]
            truth.bursts.append((float(t0), float(t0 + length), float(ptp)))
            truth.burst_channels.append([names[i] for i in chans])
    # mains: one line on every channel with its own gain
    if rng.random() < 0.55:
        f_line, amp = float(rng.choice((50.0, 60.0))), _loguniform(rng, 0.5, 40.0)
        gain = rng.uniform(0.5, 1.5, (n_ch, 1))
        data += amp * gain * np.sin(2 * np.pi * f_line * t + rng.uniform(0, 2 * np.pi))[None]
        truth.mains_hz, truth.mains_uv = f_line, float(amp)
    # flat channels (whole or partial; residual noise from none to just above the 0.5 µV threshold)
    taken: set[int] = set()
    if rng.random() < 0.25 and n_ch > 2:
        for ch in rng.choice(n_ch, int(rng.integers(1, 3)), replace=False):
            u = rng.random()
            resid = 0.0 if u < 0.3 else rng.uniform(0.02, 0.3) if u < 0.8 else rng.uniform(0.35, 0.7)
            if rng.random() < 0.6:
                t0, t1 = 0.0, duration
            else:
                t0 = float(round(rng.uniform(0.0, duration - 10.0), 2))
                t1 = float(min(duration, t0 + rng.uniform(8.0, 40.0)))
            i0, i1 = int(t0 * fs), int(t1 * fs)
            data[ch, i0:i1] = data[ch, i0] + resid * rng.normal(size=i1 - i0)
            truth.flat.append((names[ch], t0, t1, float(resid)))
            taken.add(int(ch))
    # a clipped channel: held at +-c around its median, c between 0.6 and 1.5 SDs
    if rng.random() < 0.1:
        free = [i for i in range(n_ch) if i not in taken]
        ch = int(rng.choice(free))
        med, c = np.median(data[ch]), rng.uniform(0.6, 1.5) * data[ch].std()
        data[ch] = np.clip(data[ch], med - c, med + c)
        truth.clipped.append(names[ch])
    return SyntheticEEG(data=data, clean=clean, truth=truth)


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
