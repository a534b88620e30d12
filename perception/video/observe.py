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

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from perception.errors import InputError
from perception.image.encoder import FrameEncoder
from perception.image.textdetect import TextDetector
from perception.types import Observation
from perception.video.reader import iter_frames, probe
from perception.video.signature import DEFAULT_THRESHOLD, RedundancyFilter, signature_of

logger = logging.getLogger(__name__)

__all__ = ["IndexStats", "observe_video"]

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


@dataclass
class _Kept:
    t: float
    enc_img: np.ndarray
    ocr_img: np.ndarray | None
    text_flag: bool
    frames: int = 1
    last_t: float = 0.0
    extra: dict = field(default_factory=dict)


def observe_video(path: str | os.PathLike, *, source: str, encoder: FrameEncoder,
                  ocr: Callable[[np.ndarray], list] | None = None, fps: float = 1.0,
                  start: float = 0.0, skip: bool = True,
                  threshold: float = DEFAULT_THRESHOLD, max_gap: float | None = 60.0,
                  text_detector: Callable[[np.ndarray], bool] | None = None,
                  ocr_all: bool = False, ocr_max_side: int = 960, mode: str = "all",
                  batch_size: int = 8, threads: int | None = None, time_offset: float = 0.0,
                  progress: Callable[[float, float], None] | None = None,
                  stats: IndexStats | None = None) -> Iterator[Observation]:
    """Yield one observation per closed segment of ``path``, in time order.

    Args:
        path: Any video PyAV can open.
        source: Source id stored on every observation (e.g. the file's content hash).
        encoder: A :class:`~perception.image.encoder.FrameEncoder` (gives "visual" and
            "concept" vectors and labels).
        ocr: Callable RGB image -> list of lines with ``text``, ``box``, ``score`` (e.g.
            :class:`perception.image.ocr.OcrReader`); None: no text reading.
        fps: Sampling rate (frames per second of video time).
        start: Seconds to start at (resume from the last stored segment's ``t1``).
        skip: Redundancy skipping on (False: every sampled frame is its own segment).
        threshold: Signature distance above which a frame is new (see
            :mod:`perception.video.signature`).
        max_gap: Keep a frame at least this often (seconds) even in a static shot.
        text_detector: Callable image -> bool deciding where OCR runs (default
            :class:`~perception.image.textdetect.TextDetector`); a change in its answer also
            starts a new segment.
        ocr_all: Run OCR on every kept frame, ignoring the detector (the naive plan).
        ocr_max_side: Longer side, pixels, of the image handed to OCR.
        mode: Decode mode, see :data:`perception.video.reader.DECODE_MODES`.
        batch_size: Kept frames encoded per batch (latency of a yield vs throughput).
        threads: Decoder threads (None: FFmpeg decides).
        time_offset: Added to every time (place a file on a longer time axis).
        progress: Optional callback(t_seconds, duration_seconds) after each sampled frame.
        stats: Optional :class:`IndexStats` updated in place.

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
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    info = probe(path)
    duration = info.duration
    st = stats if stats is not None else IndexStats()
    filt = RedundancyFilter(threshold if skip else None, max_gap)
    detect = None
    if ocr is not None and not ocr_all:
        detect = text_detector if text_detector is not None else TextDetector(TEXT_THUMB_WIDTH)
    step = 1.0 / fps
    pending: list[_Kept] = []
    last_flag = False

    def segment(k: _Kept, t1: float, feats, i: int) -> Observation:
        lines = []
        if k.ocr_img is not None:
            st.ocr_calls += 1
            lines = list(ocr(k.ocr_img))
        text = "\n".join(ln.text for ln in lines)
        meta = {
            "frames": k.frames,
            "t_frame": k.t + time_offset,
            "ocr_run": k.ocr_img is not None,
            "text_detected": k.text_flag,
            "ocr": [ln.to_json() if hasattr(ln, "to_json") else
                    {"text": ln.text, "box": [list(p) for p in ln.box], "score": ln.score}
                    for ln in lines],
        }
        st.segments += 1
        return Observation(source=source, t0=k.t + time_offset, t1=t1 + time_offset,
                           modality="video", kind="segment",
                           vectors={"visual": feats.visual[i].copy(),
                                    "concept": feats.concept[i].copy()},
                           labels=dict(feats.labels[i]) if feats.labels else {},
                           text=text, meta=meta)

    def flush(n: int, final_t1: float | None) -> Iterator[Observation]:
        batch = pending[:n]
        feats = encoder.encode([k.enc_img for k in batch])
        for i, k in enumerate(batch):
            nxt = pending[i + 1].t if i + 1 < len(pending) else final_t1
            yield segment(k, nxt, feats, i)
        del pending[:n]

    error: InputError | None = None
    try:
        for tf in iter_frames(path, fps=fps, start=start, mode=mode, threads=threads):
            st.sampled += 1
            st.last_t = tf.t
            flag = False
            if detect is not None:
                flag = bool(detect(tf.resized(TEXT_THUMB_WIDTH)))
                st.text_frames += flag
            sig = signature_of(tf.thumbnail())
            if filt.keep(sig, tf.t, force=(flag != last_flag)):
                last_flag = flag
                want_ocr = ocr is not None and (ocr_all or flag)
                pending.append(_Kept(t=tf.t, enc_img=tf.short_side(ENCODER_SHORT_SIDE),
                                     ocr_img=tf.resized(ocr_max_side) if want_ocr else None,
                                     text_flag=flag, last_t=tf.t))
                st.kept += 1
                if len(pending) > batch_size:
                    yield from flush(batch_size, None)
            elif pending:
                pending[-1].frames += 1
                pending[-1].last_t = tf.t
            if progress is not None:
                progress(tf.t, duration)
    except InputError as err:
        error = err
    if pending:
        end = pending[-1].last_t + step
        if duration > pending[-1].last_t:
            end = min(end, duration)
        yield from flush(len(pending), end)
    logger.info("%s: sampled %d frames, kept %d, OCR on %d, %d segments", path, st.sampled,
                st.kept, st.ocr_calls, st.segments)
    if error is not None:
        raise error
