"""Video file -> timed segment observations (decode, skip redundant frames, encode, read text).

One :class:`~perception.types.Observation` per closed segment, in time order. A segment starts
at a kept frame and runs until the next kept frame; sampled frames in between were judged
redundant by :class:`~perception.video.signature.RedundancyFilter` and only extend it. The
representative (kept) frame is encoded by the injected
:class:`~perception.image.encoder.FrameEncoder` in batches, and read by OCR when the cheap
text detector says it shows text.

Resume: a caller that stored every segment up to ``t1`` restarts with ``start=t1``; the frame at
``t1`` was the next kept frame, so the resumed run yields the same later segments as an
uninterrupted one (the filter's reference frame is that same kept frame).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from perception.errors import InputError
from perception.image.encoder import FrameEncoder
from perception.image.textdetect import TextDetector
from perception.types import Observation
from perception.video.reader import VideoSampling, iter_frames, probe
from perception.video.signature import DEFAULT_THRESHOLD, FrameSignature, RedundancyFilter, signature_of

logger = logging.getLogger(__name__)

__all__ = ["FrameMark", "IndexStats", "KeepRule", "ObserveSettings", "observe_video"]

ENCODER_SHORT_SIDE = 224
TEXT_THUMB_WIDTH = 320


@dataclass
class IndexStats:
    """Counters filled in while :func:`observe_video` runs (pass one in to read them)."""

    sampled: int = 0
    kept: int = 0
    ocr_calls: int = 0
    text_frames: int = 0
    segments: int = 0
    last_t: float = 0.0


class FrameMark(NamedTuple):
    """What the skip decision saw of one sampled frame (see the ``marks`` of :func:`observe_video`).

    :class:`KeepRule` over the marks of a whole file, in order, gives the kept frames of one
    uninterrupted run, which is how the pieces of a file observed apart (time ranges on several
    workers) are joined exactly.
    """

    t: float
    """Presentation time, seconds (before ``time_offset``)."""
    signature: FrameSignature
    """Its redundancy signature."""
    text: bool
    """The text detector's answer (False without OCR)."""


@dataclass
class _Kept:
    t: float
    enc_img: np.ndarray
    ocr_img: np.ndarray | None
    text_flag: bool
    ocr_scale: float = 1.0
    frames: int = 1
    last_t: float = 0.0


@dataclass(frozen=True)
class ObserveSettings:
    """How :func:`observe_video` samples, skips, reads text and batches (checked once, here).

    Raises:
        ValueError/TypeError: naming the bad field.
    """

    fps: float = 1.0
    """Sampling rate (frames per second of video time)."""
    start: float = 0.0
    """Seconds to start at (resume from the last stored segment's ``t1``)."""
    end: float | None = None
    """Stop before this time (None: the end of the file); one time range of a file."""
    mode: str = "all"
    """Decode mode, see :data:`perception.video.reader.DECODE_MODES`."""
    threads: int | None = None
    """Decoder threads (None: FFmpeg decides)."""
    skip: bool = True
    """Redundancy skipping on (False: every sampled frame is its own segment)."""
    threshold: float = DEFAULT_THRESHOLD
    """Signature distance above which a frame is new (see :mod:`perception.video.signature`)."""
    max_gap: float | None = 60.0
    """Keep a frame at least this often (seconds) even in a static shot."""
    ocr_all: bool = False
    """Run OCR on every kept frame, ignoring the text detector (the naive plan)."""
    ocr_max_side: int = 960
    """Longer side, pixels, of the image handed to OCR."""
    batch_size: int = 8
    """Kept frames encoded per batch (latency of a yield vs throughput)."""
    pipeline: bool = True
    """Decode (and sign, detect text) on a background thread while the caller's thread encodes and
    reads text; PyAV, torch and onnxruntime release the GIL, so on two cores indexing approaches
    max(decode, encode) instead of their sum."""
    time_offset: float = 0.0
    """Added to every time (place a file on a longer time axis)."""

    def __post_init__(self) -> None:
        self.sampling  # checks fps, start, end, mode and threads
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.ocr_max_side, int) or self.ocr_max_side < 16:
            raise ValueError(f"ocr_max_side must be an integer >= 16, got {self.ocr_max_side!r}")

    @property
    def sampling(self) -> VideoSampling:
        """The decode plan: ``fps``, ``start``, ``end``, ``mode`` and ``threads``."""
        return VideoSampling(fps=self.fps, start=self.start, end=self.end, mode=self.mode, threads=self.threads)


