"""What a live stream takes in: its settings, its counters, and the check and shrink of a frame.

Kept apart from `agentkit.live` (the stream itself) so the stream module holds only the queue,
the perception thread and the writes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LiveSettings", "LiveStats", "LiveStreamError", "WORK_WIDTH", "check_frame", "shrink", "thumbnail"]


_THUMB_W, _THUMB_H = 32, 18
"""Signature thumbnail size, the one `perception.video.signature` is tuned on."""
WORK_WIDTH = 640
"""Frames wider than twice this are reduced by a whole factor before detection, signing and
encoding (the encoder sees 224 px anyway); OCR reads the full frame."""


class LiveStreamError(RuntimeError):
    """The stream cannot go on: closed, or its perception thread failed (the cause is chained)."""


@dataclass(frozen=True)
class LiveSettings:
    """How a live stream queues, thins, skips, reads text and writes (checked once, here).

    Raises:
        ValueError: naming the bad field.
    """

    queue_size: int = 8
    """Frames waiting for perception at most; a new frame beyond that drops the oldest one."""
    batch_size: int = 4
    """Frames perception takes from the queue at once (kept ones are encoded as one batch)."""
    chunk_size: int = 8
    """Segments per store write (each write also moves the stream's progress on)."""
    flush_seconds: float = 1.0
    """Write closed segments at least this often (wall-clock seconds), even below ``chunk_size``."""
    max_fps: float | None = None
    """Take at most one frame per ``1 / max_fps`` seconds of stream time (slots counted from the
    first frame); the others are skipped on the caller's thread (counted in ``thinned``, not
    ``dropped``). None takes every frame."""
    skip: bool = True
    """Redundancy skipping: a frame that barely differs from the last kept one only extends its
    segment (no encoding)."""
    threshold: float | None = None
    """Signature distance above which a frame is new; None: perception's default."""
    max_gap: float = 2.0
    """Keep a frame at least this often (seconds of stream time), even in a static scene."""
    ocr: bool | None = None
    """Read on-screen text of kept frames where the text detector sees some; None follows the
    agent (``use_ocr``)."""
    copy: bool = True
    """Copy each frame on `observe` (the caller may reuse its buffer); False keeps a reference."""

    def __post_init__(self) -> None:
        for name in ("queue_size", "batch_size", "chunk_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("flush_seconds", "max_gap"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        if self.max_fps is not None and (isinstance(self.max_fps, bool) or not isinstance(self.max_fps, (int, float))
                                         or not self.max_fps > 0):
            raise ValueError(f"max_fps must be a positive number or None, got {self.max_fps!r}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] or None, got {self.threshold!r}")


@dataclass(frozen=True)
class LiveStats:
    """Counters of one live stream (a snapshot: `LiveStream.stats` returns a fresh one)."""

    received: int = 0
    """Frames given to `observe`."""
    thinned: int = 0
    """Frames skipped on arrival by ``max_fps``."""
    dropped: int = 0
    """Frames dropped from the full queue before perception took them (newest wins)."""
    taken: int = 0
    """Frames perception took (kept or merged into a segment as redundant)."""
    kept: int = 0
    """Frames encoded (each starts a segment)."""
    ocr_calls: int = 0
    """Kept frames read by OCR."""
    written: int = 0
    """Segments written to the store."""
    chunks: int = 0
    """Store writes."""
    queued: int = 0
    """Frames waiting now."""
    max_queued: int = 0
    """Most frames ever waiting at once (never above ``queue_size``)."""
    first_t: float | None = None
    """Stream time of the first frame taken."""
    last_t: float | None = None
    """Stream time of the newest frame received."""
    covered_until: float = 0.0
    """Stream time up to which memory holds the stream."""
    perceive_seconds: float = 0.0
    """Wall-clock seconds the perception thread spent on frames."""

    @property
    def drop_rate(self) -> float:
        """Share of the frames that reached the queue which were dropped."""
        queued = self.received - self.thinned
        return self.dropped / queued if queued else 0.0


def check_frame(frame: Any, t: float | None) -> tuple[np.ndarray, float]:
    """An RGB uint8 ``(H, W, 3)`` array and a stream time from a numpy array or a PyAV VideoFrame.

    Args:
        frame: ``numpy.ndarray`` RGB ``(H, W, 3)`` uint8, or an ``av.VideoFrame`` (converted to RGB).
        t: Stream time in seconds; for a VideoFrame, None uses its own ``time``.

    Raises:
        TypeError: ``frame`` is neither, or ``t`` is not a number.
        ValueError: wrong dtype or shape (the message says which and how to fix it), or a time that
            is missing, not finite or negative.
    """
    if type(frame).__name__ == "VideoFrame" and hasattr(frame, "to_ndarray"):
        if t is None:
            t = frame.time
            if t is None:
                raise ValueError("the VideoFrame has no time (no pts/time_base): pass t explicitly")
        arr = frame.to_ndarray(format="rgb24")
    elif isinstance(frame, np.ndarray):
        arr = frame
        if arr.dtype != np.uint8:
            hint = " (scale to 0-255 and use .astype(np.uint8))" if np.issubdtype(arr.dtype, np.floating) else ""
            raise ValueError(f"frame must be uint8 RGB, got dtype {arr.dtype}{hint}")
        if arr.ndim != 3 or arr.shape[2] != 3:
            hint = ""
            if arr.ndim == 3 and arr.shape[2] == 4:
                hint = " (drop the alpha channel: frame[..., :3])"
            elif arr.ndim == 2:
                hint = " (a grey frame: np.repeat(frame[..., None], 3, axis=2))"
            elif arr.ndim == 3 and arr.shape[0] == 3:
                hint = " (channels first: frame.transpose(1, 2, 0))"
            raise ValueError(f"frame must have shape (H, W, 3), got {arr.shape}{hint}")
        if arr.shape[0] < 2 or arr.shape[1] < 2:
            raise ValueError(f"frame must be at least 2x2 pixels, got shape {arr.shape}")
    else:
        raise TypeError(f"frame must be a numpy RGB array or an av.VideoFrame, got {type(frame).__name__}")
    if t is None:
        raise ValueError("t (stream time, seconds) is required for a numpy frame")
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"t must be a number of seconds, got {type(t).__name__}")
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"t must be a finite number of seconds >= 0, got {t!r}")
    return arr, t


