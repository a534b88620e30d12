"""Cheap per-frame signatures for redundancy skipping (whole-frame token reduction).

A signature is a 32x18 grey thumbnail (layout: what is where) plus a 3x8-bin colour histogram
(palette: what colours), both taken from a thumbnail the decoder scales in its native format,
so a signature costs well under a millisecond even for 720p frames. The distance between two
signatures is the larger of

* the mean absolute grey difference of the thumbnails, in [0, 1], and
* half the L1 distance of the colour histograms, in [0, 1].

Within one shot, frames a second apart typically differ by 0.01-0.06 (camera motion, people
walking); a cut to another shot typically gives 0.2-0.9. The default threshold 0.10 keeps every
cut and skips most of a static or slow shot; raise it to skip more, lower it to keep more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "FrameSignature", "RedundancyFilter", "signature_of"]

DEFAULT_THRESHOLD = 0.10
THUMB_W, THUMB_H = 32, 18
_BINS = 8


@dataclass(frozen=True)
class FrameSignature:
    gray: np.ndarray
    """(18, 32) float32 grey levels in [0, 1]."""
    hist: np.ndarray
    """(24,) float32 per-channel colour histograms, each channel summing to 1."""

    def distance(self, other: "FrameSignature") -> float:
        """Dissimilarity in [0, 1]: max(mean |grey diff|, half L1 of the colour histograms)."""
        d_gray = float(np.abs(self.gray - other.gray).mean())
        d_hist = float(np.abs(self.hist - other.hist).sum()) / 6.0  # 3 channels x L1 <= 2
        return max(d_gray, d_hist)


def signature_of(thumb: np.ndarray) -> FrameSignature:
    """Signature of a small RGB uint8 thumbnail (any size; 32x18 from the decoder is typical)."""
    arr = np.asarray(thumb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"thumb must be an (H, W, 3) RGB array, got shape {arr.shape}")
    f = arr.astype(np.float32)
    gray = (f @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
    idx = (arr.reshape(-1, 3).astype(np.int32) * _BINS) // 256           # (N, 3) bin per channel
    hist = np.concatenate([np.bincount(idx[:, c], minlength=_BINS) for c in range(3)])
    hist = hist.astype(np.float32) / max(1, idx.shape[0])
    return FrameSignature(gray=gray, hist=hist)


class RedundancyFilter:
    """Decides whether a sampled frame is new enough to encode.

    A frame is kept when its distance to the last *kept* frame exceeds ``threshold`` (so slow
    drift is caught once it adds up), or when ``max_gap`` seconds passed since the last kept
    frame (long static shots still get fresh evidence now and then).

    Args:
        threshold: Distance above which a frame counts as new (see module docstring);
            ``None`` or 0 keeps every frame (skipping off).
        max_gap: Seconds after which a frame is kept regardless (None: never forced).
    """

    def __init__(self, threshold: float | None = DEFAULT_THRESHOLD, max_gap: float | None = 60.0):
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] or None, got {threshold!r}")
        if max_gap is not None and max_gap <= 0:
            raise ValueError(f"max_gap must be > 0 seconds or None, got {max_gap!r}")
        self.threshold = threshold or 0.0
        self.max_gap = max_gap
        self._last: FrameSignature | None = None
        self._last_t = 0.0

    def reset(self) -> None:
        self._last = None

    def keep(self, sig: FrameSignature, t: float, force: bool = False) -> bool:
        """True if the frame at ``t`` should be encoded (and becomes the reference)."""
        new = (force or self._last is None or self.threshold <= 0.0
               or (self.max_gap is not None and t - self._last_t >= self.max_gap)
               or sig.distance(self._last) > self.threshold)
        if new:
            self._last, self._last_t = sig, t
        return new
