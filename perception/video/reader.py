"""Streaming video decode with PyAV: probe a file, sample frames on a time grid.

Frames are decoded one at a time and never collected, so memory stays bounded whatever the
length of the video. Time stamps come from each frame's ``pts * time_base`` (correct for
variable frame rate); the sampling grid is ``start, start + 1/fps, ...`` and each grid point
takes the first decoded frame at or after it (a frame fills at most one grid point... unless the
stream has a gap, in which case the grid points inside the gap are skipped, never duplicated).

Bad input never escapes as a PyAV/FFmpeg traceback: every failure becomes
:class:`perception.errors.InputError` with a one-line message naming the file. Frames that were
already yielded before a truncated or corrupt part stay valid.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from perception.errors import InputError
from perception.files import check_file

logger = logging.getLogger(__name__)

__all__ = ["DECODE_MODES", "TimedFrame", "VideoInfo", "VideoSampling", "check_video_path", "iter_frames", "open_video",
           "probe"]

DECODE_MODES = ("all", "nonref", "key")
"""Decode modes. ``"all"`` decodes every frame (exact grid). ``"nonref"`` lets the decoder skip
frames nothing else refers to (typically B-frames): ~1.3-2x faster on H.264 with B-frames, the
grid then snaps to the nearest remaining frame (at most a few frames late). ``"key"`` decodes key
frames only: much faster, but the effective sampling rate drops to one frame per GOP (often 1 frame
every 1-10 s), so short events (a 2 s needle) can be missed entirely."""

_SKIP_FRAME = {"all": "DEFAULT", "nonref": "NONREF", "key": "NONKEY"}


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns from a container header without decoding the stream."""

    path: str
    duration: float
    """Seconds (container duration, else stream duration, else 0.0 when unknown)."""
    fps: float
    """Average frame rate (0.0 when unknown)."""
    width: int
    """Displayed width, after rotation."""
    height: int
    """Displayed height, after rotation."""
    rotation: int
    """Clockwise rotation in degrees (0, 90, 180, 270) applied to decoded frames for display."""
    frame_count: int
    """Frames stated by the container, else ``round(duration * fps)`` (an estimate)."""
    codec: str
    has_audio: bool


@dataclass
class TimedFrame:
    """One sampled frame. ``image`` is converted lazily so a caller that only wants a cheap
    signature (:meth:`thumbnail`) never pays for a full-resolution RGB conversion."""

    t: float
    """Presentation time, seconds from the start of the file."""
    index: int
    """Position on the sampling grid (0, 1, 2, ...), counted from ``start``."""
    _frame: av.VideoFrame = field(repr=False)
    _rotation: int = field(default=0, repr=False)
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """Displayed (width, height), after rotation."""
        w, h = self._frame.width, self._frame.height
        return (h, w) if self._rotation in (90, 270) else (w, h)

    @property
    def image(self) -> np.ndarray:
        """RGB uint8 array ``(H, W, 3)`` with rotation applied."""
        if self._image is None:
            self._image = _rotate(self._frame.to_ndarray(format="rgb24"), self._rotation)
        return self._image

    def resized(self, max_side: int) -> np.ndarray:
        """RGB uint8 array whose longer side is at most ``max_side`` (scaled in the decoder's
        native pixel format by swscale, which is much cheaper than converting then resizing)."""
        w, h = self._frame.width, self._frame.height
        scale = min(1.0, max_side / max(w, h))
        if scale >= 1.0:
            return self.image
        nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
        return _rotate(self._frame.reformat(width=nw, height=nh, format="rgb24").to_ndarray(),
                       self._rotation)

    def short_side(self, size: int) -> np.ndarray:
        """RGB uint8 array scaled (by the decoder) so its shorter side is ``size`` pixels."""
        w, h = self._frame.width, self._frame.height
        return self.resized(int(round(size * max(w, h) / min(w, h))))

    def thumbnail(self, width: int = 32, height: int = 18, fmt: str = "rgb24") -> np.ndarray:
        """A tiny array scaled by the decoder (``fmt`` "gray" or "rgb24"); for signatures."""
        arr = self._frame.reformat(width=width, height=height, format=fmt,
                                   interpolation="AREA").to_ndarray()
        return _rotate(arr, self._rotation)


