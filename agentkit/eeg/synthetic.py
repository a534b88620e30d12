"""Generated EEG recordings whose content is known: what `agentkit.eeg.evaluate` judges the report on.

`make_recording` builds one: 1/f background, white (muscle/electrode) noise and slow drift, then,
each with a chance, a posterior alpha rhythm in episodes or throughout (or a theta rhythm),
frontal blinks (0.5-25 a minute), high-amplitude bursts, flat and clipped channels and a 50/60 Hz
mains line, over montages of 4-32 channels, 128-500 Hz and 40-180 s. The shares of each case
are choices, written here; the calibrator is only as true as this mixture is to real recordings.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EEGTruth", "MONTAGES", "SyntheticEEG", "make_recording"]


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
    """One labelled recording, a pure function of `seed` (same seed, same data and truth).

    The parts are drawn in a fixed order from one generator (background, rhythm, then each
    artifact), so a seed always gives the same recording and the shipped calibrator's set stays put.
    """
    rng = np.random.default_rng([_SET_TAG, int(seed)])
    montage = str(rng.choice(list(_MONTAGE_P), p=list(_MONTAGE_P.values())))
    names = MONTAGES[montage]
    fs = float(rng.choice(_RATES))
    duration = float(round(rng.uniform(40.0, 180.0)))
    n = int(duration * fs)
    t = np.arange(n) / fs
    truth = EEGTruth(rec_id=f"eeg-{seed}", seed=int(seed), sfreq=fs, duration=duration, ch_names=list(names))
    clean = _background(rng, len(names), n, fs, truth)
    _add_rhythm(rng, clean, names, t, fs, duration, truth)
    data = clean.copy()
    _add_blinks(rng, data, names, t, fs, duration, truth)
    _add_bursts(rng, data, names, fs, duration, truth)
    _add_mains(rng, data, t, truth)
    taken = _add_flat(rng, data, names, fs, duration, truth)
    _add_clipping(rng, data, names, taken, truth)
    return SyntheticEEG(data=data, clean=clean, truth=truth)


def _background(rng, n_ch: int, n: int, fs: float, truth: EEGTruth) -> np.ndarray:
    """Correlated 1/f activity, white noise and slow drift."""
    beta, rho = rng.uniform(0.8, 1.6), rng.uniform(0.1, 0.5)
    bg_sd, white_sd, drift_sd = _loguniform(rng, 5, 25), _loguniform(rng, 1, 12), _loguniform(rng, 2, 30)
    truth.noise = {"background_uv": bg_sd, "white_uv": white_sd, "drift_uv": drift_sd, "beta": float(beta)}
    common = _shaped(rng, 1, n, fs, beta)
    clean = bg_sd * (np.sqrt(1 - rho) * _shaped(rng, n_ch, n, fs, beta) + np.sqrt(rho) * common)
    clean += white_sd * rng.normal(size=(n_ch, n)) + drift_sd * _shaped(rng, n_ch, n, fs, 2.0, floor_hz=0.05)
    return clean


def _add_rhythm(rng, clean: np.ndarray, names, t: np.ndarray, fs: float, duration: float, truth: EEGTruth) -> None:
    """Alpha in episodes or throughout, or theta throughout (or none)."""
    if rng.random() >= 0.75:
        return
    n = t.size
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


def _add_blinks(rng, data: np.ndarray, names, t: np.ndarray, fs: float, duration: float, truth: EEGTruth) -> None:
    """Gaussian bumps on the frontal channels, sized per recording around the 50 µV threshold."""
    if rng.random() >= 0.55:
        return
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


def _add_bursts(rng, data: np.ndarray, names, fs: float, duration: float, truth: EEGTruth) -> None:
    """High-amplitude slow waves on some channels (movement, electrode pops)."""
    if rng.random() >= 0.35:
        return
    n_ch = len(names)
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


def _add_mains(rng, data: np.ndarray, t: np.ndarray, truth: EEGTruth) -> None:
    """One mains line on every channel, each with its own gain."""
    if rng.random() >= 0.55:
        return
    f_line, amp = float(rng.choice((50.0, 60.0))), _loguniform(rng, 0.5, 40.0)
    gain = rng.uniform(0.5, 1.5, (data.shape[0], 1))
    data += amp * gain * np.sin(2 * np.pi * f_line * t + rng.uniform(0, 2 * np.pi))[None]
    truth.mains_hz, truth.mains_uv = f_line, float(amp)


def _add_flat(rng, data: np.ndarray, names, fs: float, duration: float, truth: EEGTruth) -> set[int]:
    """Flat channels, whole or partial, with residual noise from none to just above the 0.5 µV
    threshold; returns the channels taken."""
    taken: set[int] = set()
    n_ch = len(names)
    if not (rng.random() < 0.25 and n_ch > 2):
        return taken
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
    return taken


def _add_clipping(rng, data: np.ndarray, names, taken: set[int], truth: EEGTruth) -> None:
    """A clipped channel: held at +-c around its median, c between 0.6 and 1.5 SDs."""
    if rng.random() >= 0.1:
        return
    free = [i for i in range(len(names)) if i not in taken]
    ch = int(rng.choice(free))
    med, c = np.median(data[ch]), rng.uniform(0.6, 1.5) * data[ch].std()
    data[ch] = np.clip(data[ch], med - c, med + c)
    truth.clipped.append(names[ch])
