"""Synthesise long multi-scene test videos from real packaged clips, with needles at known times.

How a long video is made cheaply and in bounded memory:

1. A *scene library* is encoded once per (size, fps) and cached (:mod:`.clips`).
2. Needles are encoded as short chunks with the same settings: an image needle (a scikit-image
   picture filling the frame) and a text needle (a sign with a code word rendered with PIL's
   scalable default font).
3. The output is a remux: whole-second spans of library chunks in a seeded random order, with
   needle chunks spliced in at their times. Packets are copied with shifted time stamps, so an
   hour of 720p takes seconds once the library exists.

Every time stamp in the result is on whole seconds (cuts happen at key frames), so needle start
times are rounded to whole seconds and the returned spans are exact.
"""
from __future__ import annotations

import logging
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from agentkit.demo_video.clips import default_cache_dir, scene_library
from agentkit.demo_video.needles import ImageNeedle, NeedleSpan, TextNeedle, needle_chunk, place_needles
from perception.files import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["SyntheticVideo", "synthesize_video"]


@dataclass(frozen=True)
class SyntheticVideo:
    """What :func:`synthesize_video` wrote."""

    path: Path
    duration: float
    size: tuple[int, int]
    fps: int
    needles: list[NeedleSpan] = field(default_factory=list)
    scenes: list[tuple[float, float, str]] = field(default_factory=list)
    """(t0, t1, "clip/variant" or "needle:<kind>") for every span, in time order."""


class _Remuxer:
    """Appends whole-second spans of chunk files to one output, shifting time stamps."""

    def __init__(self, path: Path, fps: int):
        self.fps = fps
        self.path = path
        self.out = av.open(str(path), "w", format="mp4")
        self.stream = None
        self.extradata: bytes | None = None
        self.frames = 0  # output frames written so far (= time in 1/fps units)

    def append(self, chunk: Path, s0: int, s1: int) -> None:
        fps = self.fps
        with av.open(str(chunk)) as src:
            ist = src.streams.video[0]
            if self.stream is None:
                self.stream = self.out.add_stream_from_template(ist)
                self.stream.time_base = Fraction(1, fps * 512)
                self.extradata = bytes(ist.codec_context.extradata or b"")
            elif bytes(ist.codec_context.extradata or b"") != self.extradata:
                raise RuntimeError(f"{chunk}: encoder headers differ from the first chunk; "
                                   "delete the demo-video cache and retry")
            tb = ist.time_base
            lo, hi = s0 * fps, s1 * fps
            if s0 > 0:
                src.seek(int(Fraction(s0) / tb), stream=ist, backward=True)
            otb = self.stream.time_base
            for pkt in src.demux(ist):
                if pkt.pts is None:
                    continue
                fi = round(float(pkt.pts * tb) * fps)  # frame index in the chunk
                if fi < lo:
                    continue
                if fi >= hi:
                    if pkt.is_keyframe:
                        break
                    continue
                di = float(pkt.dts * tb) * fps if pkt.dts is not None else fi
                pkt.pts = int(round((fi - lo + self.frames) / fps / otb))
                pkt.dts = int(round((di - lo + self.frames) / fps / otb))
                pkt.duration = int(round(1 / fps / otb))
                pkt.stream = self.stream
                self.out.mux(pkt)
        self.frames += hi - lo

    def close(self) -> None:
        if self.out is not None:
            out, self.out = self.out, None
            out.close()


