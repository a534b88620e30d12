"""Rhythms measured from an analysis: spectral peaks, the alpha power series and alpha episodes.

Pure functions of `EEGAnalysis` arrays (no text, no confidences); `agentkit.eeg.report` turns
their numbers into statements. The thresholds the report applies are named here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from perception.eeg.features import BANDS
from perception.eeg.pipeline import EEGAnalysis

__all__ = [
    "ALPHA_MIN_RATIO", "ALPHA_MIN_WINDOWS", "MIN_PEAK_PROMINENCE", "PEAK_BAND", "SpectralPeak", "alpha_episodes",
    "alpha_series", "edge_peak", "peak_frequency", "rhythm_band", "spectral_peak",
]

PEAK_BAND: tuple[float, float] = (BANDS["theta"][0], BANDS["alpha"][1])
"""Where a background rhythm is looked for, Hz: theta and alpha (4-13 Hz)."""
MIN_PEAK_PROMINENCE = 2.0
"""A spectral maximum counts as a peak when it stands this many times over the band's median."""
ALPHA_MIN_RATIO = 2.0
"""Alpha episodes need the high and low alpha power levels this many times apart."""
ALPHA_MIN_WINDOWS = 3
"""An alpha episode (and each of the two levels) spans at least this many windows."""


class SpectralPeak(NamedTuple):
    """The maximum of a spectrum inside a band."""

    hz: float
    """Frequency, refined by a parabola through the maximum and its neighbours, kept in the band."""
    prominence: float
    """Power at the maximum over the band's median power."""
    at_edge: bool
    """The maximum is no local maximum of the spectrum: a slope crossing the band edge, not a rhythm."""

    @property
    def clear(self) -> bool:
        """A rhythm worth naming: prominent enough and a true local maximum."""
        return self.prominence >= MIN_PEAK_PROMINENCE and not self.at_edge


def spectral_peak(freqs: np.ndarray, p: np.ndarray, lo: float = PEAK_BAND[0], hi: float = PEAK_BAND[1]) -> SpectralPeak:
    """The maximum of power spectrum `p` (on bins `freqs`, Hz) in [lo, hi) Hz.

    A band with fewer than 3 bins gives ``SpectralPeak(nan, 0.0, True)``.
    """
    sel = np.flatnonzero((freqs >= lo) & (freqs < hi))
    if len(sel) < 3:
        return SpectralPeak(float("nan"), 0.0, True)
    k = sel[np.argmax(p[sel])]
    f = float(freqs[k])
    interior = 0 < k < len(p) - 1
    if interior:
        a, b, c = np.log(p[k - 1] + 1e-20), np.log(p[k] + 1e-20), np.log(p[k + 1] + 1e-20)
        den = a - 2 * b + c
        if den < 0:  # vertex of the parabola, kept within half a bin (a band-edge maximum is no vertex)
            f += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5) * (freqs[1] - freqs[0]))
    f = float(np.clip(f, freqs[sel[0]], freqs[sel[-1]]))  # never outside the band it was found in
    at_edge = not (interior and p[k] >= p[k - 1] and p[k] >= p[k + 1])
    return SpectralPeak(f, float(p[k] / (np.median(p[sel]) + 1e-20)), at_edge)


def peak_frequency(freqs: np.ndarray, p: np.ndarray, lo: float = PEAK_BAND[0],
                   hi: float = PEAK_BAND[1]) -> tuple[float, float]:
    """(peak frequency in [lo, hi) Hz with parabolic refinement, prominence over the band's median)."""
    peak = spectral_peak(freqs, p, lo, hi)
    return peak.hz, peak.prominence


def edge_peak(freqs: np.ndarray, p: np.ndarray, lo: float = PEAK_BAND[0], hi: float = PEAK_BAND[1]) -> bool:
    """True when the [lo, hi) maximum is not a local maximum of the spectrum (it sits on a band
    edge of a falling or rising background: a slope, not a rhythm)."""
    return spectral_peak(freqs, p, lo, hi).at_edge


def rhythm_band(hz: float) -> str:
    """"alpha", "theta" or "other" for a peak frequency."""
    for band in ("alpha", "theta"):
        lo, hi = BANDS[band]
        if lo <= hz < hi:
            return band
    return "other"


def alpha_series(a: EEGAnalysis) -> tuple[np.ndarray, str]:
    """log10 alpha (8-13 Hz) power per window over posterior channels (or all) and which were used."""
    f = a.freqs
    lo, hi = BANDS["alpha"]
    sel = (f >= lo) & (f < hi)
    df = f[1] - f[0]
    if a.posterior_psd is not None:
        return np.log10(a.posterior_psd[:, sel].sum(1) * df + 1e-12), "posterior channels " + ", ".join(a.posterior_channels)
    return np.log10(a.mean_psd[:, sel].sum(1) * df + 1e-12), "all channels (no posterior channel found)"


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


def alpha_episodes(a: EEGAnalysis, clean: np.ndarray, *, min_ratio: float = ALPHA_MIN_RATIO,
                   min_windows: int = ALPHA_MIN_WINDOWS) -> tuple[list[tuple[float, float, float]], float]:
    """Runs of windows where alpha power sits in the upper of two clearly separated levels.

    Args:
        a: the analysis.
        clean: (n_windows,) bool, windows free of artifacts; the levels come from these only.
        min_ratio: the two levels must be this many times apart.
        min_windows: shortest run, in windows.

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