class KeepRule:
    """Which sampled frames start a segment: one that differs enough from the last kept frame
    (:class:`~perception.video.signature.RedundancyFilter` with the settings' ``threshold``,
    ``skip`` and ``max_gap``), or one where the text detector's answer changes.

    :func:`observe_video` decides with it frame by frame; given the marks of a whole file in
    order, it decides the same again (joining ranges observed apart).
    """

    def __init__(self, settings: ObserveSettings):
        self._filter = RedundancyFilter(settings.threshold if settings.skip else None, settings.max_gap)
        self._text = False

    def keep(self, mark: FrameMark) -> bool:
        """True when the frame of ``mark`` starts a segment (it becomes the reference)."""
        if self._filter.keep(mark.signature, mark.t, force=(mark.text != self._text)):
            self._text = mark.text
            return True
        return False


def observe_video(path: str | os.PathLike, settings: ObserveSettings | None = None, *, source: str,
                  encoder: FrameEncoder, ocr: Callable[[np.ndarray], list] | None = None,
                  text_detector: Callable[[np.ndarray], bool] | None = None,
                  progress: Callable[[float, float], None] | None = None,
                  stats: IndexStats | None = None, marks: list[FrameMark] | None = None,
                  **options) -> Iterator[Observation]:
    """Yield one observation per closed segment of ``path``, in time order.

    Args:
        path: Any video PyAV can open.
        settings: Sampling, skipping, OCR and batching (:class:`ObserveSettings`; default
            settings when None).
        source: Source id stored on every observation (e.g. the file's content hash).
        encoder: A :class:`~perception.image.encoder.FrameEncoder` (gives "visual" and
            "concept" vectors and labels).
        ocr: Callable RGB image -> list of lines with ``text``, ``box``, ``score`` (e.g.
            :class:`perception.image.ocr.OcrReader`); None: no text reading.
        text_detector: Callable image -> bool deciding where OCR runs (default
            :class:`~perception.image.textdetect.TextDetector`); a change in its answer also
            starts a new segment.
        progress: Optional callback(t_seconds, duration_seconds) after each sampled frame.
        stats: Optional :class:`IndexStats` updated in place.
        marks: Optional list that receives one :class:`FrameMark` per sampled frame, in order.
        **options: Fields of :class:`ObserveSettings` (``fps=2.0, skip=False, ...``), applied
            over ``settings``; the keyword form of earlier releases.

    Yields:
        :class:`~perception.types.Observation` with modality "video", kind "segment".

    Raises:
        InputError: unreadable or corrupt file. Segments completed before a corrupt part are
            yielded first, then the error is raised.
        ValueError/TypeError: bad arguments.
    """
    if not isinstance(source, str) or not source:
        raise ValueError("source must be a non-empty string")
    if not isinstance(encoder, FrameEncoder):
        raise TypeError("encoder must implement perception.image.encoder.FrameEncoder "
                        f"(dim, concept_dim, encode, embed_text), got {type(encoder).__name__}")
    if settings is None:
        settings = ObserveSettings(**options)
    elif options:
        settings = dataclasses.replace(settings, **options)
    elif not isinstance(settings, ObserveSettings):
        raise TypeError(f"settings must be an ObserveSettings, got {type(settings).__name__}")
    info = probe(path)  # bad files fail here, at call time
    detect = None
    if ocr is not None and not settings.ocr_all:
        detect = text_detector if text_detector is not None else TextDetector(TEXT_THUMB_WIDTH)
    return _observe(path, info.duration, settings, _Readers(source, encoder, ocr, detect),
                    progress, stats if stats is not None else IndexStats(), marks)


@dataclass(frozen=True)
class _Readers:
    """Who turns kept frames into observations: the source id, the encoder, OCR and its gate."""

    source: str
    encoder: FrameEncoder
    ocr: Callable[[np.ndarray], list] | None
    detect: Callable[[np.ndarray], bool] | None


