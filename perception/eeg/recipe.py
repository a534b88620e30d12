"""Preprocessing as one explicit recipe: band-pass, mains notch, resample, re-reference.

The recipe is a frozen dataclass. Once resolved against a recording (mains frequency detected,
rates checked) it is written as canonical JSON, and the sha256 of that JSON goes into every
observation's `meta["recipe"]`, so a stored observation says exactly how it was made.

Filtering is zero-phase (the gain of a forward-backward Butterworth band-pass and of the mains
notches, applied in the frequency domain, `perception.eeg.dsp`), run chunk by chunk with
overlap-discard: each chunk is read with `pad` seconds of its neighbours on both sides (odd
reflection at the recording's ends), filtered and resampled, and the pad is dropped. The pad is
long enough for the filters' impulse responses to die out, so chunk seams match a
whole-recording run to within numerical noise (tests hold the two together).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Iterator

import numpy as np

from perception.eeg import dsp

from perception.eeg.recording import Recording

logger = logging.getLogger(__name__)

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """How raw EEG becomes the signal features are computed on.

    Args:
        l_freq: high-pass edge in Hz (None: no high-pass).
        h_freq: low-pass edge in Hz (None: no low-pass); lowered below Nyquist when resolved.
        mains: notch frequency in Hz, "auto" to detect 50 vs 60 Hz from the spectrum, or None.
        resample: output rate in Hz (None: keep the recording's rate).
        reference: "average" (over good EEG channels), a tuple of channel names whose mean is
            subtracted, or None (keep the recorded reference).
        order: Butterworth order of each band-pass edge.
        notch_q: quality factor of the mains notch.
    """

    l_freq: float | None = 0.5
    h_freq: float | None = 45.0
    mains: float | str | None = "auto"
    resample: float | None = None
    reference: str | tuple[str, ...] | None = "average"
    order: int = 4
    notch_q: float = 30.0
    version: int = RECIPE_VERSION

    def __post_init__(self):
        for name in ("l_freq", "h_freq", "resample"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.l_freq and self.h_freq and self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq})")
        if not (self.mains is None or self.mains == "auto" or
                (isinstance(self.mains, (int, float)) and self.mains > 0)):
            raise ValueError(f"mains must be 'auto', None or a frequency in Hz, got {self.mains!r}")
        if not (self.reference is None or self.reference == "average" or isinstance(self.reference, tuple)):
            raise ValueError(f"reference must be 'average', None or a tuple of channel names, got {self.reference!r}")
        if not isinstance(self.order, int) or self.order < 1:
            raise ValueError(f"order must be a positive int, got {self.order!r}")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the text the hash is taken of."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """sha256 of `to_json()`, hex; 'auto' recipes should be resolved first."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        data = json.loads(text)
        if isinstance(data.get("reference"), list):
            data["reference"] = tuple(data["reference"])
        return cls(**data)

    def resolve(self, rec: Recording) -> "Recipe":
        """Fix every choice left open for this recording: mains frequency, filter edges under Nyquist."""
        out_rate = self.resample or rec.sfreq
        nyq = min(rec.sfreq, out_rate) / 2.0
        h = self.h_freq
        if h is not None and h >= nyq * 0.9:
            h = round(nyq * 0.9, 3)
            logger.info("%s: low-pass lowered to %.3g Hz (Nyquist %.3g Hz)", rec.path, h, nyq)
        mains = self.mains
        if mains == "auto":
            mains = detect_mains(rec)
            logger.info("%s: mains detected: %s", rec.path, f"{mains:g} Hz" if mains else "none")
        if mains is not None and mains >= rec.sfreq / 2:
            mains = None
        resample = self.resample if self.resample and abs(self.resample - rec.sfreq) > 1e-9 else None
        return replace(self, h_freq=h, mains=mains, resample=resample)


def mains_scores(rec: Recording, *, seconds: float = 120.0, picks: list[int] | None = None) -> dict[float, float]:
    """How far the 50 and 60 Hz lines stand out of their neighbourhood: {frequency: ratio}.

    The ratio is the power at f over the median of 3-7 Hz either side, on the median channel,
    from at most `seconds` of data. A frequency the rate cannot show (f + 8 Hz past Nyquist, or
    a rate under 110 Hz) has no entry, so an empty dict means "cannot tell", not "no line".
    """
    if rec.sfreq < 2 * 50 + 10:
        return {}
    picks = picks if picks is not None else (rec.eeg_picks or list(range(len(rec.ch_names))))
    n = min(rec.n_samples, int(seconds * rec.sfreq))
    nper = int(min(n, 2 * rec.sfreq))  # 0.5 Hz bins
    x = rec.read(0, n)[picks]
    x = np.nan_to_num(x - x.mean(axis=1, keepdims=True))
    f, p = dsp.welch(x, rec.sfreq, nperseg=nper)
    scores = {}
    for f0 in (50.0, 60.0):
        if f0 + 8 >= rec.sfreq / 2:
            continue
        at = p[:, np.argmin(abs(f - f0))]
        side = (abs(f - f0) >= 3) & (abs(f - f0) <= 7)
        base = np.median(p[:, side], axis=1) + 1e-20
        scores[f0] = float(np.median(at / base))
    logger.debug("mains scores %s", scores)
    return scores


MAINS_RATIO = 5.0
"""A mains line is present when it stands this many times above its neighbourhood (7 dB)."""


def detect_mains(rec: Recording, *, seconds: float = 120.0, picks: list[int] | None = None) -> float | None:
    """50 or 60 Hz, whichever stands out of its neighbourhood in the spectrum, or None.

    A line is "present" when the power at f exceeds the median of 3-7 Hz either side by
    `MAINS_RATIO` (5x, 7 dB) on the median channel (see `mains_scores`).
    """
    scores = mains_scores(rec, seconds=seconds, picks=picks)
    if not scores:
        return None
    best = max(scores, key=scores.get)
    return best if scores[best] > MAINS_RATIO else None


class Preprocessor:
    """Applies a resolved recipe to a recording, whole or in chunks.

    Args:
        recipe: a resolved `Recipe` (see `Recipe.resolve`).
        rec: the recording it applies to (rate, channel names, bad channels).
        bad: channel names excluded from the average reference.
    """

    def __init__(self, recipe: Recipe, rec: Recording, bad: list[str] = ()):
        if recipe.mains == "auto":
            raise ValueError("recipe: resolve it first (mains is still 'auto')")
        self.recipe = recipe
        self.rec = rec
        self.sfreq_in = rec.sfreq
        self.picks = rec.eeg_picks or list(range(len(rec.ch_names)))
        self.ch_names = [rec.ch_names[i] for i in self.picks]
        fs = self.sfreq_in
        self._notches = tuple(recipe.mains * k for k in (1, 2, 3) if recipe.mains and recipe.mains * k < fs / 2 - 1)
        if recipe.resample:
            frac = Fraction(recipe.resample / fs).limit_denominator(1000)
            self.up, self.down = frac.numerator, frac.denominator
            self.sfreq = fs * self.up / self.down
        else:
            self.up = self.down = 1
            self.sfreq = fs
        ref = recipe.reference
        bad = set(bad) | set(rec.check.bad_channels if rec.check else [])
        if ref == "average":
            self._ref = [j for j, c in enumerate(self.ch_names) if c not in bad]
        elif isinstance(ref, tuple):
            missing = [c for c in ref if c not in self.ch_names]
            if missing:
                raise ValueError(f"reference: channels {missing} are not in {rec.path}")
            self._ref = [self.ch_names.index(c) for c in ref]
        else:
            self._ref = []
        # impulse responses of the filters die out within ~8 periods of the lowest edge (or of
        # the notch bandwidth); that is the overlap each chunk is read with.
        low = min([recipe.l_freq or fs / 4] + ([recipe.mains / recipe.notch_q] if recipe.mains else []))
        pad_s = min(30.0, max(1.0, 8.0 / low))
        self.pad = self._aligned(int(math.ceil(pad_s * fs)))

    def _aligned(self, n: int) -> int:
        """Round a sample count up to a multiple of `down`, so chunk starts map to output samples."""
        return -(-n // self.down) * self.down

    def gain(self, freqs: np.ndarray) -> np.ndarray:
        """Zero-phase gain of the recipe's filters at `freqs` (Hz)."""
        r = self.recipe
        return dsp.zero_phase_gain(freqs, l_freq=r.l_freq, h_freq=r.h_freq, order=r.order,
                                   notches=self._notches, notch_q=r.notch_q)

    def apply(self, x: np.ndarray, keep: tuple[int, int] | None = None, *, group: int = 16) -> np.ndarray:
        """Reference, filter and resample an (n_picks, n) µV block.

        Args:
            x: the block, including any context read around the part wanted.
            keep: (first, stop) input samples of `x` to return (default: all); the rest is context.
            group: channels filtered per FFT (bounds the working memory).
        """
        x = np.nan_to_num(np.asarray(x, dtype=np.float64))
        first, stop = keep or (0, x.shape[1])
        if self._ref:
            x = x - x[self._ref].mean(axis=0, keepdims=True)
        pad = self.pad
        a = (pad + first) * self.up // self.down
        b = a + -(-(stop - first) * self.up // self.down)
        out = np.empty((x.shape[0], b - a))
        for g in range(0, x.shape[0], group):
            block = dsp.odd_pad(x[g:g + group], pad, pad)
            if block.shape[1] != x.shape[1] + 2 * pad:  # block shorter than the pad: pad with zeros past the reflection
                short = pad - min(pad, x.shape[1] - 1)
                block = np.pad(block, ((0, 0), (short, short)))
            y, _ = dsp.fft_filter(block, self.sfreq_in, self.gain, up=self.up, down=self.down)
            out[g:g + group] = y[:, a:b]
        return out

    def run_whole(self) -> np.ndarray:
        """The whole recording at once (small recordings, and the reference the chunks are tested against)."""
        return self.apply(self.rec.read(0, self.rec.n_samples)[self.picks])

    def stream(self, chunk_s: float = 60.0) -> Iterator[tuple[float, np.ndarray]]:
        """Yield (start time s, (n_picks, n) preprocessed µV), chunk by chunk, seams clean."""
        if chunk_s <= 0:
            raise ValueError(f"chunk_s must be positive, got {chunk_s}")
        step = self._aligned(max(1, int(round(chunk_s * self.sfreq_in))))
        n = self.rec.n_samples
        for start in range(0, n, step):
            stop = min(n, start + step)
            lo, hi = max(0, start - self.pad), min(n, stop + self.pad)
            y = self.apply(self.rec.read(lo, hi)[self.picks], (start - lo, stop - lo))
            yield start / self.sfreq_in, y