def _rotate(arr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a clockwise display rotation to an (H, W[, C]) array."""
    if rotation % 360 == 0:
        return arr
    # np.rot90 turns counter-clockwise for positive k.
    return np.ascontiguousarray(np.rot90(arr, k=-(rotation // 90) % 4))


def _tag_rotation(stream) -> int:
    """Clockwise rotation from the legacy ``rotate`` tag (old muxers); 0 when absent."""
    try:
        tag = stream.metadata.get("rotate")
        return _normalise_rotation(float(tag)) if tag is not None else 0
    except (ValueError, TypeError, AttributeError):
        return 0


def _frame_rotation(frame: av.VideoFrame) -> int:
    """Clockwise rotation from the frame's display matrix (PyAV reports counter-clockwise)."""
    try:
        return _normalise_rotation(-float(frame.rotation or 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _normalise_rotation(deg: float) -> int:
    """Round to the nearest multiple of 90 in [0, 360)."""
    return int(round(deg / 90.0)) * 90 % 360


def check_video_path(path: str | os.PathLike) -> Path:
    """The one check of a video path before it is opened: exists, a file, readable, not empty.

    Raises:
        TypeError: ``path`` is not a str or os.PathLike.
        InputError: missing, a folder, unreadable or empty.
    """
    return check_file(path, "video file")


def _one_line(err: BaseException) -> str:
    """A short reason from an FFmpeg/PyAV error, without its traceback or repeated path."""
    msg = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(msg).split())[:200]


def open_video(path: str | os.PathLike) -> tuple[av.container.InputContainer,
                                                  av.video.stream.VideoStream]:
    """Open ``path`` and return ``(container, first video stream)``.

    Raises:
        InputError: missing, unreadable, empty, not a media file, no video stream, or a codec
            this FFmpeg build cannot decode.
    """
    p = check_video_path(path)
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except PermissionError:
        raise InputError(p, "permission denied") from None
    except (av.error.InvalidDataError, av.error.EOFError):
        raise InputError(p, "not a video file (FFmpeg found no readable media data)") from None
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise InputError(p, f"cannot open as video: {_one_line(err)}") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        what = f"only {', '.join(kinds)} streams" if kinds else "no streams"
        raise InputError(p, f"no video stream ({what})")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name:
        container.close()
        raise InputError(p, "video stream uses a codec this FFmpeg build cannot decode")
    if not stream.codec_context.width or not stream.codec_context.height:
        container.close()
        raise InputError(p, "video stream has no frame size (corrupt header?)")
    return container, stream


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read duration, frame rate, size, rotation and a frame-count estimate from the header.

    The answer is remembered per file version (path, size, modification time), so the callers
    of one indexing run (the CLI's progress bar, :func:`~perception.video.observe_video`) open
    the file once to probe it.

    Raises:
        InputError: see :func:`open_video`.
    """
    p = check_video_path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    info = _PROBED.get(key)
    if info is None:
        info = _PROBED[key] = _probe(str(path))
        while len(_PROBED) > 64:
            _PROBED.pop(next(iter(_PROBED)))
    return info if info.path == str(path) else dataclasses.replace(info, path=str(path))


_PROBED: dict[tuple[str, int, int], VideoInfo] = {}
"""`probe` answers by (resolved path, size, mtime_ns), oldest first."""


def _probe(path: str) -> VideoInfo:
    """Open the header and read it (see `probe`)."""
    container, stream = open_video(path)
    try:
        duration = 0.0
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0) or int(round(duration * fps))
        rotation = _tag_rotation(stream) or _first_frame_rotation(container, stream)
        w, h = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            w, h = h, w
        return VideoInfo(path=str(path), duration=duration, fps=fps, width=w, height=h,
                         rotation=rotation, frame_count=frames,
                         codec=stream.codec_context.name,
                         has_audio=bool(container.streams.audio))
    finally:
        container.close()


def _first_frame_rotation(container, stream) -> int:
    """Decode one frame to read its display matrix (FFmpeg exposes it per frame)."""
    try:
        for frame in container.decode(stream):
            return _frame_rotation(frame)
    except av.error.FFmpegError:
        pass
    return 0


@dataclass(frozen=True)
class VideoSampling:
    """Where and how densely to sample a video: the one place these values are checked.

    Raises:
        ValueError: naming the argument, when ``fps`` is not a positive finite number, ``start``
            is negative or not finite, ``end`` is not a number, ``mode`` is not one of
            :data:`DECODE_MODES` or ``threads`` is negative.
    """

    fps: float = 1.0
    """Frames per second of video time (> 0). Above the stream's rate every frame comes once."""
    start: float = 0.0
    """Seconds to begin at (for resume): seek to the key frame before it, drop earlier frames."""
    end: float | None = None
    """Stop before this time (None: end of file; at or before ``start``: nothing is yielded)."""
    mode: str = "all"
    """One of :data:`DECODE_MODES` (speed/recall trade-off documented there)."""
    threads: int | None = None
    """Decoder threads (None: FFmpeg's automatic choice, 0 = all cores)."""

    def __post_init__(self) -> None:
        if not _is_number(self.fps) or not math.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if not _is_number(self.start) or not math.isfinite(self.start) or self.start < 0:
            raise ValueError(f"start must be a non-negative number of seconds, got {self.start!r}")
        if self.end is not None and not _is_number(self.end):
            raise ValueError(f"end must be None or a number of seconds, got {self.end!r}")
        if self.mode not in DECODE_MODES:
            raise ValueError(f"Invalid value for 'mode': allowed {DECODE_MODES}, got {self.mode!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or isinstance(self.threads, bool)
                                         or self.threads < 0):
            raise ValueError(f"threads must be None or a non-negative integer, got {self.threads!r}")
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "start", float(self.start))


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def iter_frames(path: str | os.PathLike, *, fps: float = 1.0, start: float = 0.0,
                end: float | None = None, mode: str = "all", threads: int | None = None,
                sampling: VideoSampling | None = None) -> Iterator[TimedFrame]:
    """Yield frames sampled every ``1/fps`` seconds from ``start`` (seek, then decode).

    Args:
        path: Any file PyAV can open.
        fps, start, end, mode, threads: The sampling plan, see :class:`VideoSampling`.
        sampling: The plan as one object (then the five keywords above are not given).

    Yields:
        :class:`TimedFrame` in increasing time order.

    Raises:
        ValueError: bad ``fps``/``start``/``end``/``mode``/``threads``.
        InputError: unreadable file, no video stream, a file with no decodable frame, or a
            stream that turns corrupt/truncated after some frames (those frames stay valid).
    """
    if sampling is None:
        sampling = VideoSampling(fps=fps, start=start, end=end, mode=mode, threads=threads)
    elif (fps, start, end, mode, threads) != (1.0, 0.0, None, "all", None):
        raise TypeError("give either sampling= or fps/start/end/mode/threads, not both")
    check_video_path(path)  # fail at call time for a missing/empty path; open when iterated
    return _iter_frames(path, sampling)


def _iter_frames(path, s: VideoSampling) -> Iterator[TimedFrame]:
    container, stream = open_video(path)
    try:
        yield from _decode(container, stream, str(path), s.fps, s.start, s.end, s.mode, s.threads)
    finally:
        container.close()


def _decode(container, stream, path: str, fps: float, start: float, end: float | None,
            mode: str, threads: int | None) -> Iterator[TimedFrame]:
    ctx = stream.codec_context
    ctx.thread_type = "AUTO"
    if threads is not None:
        ctx.thread_count = int(threads)
    ctx.skip_frame = _SKIP_FRAME[mode]
    rotation = _tag_rotation(stream)
    tb = stream.time_base
    t_first = float(stream.start_time * tb) if stream.start_time is not None else 0.0
    if start > 0:
        try:
            container.seek(int((start + t_first) / tb), stream=stream, backward=True,
                           any_frame=False)
        except av.error.FFmpegError as err:
            logger.warning("%s: seek to %.2fs failed (%s); decoding from the start", path,
                           start, _one_line(err))
    step = 1.0 / fps
    eps = 1e-6
    k = 0
    next_t = start
    decoded = 0
    frames_ok = 0
    last_t = -math.inf
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                decoded += 1
                if frame.pts is None:
                    t = last_t + step if last_t > -math.inf else 0.0
                else:
                    t = float(frame.pts * tb) - t_first
                if t < last_t:  # out-of-order/duplicate time stamp: keep time monotonic
                    continue
                last_t = t
                if end is not None and t >= end:
                    return
                if t + eps < next_t:
                    continue
                if frames_ok == 0 and rotation == 0:
                    rotation = _frame_rotation(frame)
                frames_ok += 1
                yield TimedFrame(t=t, index=k, _frame=frame, _rotation=rotation)
                # Advance past this frame; grid points inside a gap are skipped.
                k = max(k + 1, int(math.floor((t - start) / step + eps)) + 1)
                next_t = start + k * step
    except av.error.FFmpegError as err:
        at = f" after {last_t:.2f}s" if last_t > -math.inf else ""
        raise InputError(path, f"corrupt or truncated video data{at}: {_one_line(err)}") \
            from None
    if decoded == 0:
        if start > 0:
            return  # resuming past the last frame is not an error
        raise InputError(path, "no decodable video frames (truncated, corrupt or empty stream)")
    if stream.duration and tb:
        stated = float(stream.duration * tb)
    else:
        stated = container.duration / av.time_base if container.duration else 0.0
    if mode != "key" and end is None and stated > 0 and last_t + 1.0 < 0.9 * stated:
        raise InputError(path, f"truncated: video data ends at {last_t:.2f}s of a stated "
                               f"{stated:.2f}s")
    logger.debug("%s: decoded %d frames, yielded %d", path, decoded, frames_ok)