def synthesize_video(out_path: str | os.PathLike, duration_s: float, *,
                     size: tuple[int, int] = (1280, 720), fps: int = 25,
                     needles: Sequence[ImageNeedle | TextNeedle] = (), seed: int = 0,
                     scene_len: tuple[int, int] = (3, 10), cache_dir: str | os.PathLike | None = None,
                     progress: Callable[[str, float, float], None] | None = None) -> SyntheticVideo:
    """Write a multi-scene H.264 mp4 of real clips with needles at known times.

    Args:
        out_path: Where to write the mp4 (written to a temp file, then renamed).
        duration_s: Length in seconds (rounded to whole seconds, >= 1).
        size: (width, height), even numbers.
        fps: Output frame rate (integer).
        needles: :class:`ImageNeedle` / :class:`TextNeedle`; those without ``t0`` get seeded
            random, non-overlapping times (not in the first or last 2 s when possible).
        seed: Seeds scene order, cut points and needle times.
        scene_len: (min, max) whole seconds per scene.
        cache_dir: Where the scene library is cached (default :func:`default_cache_dir`).
        progress: Optional callback(stage, done, total): ("library", clip seconds encoded,
            clip seconds to encode) while the scene library is built (first run only), then
            ("video", seconds written, duration).

    Returns:
        :class:`SyntheticVideo` with the ground-truth needle spans.

    Raises:
        ValueError: bad arguments, overlapping or out-of-range needles.
        RuntimeError: no packaged clips installed.
    """
    total, size = _check_args(duration_s, size, fps, scene_len)
    rng = random.Random(seed)
    spans = place_needles(needles, total, rng)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    lib = scene_library(size, fps, cache, progress)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="needles-", dir=out.parent) as needle_dir, atomic_path(out) as tmp:
        mux = _Remuxer(tmp, fps)
        try:
            scenes, truth = _remux(mux, lib, spans, total, scene_len, size, rng, Path(needle_dir), progress)
        finally:
            mux.close()
    logger.info("synthesised %s: %d s, %d scenes, %d needles", out, total, len(scenes), len(truth))
    return SyntheticVideo(path=out, duration=float(total), size=size, fps=fps, needles=truth, scenes=scenes)


def _check_args(duration_s, size, fps, scene_len) -> tuple[int, tuple[int, int]]:
    """Whole seconds and (width, height) as ints; ValueError naming the bad argument."""
    total = int(round(duration_s))
    if total < 1:
        raise ValueError(f"duration_s must be >= 1 second, got {duration_s!r}")
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(int(v) < 16 or int(v) % 2 for v in size)):
        raise ValueError(f"size must be (width, height), even and >= 16, got {size!r}")
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    lo_len, hi_len = scene_len
    if not 1 <= lo_len <= hi_len:
        raise ValueError(f"scene_len must be (min, max) with 1 <= min <= max, got {scene_len!r}")
    return total, (int(size[0]), int(size[1]))


def _remux(mux: _Remuxer, lib, spans, total: int, scene_len: tuple[int, int], size: tuple[int, int],
           rng: random.Random, needle_dir: Path, progress) -> tuple[list, list[NeedleSpan]]:
    """Append library spans in a seeded order with the needles spliced in; (scenes, truth)."""
    names = sorted(lib)
    scenes: list[tuple[float, float, str]] = []
    truth: list[NeedleSpan] = []
    t = 0
    queue = sorted(spans, key=lambda s: s[0])
    last_name = None
    while t < total:
        if queue and queue[0][0] == t:
            t0, needle = queue.pop(0)
            chunk, payload, kind = needle_chunk(needle, lib, size, mux.fps, needle_dir, rng, len(truth))
            mux.append(chunk, 0, needle.duration)
            truth.append(NeedleSpan(kind, float(t0), float(t0 + needle.duration), payload))
            scenes.append((float(t0), float(t0 + needle.duration), f"needle:{kind}"))
            t += needle.duration
            continue
        limit = queue[0][0] if queue else total
        name = rng.choice([n for n in names if n.split("/")[0] != last_name] or names)
        chunk, secs = lib[name]
        length = min(rng.randint(*scene_len), secs, limit - t)
        s0 = rng.randint(0, secs - length)
        mux.append(chunk, s0, s0 + length)
        scenes.append((float(t), float(t + length), name))
        last_name = name.split("/")[0]
        t += length
        if progress is not None:
            progress("video", float(t), float(total))
    return scenes, truth
