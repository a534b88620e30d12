"""Weights-free window features: band powers, relative powers, spectral edge, line length.

Readable baselines a clinician can check: each number has a name and a unit. All functions
take windows as an array `(n_windows, n_channels, n_samples)` and work on every window at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from perception.eeg import dsp

BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 45.0),
}
"""Classical EEG bands in Hz (lower edge inclusive, upper exclusive)."""

FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"logpow_{b}" for b in BANDS) + tuple(f"rel_{b}" for b in BANDS) + ("sef95", "line_length")
)
"""Per-channel feature order: log10 band power (µV²), relative power, 95% spectral edge (Hz),
line length (µV per second)."""

REL_POWER = slice(len(BANDS), 2 * len(BANDS))
"""Where the relative band powers sit on the last axis of `window_features` (in `BANDS` order)."""


def relative_power(features: np.ndarray) -> np.ndarray:
    """(n_windows, n_bands) relative band power of each window, averaged over channels (NaN
    channels skipped), from (n_windows, n_channels, n_features) `window_features` output."""
    return np.nanmean(features[:, :, REL_POWER], axis=1)


def band_limits(sfreq: float, h_freq: float | None = None) -> dict[str, tuple[float, float]]:
    """Bands clipped to what the rate and the low-pass leave; empty bands are dropped."""
    top = min(sfreq / 2, h_freq or sfreq / 2)
    return {b: (lo, min(hi, top)) for b, (lo, hi) in BANDS.items() if lo < top}


def psd(windows: np.ndarray, sfreq: float, *, resolution: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of each window and channel.

    Args:
        windows: (n_windows, n_channels, n_samples) µV.
        sfreq: Hz.
        resolution: frequency bin width in Hz (segments are zero-padded to reach it).

    Returns:
        freqs (n_freqs,), psd (n_windows, n_channels, n_freqs) in µV²/Hz.
    """
    n = windows.shape[-1]
    nper = int(min(n, sfreq))  # 1 s segments: ~1 Hz true resolution, robust estimate
    nfft = max(nper, int(round(sfreq / resolution)))
    return dsp.welch(windows, sfreq, nper, nfft)


def band_features(freqs: np.ndarray, p: np.ndarray, sfreq: float, h_freq: float | None = None) -> np.ndarray:
    """(n_windows, n_channels, 12) features in `FEATURE_NAMES` order from a PSD (bands beyond Nyquist are NaN)."""
    df = freqs[1] - freqs[0]
    limits = band_limits(sfreq, h_freq)
    total_band = (freqs >= 1.0) & (freqs < max(hi for _, hi in limits.values()))
    total = p[..., total_band].sum(-1) * df + 1e-12
    out = np.full(p.shape[:2] + (len(FEATURE_NAMES),), np.nan)
    for k, band in enumerate(BANDS):
        if band not in limits:
            continue
        lo, hi = limits[band]
        sel = (freqs >= lo) & (freqs < hi)
        power = p[..., sel].sum(-1) * df
        out[..., k] = np.log10(power + 1e-12)
        out[..., len(BANDS) + k] = power / total
    cum = np.cumsum(p[..., total_band], axis=-1)
    edge = (cum >= 0.95 * cum[..., -1:]).argmax(-1)
    out[..., 2 * len(BANDS)] = freqs[total_band][edge]
    return out


def line_length(windows: np.ndarray, sfreq: float) -> np.ndarray:
    """Mean absolute sample-to-sample change, in µV per second: (n_windows, n_channels)."""
    return np.abs(np.diff(windows, axis=-1)).mean(-1) * sfreq


def window_features(windows: np.ndarray, sfreq: float, h_freq: float | None = None):
    """Per-channel features and the channel-mean PSD of each window.

    Returns:
        features (n_windows, n_channels, 12), freqs (n_freqs,), mean psd (n_windows, n_freqs)
        over channels, and the per-channel psd (n_windows, n_channels, n_freqs).
    """
    freqs, p = psd(windows, sfreq)
    feats = band_features(freqs, p, sfreq, h_freq)
    feats[..., -1] = line_length(windows, sfreq)
    return feats, freqs, p.mean(axis=1), p


def summary_vector(features: np.ndarray) -> np.ndarray:
    """Channel-averaged features, NaN -> 0: (n_windows, 12) float32, the vector stored in memory."""
    return np.nan_to_num(np.nanmean(features, axis=1) if features.shape[1] else features[:, 0]).astype(np.float32)


@dataclass
class Windower:
    """Cuts a chunk stream into fixed windows with overlap, carrying leftovers across chunks.

    Args:
        sfreq: Hz of the stream.
        window_s: window length in seconds.
        step_s: hop between window starts (step < window: overlap).
    """

    sfreq: float
    window_s: float = 2.0
    step_s: float = 1.0

    def __post_init__(self):
        if self.window_s <= 0 or self.step_s <= 0:
            raise ValueError(f"window_s and step_s must be positive, got {self.window_s}, {self.step_s}")
        self.n = int(round(self.window_s * self.sfreq))
        self.hop = int(round(self.step_s * self.sfreq))
        if self.n < 4:
            raise ValueError(f"window_s: {self.window_s} s at {self.sfreq} Hz is under 4 samples")

    def reset(self) -> None:
        """Forget carried samples; the next push starts a new stream at time 0."""
        self._buf = None
        self._buf_start = 0  # sample index of _buf[:, 0]
        self._next = 0  # sample index of the next window start

    def push(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add the next (n_channels, n) block; return (start times (k,), windows (k, n_channels, n))."""
        if not hasattr(self, "_buf"):
            self.reset()
        self._buf = x if self._buf is None else np.concatenate([self._buf, x], axis=1)
        starts = []
        while self._next + self.n <= self._buf_start + self._buf.shape[1]:
            starts.append(self._next)
            self._next += self.hop
        if starts:  # a strided view, no copy: (k, n_channels, n)
            i0 = starts[0] - self._buf_start
            view = np.lib.stride_tricks.sliding_window_view(self._buf, self.n, axis=1)
            win = view[:, i0:i0 + self.hop * (len(starts) - 1) + 1:self.hop].transpose(1, 0, 2)
        else:
            win = np.zeros((0, self._buf.shape[0], self.n))
        drop = min(self._next - self._buf_start, self._buf.shape[1])
        if drop > 0:
            self._buf = self._buf[:, drop:]
            self._buf_start += drop
        return np.array(starts, dtype=np.float64) / self.sfreq, win

    def windows(self, chunks: Iterator[tuple[float, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (start times (k,), windows (k, n_channels, n)) per incoming (t, chunk) pair."""
        self.reset()
        for _, x in chunks:
            t, w = self.push(x)
            if len(t):
                yield t, w