def _select(path, s: ObserveSettings, r: _Readers, marks: list[FrameMark] | None = None) -> Iterator[tuple]:
    """Decode side: sample, sign, detect text, decide. Yields ("keep", _Kept) or ("extend", t);
    runs on the prefetch thread when ``s.pipeline`` is on. Appends each frame's mark to ``marks``."""
    rule = KeepRule(s)
    for tf in iter_frames(path, sampling=s.sampling):
        flag = bool(r.detect(tf.resized(TEXT_THUMB_WIDTH))) if r.detect is not None else False
        mark = FrameMark(tf.t, signature_of(tf.thumbnail()), flag)
        if marks is not None:
            marks.append(mark)
        if rule.keep(mark):
            ocr_img = None
            if r.ocr is not None and (s.ocr_all or flag):
                ocr_img = tf.resized(s.ocr_max_side)
            scale = tf.size[0] / ocr_img.shape[1] if ocr_img is not None else 1.0
            yield ("keep", _Kept(t=tf.t, enc_img=tf.short_side(ENCODER_SHORT_SIDE), ocr_img=ocr_img,
                                 text_flag=flag, ocr_scale=scale, last_t=tf.t))
        else:
            yield ("extend", tf.t)


def _segment(k: _Kept, t1: float, feats, i: int, r: _Readers, offset: float, st: IndexStats) -> Observation:
    """The observation of kept frame ``k`` (row ``i`` of the encoded batch ``feats``), ending at ``t1``."""
    lines = []
    if k.ocr_img is not None:
        st.ocr_calls += 1
        lines = list(r.ocr(k.ocr_img))
    meta = {
        "frames": k.frames,
        "t_frame": k.t + offset,
        "ocr_run": k.ocr_img is not None,
        "text_detected": k.text_flag,
        # Boxes in the original frame's pixels (OCR ran on a copy scaled by 1/ocr_scale).
        "ocr": [{"text": ln.text, "score": float(ln.score),
                 "box": [[round(x * k.ocr_scale, 1), round(y * k.ocr_scale, 1)] for x, y in ln.box]}
                for ln in lines],
    }
    st.segments += 1
    return Observation(source=r.source, t0=k.t + offset, t1=t1 + offset, modality="video", kind="segment",
                       vectors={"visual": feats.visual[i].copy(), "concept": feats.concept[i].copy()},
                       labels=dict(feats.labels[i]) if feats.labels else {},
                       text="\n".join(ln.text for ln in lines), meta=meta)


def _observe(path, duration: float, s: ObserveSettings, r: _Readers, progress,
             st: IndexStats, marks: list[FrameMark] | None = None) -> Iterator[Observation]:
    pending: list[_Kept] = []

    def flush(n: int, final_t1: float | None) -> Iterator[Observation]:
        batch = pending[:n]
        feats = r.encoder.encode([k.enc_img for k in batch])
        for i, k in enumerate(batch):
            nxt = pending[i + 1].t if i + 1 < len(pending) else final_t1
            yield _segment(k, nxt, feats, i, r, s.time_offset, st)
        del pending[:n]

    selected = _select(path, s, r, marks)
    events = _prefetch(selected, maxsize=4 * s.batch_size) if s.pipeline else selected
    error: InputError | None = None
    try:
        for kind, item in events:
            st.sampled += 1
            if kind == "keep":
                pending.append(item)
                st.kept += 1
                st.text_frames += item.text_flag
                st.last_t = item.t
                if len(pending) > s.batch_size:
                    yield from flush(s.batch_size, None)
            else:
                st.last_t = item
                if pending:
                    pending[-1].frames += 1
                    pending[-1].last_t = item
            if progress is not None:
                progress(st.last_t, duration)
    except InputError as err:
        error = err
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    if pending:
        end = pending[-1].last_t + 1.0 / s.fps
        if duration > pending[-1].last_t:
            end = min(end, duration)
        yield from flush(len(pending), end)
    logger.info("%s: sampled %d frames, kept %d, OCR on %d, %d segments", path, st.sampled,
                st.kept, st.ocr_calls, st.segments)
    if error is not None:
        raise error


_DONE = object()


class _prefetch:
    """Runs a generator on a daemon thread, handing items over through a bounded queue.

    Exceptions raised by the generator are re-raised in the consumer at the same point of the
    stream. ``close()`` (also on garbage collection of the consumer) stops the producer.
    """

    def __init__(self, gen: Iterator, maxsize: int):
        self._q: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._gen = gen
        self._thread = threading.Thread(target=self._run, name="video-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._gen:
                if not self._put((True, item)):
                    break
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            self._put((False, err))
        else:
            self._put((True, _DONE))
        finally:
            self._gen.close()

    def __iter__(self):
        return self

    def __next__(self):
        ok, item = self._q.get()
        if not ok:
            self._stop.set()
            raise item
        if item is _DONE:
            self._stop.set()
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        try:  # unblock a producer waiting on a full queue
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5.0)

