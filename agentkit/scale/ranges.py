"""Split a video into time ranges that start at key frames, so one file spreads over workers.

A range starts on the sampling grid (``start + k / fps``) at or just after a key frame, so that a
worker seeking there decodes from that key frame and samples exactly the frames an uninterrupted
run samples. Ranges are at least ``min_seconds`` long (fewer, longer ranges cost fewer seeks).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import av

from perception.errors import InputError
from perception.video.reader import open_video

__all__ = ["TimeRange", "keyframe_times", "plan_ranges"]

GRID_EPS = 1e-6
"""The frame reader's tolerance when matching frame times to grid points (seconds)."""


@dataclass(frozen=True)
class TimeRange:
    """Seconds ``[start, end)`` of one file; ``end`` None runs to the end of the file."""

    start: float
    end: float | None


def keyframe_times(path: str | os.PathLike) -> list[float]:
    """Times (seconds, from the first frame) of the key frames of the first video stream, read
    from packet headers without decoding.

    Raises:
        InputError: The file cannot be opened as a video or its packets cannot be read.
    """
    container, stream = open_video(path)
    try:
        tb = stream.time_base
        first = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        times = {float(p.pts * tb) - first for p in container.demux(stream) if p.is_keyframe and p.pts is not None}
    except av.error.FFmpegError as err:
        raise InputError(path, f"cannot read its packets to find key frames ({' '.join(str(err).split())[:200]})") from None
    finally:
        container.close()
    return sorted(times)


def plan_ranges(keys: list[float], *, start: float, fps: float, duration: float, min_seconds: float) -> list[TimeRange]:
    """Time ranges covering ``[start, end of file)``, each beginning at a key frame's grid point.

    Args:
        keys: Key frame times (`keyframe_times`).
        start: Where indexing starts (0, or where an interrupted run stopped); the grid's origin.
        fps: Sampling rate; boundaries are grid points ``start + k / fps``.
        duration: Length of the file (a last range shorter than half of ``min_seconds`` joins
            the one before it).
        min_seconds: Shortest range.

    Returns:
        Ranges in time order; the last one has ``end=None``.
    """
    if not min_seconds > 0:
        raise ValueError(f"min_seconds must be positive, got {min_seconds!r}")
    step = 1.0 / fps
    bounds: list[float] = []
    last = start
    for k in keys:
        if k <= last:
            continue
        b = start + math.ceil((k - start) * fps - GRID_EPS) * step  # first grid point at or after k
        if b - last >= min_seconds and duration - b >= min_seconds / 2:
            bounds.append(b)
            last = b
    # A range ends just before the next one's first grid point: a frame within the reader's
    # tolerance below a boundary is sampled by the next range only, as one run would sample it.
    edges = [start, *bounds]
    return [TimeRange(a, (edges[i + 1] - GRID_EPS) if i + 1 < len(edges) else None) for i, a in enumerate(edges)]