def _grid_mean(image: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """``(ny, nx, 3)`` uint8 means of an even grid of blocks over an RGB uint8 frame at least that
    large (rows and columns that do not fill a block are cropped evenly)."""
    h, w = image.shape[:2]
    ky, kx = h // ny, w // nx
    y0, x0 = (h - ny * ky) // 2, (w - nx * kx) // 2
    acc = np.zeros((ny, nx, 3), np.uint32)
    for i in range(ky):  # ky * kx strided adds: no float copy of the whole frame
        for j in range(kx):
            acc += image[y0 + i:y0 + ny * ky:ky, x0 + j:x0 + nx * kx:kx]
    return (acc // (ky * kx)).astype(np.uint8)


def shrink(image: np.ndarray, max_width: int) -> np.ndarray:
    """The frame reduced by a whole factor (area mean) when it is at least twice ``max_width`` wide:
    what the text detector, the signature and the encoder look at (OCR reads the full frame)."""
    h, w = image.shape[:2]
    k = w // max_width
    return _grid_mean(image, h // k, w // k) if k >= 2 and h >= 2 * k else image


def thumbnail(image: np.ndarray, width: int = _THUMB_W, height: int = _THUMB_H) -> np.ndarray:
    """Area-averaged ``(height, width, 3)`` uint8 thumbnail of an RGB frame of any size."""
    h, w = image.shape[:2]
    if h < height or w < width:  # tiny frames: repeat pixels so every cell holds at least one
        image = np.repeat(np.repeat(image, -(-height // h), axis=0), -(-width // w), axis=1)
        h, w = image.shape[:2]
    step = max(1, min(h // (8 * height), w // (8 * width)))  # at most about 8x8 samples per cell
    if step > 1:
        image = image[::step, ::step]
    return _grid_mean(image, height, width)
