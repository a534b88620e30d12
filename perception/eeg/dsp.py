"""Signal processing in numpy alone: zero-phase frequency-domain filters, FFT resampling, Welch
spectra and a small peak finder.

Why not scipy.signal: importing it costs ~85 MB of resident memory (it pulls in scipy.stats),
most of the 1.5x-file-size budget for a 1 h recording. Everything here is a few lines over
`numpy.fft`.

Filters are defined by their zero-phase gain: the squared magnitude of a Butterworth (what a
forward-backward `filtfilt` of that Butterworth gives, -6 dB at the edge) and of a second-order
notch. They are applied by multiplying the spectrum of a block padded on both sides; with the
overlap-discard scheme of `perception.eeg.recipe` the padding is real neighbouring data inside
the recording and odd reflection at its ends.
"""
from __future__ import annotations

import numpy as np


def next_fast_len(n: int, multiple: int = 1) -> int:
    """Smallest m >= n with only factors 2, 3, 5 (fast FFT) that is a multiple of `multiple`."""
    m = max(1, n)
    while True:
        if m % multiple == 0:
            k = m
            for p in (2, 3, 5):
                while k % p == 0:
                    k //= p
            if k == 1:
                return m
        m += 1


def zero_phase_gain(freqs: np.ndarray, *, l_freq: float | None, h_freq: float | None, order: int,
                    notches: tuple[float, ...] = (), notch_q: float = 30.0) -> np.ndarray:
    """Gain per frequency (Hz) of a forward-backward Butterworth band-pass times notches."""
    f = np.abs(np.asarray(freqs, dtype=np.float64))
    g = np.ones_like(f)
    if h_freq:
        g /= 1.0 + (f / h_freq) ** (2 * order)
    if l_freq:
        safe = np.where(f > 0, f, 1.0)
        with np.errstate(over="ignore"):
            g *= np.where(f > 0, 1.0 / (1.0 + (l_freq / safe) ** (2 * order)), 0.0)
    for f0 in notches:
        d = (f0 ** 2 - f ** 2) ** 2
        g *= d / (d + (f * f0 / notch_q) ** 2 + 1e-300)
    return g


def odd_pad(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Pad the last axis by odd reflection (2*x[0] - x[k]), which keeps level and slope at the edge."""
    n = x.shape[-1]
    left, right = min(left, n - 1), min(right, n - 1)
    parts = []
    if left > 0:
        parts.append(2 * x[..., :1] - x[..., left:0:-1])
    parts.append(x)
    if right > 0:
        parts.append(2 * x[..., -1:] - x[..., -2:-right - 2:-1])
    return np.concatenate(parts, axis=-1) if len(parts) > 1 else x


def fft_filter(x: np.ndarray, sfreq: float, gain_fn, *, up: int = 1, down: int = 1) -> tuple[np.ndarray, float]:
    """Multiply the spectrum of each row by gain_fn(freqs) and resample by up/down.

    Args:
        x: (n_channels, n) block, already padded by the caller.
        sfreq: its rate.
        gain_fn: freqs (Hz) -> gain.
        up, down: output rate = sfreq * up / down (truncating or zero-extending the spectrum).

    Returns:
        (n_channels, m) with m = ceil(n * up / down), and the output rate.
    """
    n = x.shape[-1]
    nfft = next_fast_len(n, down)
    spec = np.fft.rfft(x, n=nfft, axis=-1)
    spec *= gain_fn(np.fft.rfftfreq(nfft, 1.0 / sfreq))
    n_out = nfft * up // down
    if n_out != nfft:
        keep = n_out // 2 + 1
        if keep <= spec.shape[-1]:
            spec = spec[..., :keep]
        y = np.fft.irfft(spec, n=n_out, axis=-1) * (n_out / nfft)
    else:
        y = np.fft.irfft(spec, n=nfft, axis=-1)
    m = -(-n * up // down)
    return y[..., :m], sfreq * up / down


def welch(x: np.ndarray, sfreq: float, nperseg: int, nfft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided power spectral density (units²/Hz) by Welch's method over the last axis:
    Hann windows, 50% overlap, constant detrend, segments averaged."""
    n = x.shape[-1]
    nperseg = int(min(nperseg, n))
    nfft = int(max(nfft or nperseg, nperseg))
    step = max(1, nperseg // 2)
    starts = range(0, n - nperseg + 1, step)
    win = np.hanning(nperseg + 2)[1:-1] if nperseg > 2 else np.ones(nperseg)
    scale = 1.0 / (sfreq * (win ** 2).sum())
    acc = None
    for s in starts:  # one segment at a time: bounded memory
        seg = x[..., s:s + nperseg]
        seg = (seg - seg.mean(-1, keepdims=True)) * win
        p = np.abs(np.fft.rfft(seg, n=nfft, axis=-1)) ** 2
        acc = p if acc is None else acc + p
    p = acc * (scale / len(starts))
    p[..., 1:-1 if nfft % 2 == 0 else None] *= 2
    return np.fft.rfftfreq(nfft, 1.0 / sfreq), p


def find_peaks(y: np.ndarray, height: float, min_distance: int) -> list[tuple[int, float, float, float]]:
    """Peaks of a 1-D signal above `height`: one per supra-threshold run, at its maximum.

    Returns [(index, value, left, right)] where left/right are the fractional indices where the
    signal falls to half the peak's value; runs closer than `min_distance` keep the taller.
    """
    above = y > height
    if not above.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(np.int8), [0]])))
    peaks: list[tuple[int, float, float, float]] = []
    for a, b in zip(edges[::2], edges[1::2]):
        i = a + int(np.argmax(y[a:b]))
        h = float(y[i])
        half = h / 2
        left = i
        while left > 0 and y[left - 1] > half:
            left -= 1
        right = i
        while right < len(y) - 1 and y[right + 1] > half:
            right += 1
        lf = left - (y[left] - half) / (y[left] - y[left - 1]) if left > 0 and y[left] != y[left - 1] else float(left)
        rf = right + (y[right] - half) / (y[right] - y[right + 1]) if right < len(y) - 1 and y[right] != y[right + 1] else float(right)
        if peaks and i - peaks[-1][0] < min_distance:
            if h > peaks[-1][1]:
                peaks[-1] = (i, h, lf, rf)
            continue
        peaks.append((i, h, lf, rf))
    return peaks
