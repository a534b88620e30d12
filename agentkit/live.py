"""Live streams (robots): ``observe(frame, t)`` now, ``ask`` from another thread at any time.

The caller's thread only checks a frame and puts it in a **bounded** queue. One background thread
takes frames from that queue and runs perception on them (the same steps as indexing a file:
signature, redundancy skip, frame encoder, text detector and OCR), then writes the segments to the
store in chunks under the stream's source id, with the progress record moved on in the same
transaction (so `Agent.ask` says which stream time memory covers).

When frames arrive faster than perception can take them, the queue stays full and the **oldest**
waiting frame is dropped to make room (newest wins): a robot wants to know what is in front of it
now, not what was there a second ago. Every drop is counted (`LiveStats.dropped`); nothing is ever
queued without bound. Memory held by a stream is at most ``queue_size`` frames, one batch being
encoded and ``chunk_size`` segments waiting to be written.

Every segment written also updates the stream's latent slots online (`memory.slot_stream`:
O(1) amortised work and bounded memory per segment), so a summary question ("what happens?")
about the open stream reads them instead of rebuilding slots from the store; after `close` the
store's slots apply again.

A segment runs from a kept frame to the next kept frame, as for files; frames judged redundant
only extend it. A kept frame is forced at least every ``max_gap`` seconds of stream time so that
what memory covers never lags far behind a static scene.

Example:
    ```python
    from agentkit import Agent

    agent = Agent.default(store="robot_store")
    with agent.live(source="camera") as stream:
        for t, frame in camera():                 # RGB uint8 (H, W, 3), t in seconds
            stream.observe(frame, t)
            if want_to_know():
                answer = agent.ask("is there a cat?", budget_ms=500)   # any thread
                print(answer.text, answer.coverage)
    print(stream.stats())
    ```
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from agentkit.live_input import (
    WORK_WIDTH,
    LiveSettings,
    LiveStats,
    LiveStreamError,
    check_frame,
    shrink,
    thumbnail,
)
from agentkit.schemas import Coverage

if TYPE_CHECKING:
    from agentkit.toolkit import Toolkit

__all__ = ["LiveSettings", "LiveStats", "LiveStream", "LiveStreamError", "check_frame", "live_answer"]

logger = logging.getLogger(__name__)

@dataclass
class _Open:
    """The segment being built: its kept frame's features and time, and how far it runs."""

    t: float
    last_t: float
    frames: int
    vectors: dict[str, np.ndarray]
    labels: dict[str, float]
    text: str
    meta: dict[str, Any]


class LiveStream:
    """One live source: a bounded frame queue, a perception thread, chunked store writes.

    Open with `Agent.live` (or build over an agent's toolkit); `close` (or leaving a ``with``
    block) perceives every frame still queued, writes it and marks the source complete.

    Args:
        toolkit: The agent's toolkit (store, frame encoder, OCR); its store must be writable.
        source: Source id the observations are stored under. An id already in the store is
            continued: frames must then come after the time it holds.
        settings: Queueing, thinning, skipping and writing (`LiveSettings`).

    Attributes:
        slots: The source's latent slots kept online (`memory.slot_stream.SlotStream`): every
            segment written updates them; summary questions read ``slots.snapshot()`` while the
            stream is open (None after `close`, or if the source's segments could not be consolidated
            online).

    Raises:
        ValueError: a bad source id, or a read-only agent.
    """

    def __init__(self, toolkit: "Toolkit", source: str = "live", settings: LiveSettings | None = None):
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"source must be a non-empty string, got {source!r}")
        if toolkit.read_only:
            raise ValueError("a live stream writes memory: open the agent with read_only=False")
        if settings is not None and not isinstance(settings, LiveSettings):
            raise TypeError(f"settings must be a LiveSettings, got {type(settings).__name__}")
        self.toolkit = toolkit
        self.source = source
        self.settings = settings or LiveSettings()
        memory = toolkit.memory  # open (or refuse) the store now, not on the perception thread
        until, _ = memory.progress(source)
        self._start_after = until if memory.store.get_progress(source) is not None else None
        self._encoder = toolkit.frame_encoder
        use_ocr = toolkit.use_ocr if self.settings.ocr is None else self.settings.ocr
        self._ocr = toolkit.ocr if use_ocr and toolkit.use_ocr else (self._load_ocr() if use_ocr else None)
        self._detect = None
        if self._ocr is not None:
            from perception.image.textdetect import TextDetector
            from perception.video.observe import TEXT_THUMB_WIDTH

            self._detect = TextDetector(TEXT_THUMB_WIDTH)
        from perception.video.signature import DEFAULT_THRESHOLD, RedundancyFilter

        threshold = DEFAULT_THRESHOLD if self.settings.threshold is None else self.settings.threshold
        self._filter = RedundancyFilter(threshold if self.settings.skip else None, self.settings.max_gap)
        self._queue: collections.deque[tuple[np.ndarray, float]] = collections.deque()
        self._cond = threading.Condition()
        self._stats = LiveStats(covered_until=until)
        self._last_in: float | None = self._start_after
        self._slot_origin: float | None = None
        self._last_slot: int | None = None
        self._busy = self._flush_wanted = False
        self._closing = self._closed = False
        self._error: BaseException | None = None
        self._open: _Open | None = None
        self._last_flag = False
        self._closed_segments: list[Any] = []
        self._watches: dict[str, Any] = {}
        self._watch_lock = threading.Lock()
        self.slots = self._slot_stream(memory.store)
        if self.slots is not None:
            toolkit.live_slots[source] = self.slots
        self._last_write = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"live-perception:{source}", daemon=True)
        self._thread.start()

    def _slot_stream(self, store: Any) -> Any:
        """The stream's online slots (`memory.slot_stream.SlotStream`), seeded with what the store
        already holds of the source when the stream continues it; None when those segments cannot
        be consolidated online (summaries then read the store's slots)."""
        from memory.slot_stream import SlotStream
        from memory.slots import SlotConfig

        slots = SlotStream(SlotConfig(), source=self.source)
        held = store.segments(self.source)
        try:
            for i in range(0, len(held), 512):  # in slices: bounded memory whatever the source's length
                for seg in store.get([s.id for s in held[i:i + 512]], vectors=True):
                    slots.add(seg)
        except ValueError as err:
            logger.warning("live stream %r: no online slots (%s); summaries read the store's", self.source, err)
            return None
        return slots

    def _feed_slots(self, segments: list[Any]) -> None:
        """Add written segments to the online slots; a segment they refuse (other vector spaces)
        detaches them, and summaries read the store's slots instead (memory itself is unaffected)."""
        if self.slots is None:
            return
        try:
            for seg in segments:  # O(1) amortised each; a question may read a snapshot meanwhile
                self.slots.add(seg)
        except ValueError as err:
            logger.warning("live stream %r: online slots stopped (%s); summaries read the store's", self.source, err)
            self._detach_slots()

    def _detach_slots(self) -> None:
        """Summaries read the store's slots again."""
        if self.slots is not None and self.toolkit.live_slots.get(self.source) is self.slots:
            del self.toolkit.live_slots[self.source]
        self.slots = None

    def _load_ocr(self) -> Any:
        from agentkit import models

        return models.load_ocr(self.toolkit.models.ocr)

    # ---- caller's side ----------------------------------------------------------------------
    def observe(self, frame: Any, t: float | None = None) -> bool:
        """Hand one frame to perception; returns at once.

        Args:
            frame: RGB uint8 ``(H, W, 3)`` numpy array, or a PyAV ``VideoFrame``.
            t: Stream time, seconds; must increase from frame to frame (None: a VideoFrame's own
                time).

        Returns:
            False when ``max_fps`` skipped the frame, True when it was queued (an older waiting
            frame may have been dropped to make room; see `stats`).

        Raises:
            TypeError, ValueError: a bad frame or time (see `check_frame`), or a time not after
                the previous frame's.
            LiveStreamError: the stream is closed, or its perception thread failed.
        """
        self._check_running()
        arr, t = check_frame(frame, t)
        if self.settings.copy and isinstance(frame, np.ndarray):  # not under the lock perception waits on
            arr = np.array(arr, copy=True)
        with self._cond:
            if self._closing or self._closed:  # closed meanwhile: never queue a frame nobody will take
                self._check_running()
            if self._last_in is not None and t <= self._last_in:
                if self._stats.received:
                    raise ValueError(f"t must increase: got {t:g} s, not after the previous frame's {self._last_in:g} s")
                raise ValueError(f"t must increase: got {t:g} s, but memory already holds source {self.source!r} "
                                 f"up to {self._last_in:g} s; continue after that, or use a new source id")
            self._last_in = t
            s = self._stats
            fps = self.settings.max_fps
            if fps is not None:  # one frame per 1/fps slot of stream time, counted from the first frame
                if self._slot_origin is None:
                    self._slot_origin = t
                slot = math.floor((t - self._slot_origin) * fps + 1e-6)
                if self._last_slot is not None and slot <= self._last_slot:
                    self._stats = replace(s, received=s.received + 1, thinned=s.thinned + 1, last_t=t)
                    return False
                self._last_slot = slot
            dropped = 0
            if len(self._queue) >= self.settings.queue_size:  # newest wins: make room
                self._queue.popleft()
                dropped = 1
            self._queue.append((arr, t))
            n = len(self._queue)
            self._stats = replace(s, received=s.received + 1, dropped=s.dropped + dropped, last_t=t,
                                  queued=n, max_queued=max(s.max_queued, n))
            self._cond.notify_all()
        return True

    def flush(self, timeout: float | None = None) -> LiveStats:
        """Wait until perception took every queued frame and every closed segment is written.

        The segment still open (the newest kept frame's) stays open: its end is not known yet.

        Raises:
            TimeoutError: not done within ``timeout`` seconds.
            LiveStreamError: the perception thread failed.
        """
        with self._cond:
            self._flush_wanted = True
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: self._error is not None or self._closed
                                     or (not self._queue and not self._busy and not self._closed_segments), timeout)
        self._raise_error()
        if not ok:
            raise TimeoutError(f"live stream {self.source!r}: frames still queued after {timeout} s")
        return self.stats()

    def close(self, timeout: float | None = 60.0) -> LiveStats:
        """Stop taking frames, perceive what is queued, write everything, mark the source complete.

        Calling it again does nothing. Raises `LiveStreamError` when the perception thread failed
        (what it wrote before failing stays in the store).
        """
        with self._cond:
            if self._closed or self._closing:
                already = True
            else:
                already, self._closing = False, True
                self._cond.notify_all()
        if not already:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"live stream {self.source!r}: perception did not finish within {timeout} s")
            self._closed = True
            self._detach_slots()  # summaries read the store's slots again
        self._raise_error()
        return self.stats()

    def __enter__(self) -> "LiveStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once `close` began."""
        return self._closing or self._closed

    def stats(self) -> LiveStats:
        """A snapshot of the stream's counters."""
        with self._cond:
            return self._stats

    def coverage(self) -> Coverage:
        """What memory holds of this stream: the stream time from the first frame to the last
        segment written (`Answer.coverage` carries the same for the live source)."""
        s = self.stats()
        base = self.toolkit.memory.coverage(self.source) or Coverage(source=self.source)
        start = s.first_t if s.first_t is not None and self._start_after is None else 0.0
        seen = [(start, s.covered_until)] if s.covered_until > start else []
        return base.model_copy(update={"seen": seen, "indexing": not self._closed and self._error is None})

    def notice(self) -> str:
        """One line for an answer: which stream time memory covers and what is still on its way."""
        s, c = self.stats(), self.coverage()
        span = f"{c.seen[0][0]:.1f}-{c.seen[0][1]:.1f} s" if c.seen else "nothing yet"
        behind = ""
        if s.last_t is not None and s.last_t > s.covered_until + 1e-6 and not self._closed:
            behind = f"; frames up to {s.last_t:.1f} s are still being perceived"
        drops = f"; {s.dropped} of {s.received} frames dropped (perception was busy)" if s.dropped else ""
        return f"live stream {self.source!r}: memory covers {span} of stream time{behind}{drops}"

    def watch(self, subject: str, goal: str = "first", *, n: int = 1, config: Any = None) -> None:
        """Follow ``subject`` online with a gated reader (`memory.gated`): each segment the stream
        closes updates a fixed-size state in O(1), so `watched` answers without reading the store.

        Args:
            subject: A concept ("cat"). With an encoder that has label names (the default), the
                cue is the summed probability of the names the subject expands to ("cat": tabby,
                tiger cat, Persian, ...); otherwise its text embedding in the concept space.
            goal: "exists", "first", "nth", "count" or "duration" ("last" and "order" need the
                whole timeline: ask those).
            n: The occurrence "nth" waits for.
            config: `memory.gated.GateConfig`; default: gate half open at a summed label
                probability of 0.3 (0.25 cosine for a text-embedding cue).

        Raises:
            ValueError: an empty subject, a goal that cannot be followed online, or a subject the
                encoder has no name for and no text embedding of.
        """
        from memory.gated import Cue, GateConfig, GatedReader

        if not isinstance(subject, str) or not subject.strip():
            raise ValueError(f"subject must be a non-empty string, got {subject!r}")
        if goal not in ("exists", "first", "nth", "count", "duration"):
            raise ValueError(f"goal must be 'exists', 'first', 'nth', 'count' or 'duration' to follow a stream "
                             f"online, got {goal!r}")
        names = tuple(self.toolkit.vocabulary(subject).names)
        if names:
            cue, default = Cue(subject, labels=frozenset(names)), GateConfig(threshold=0.3)
        else:
            cue, default = Cue(subject, vector=self.toolkit.query_vector(subject)), GateConfig(threshold=0.25)
        reader = GatedReader(goal, [cue], config or default, n=n)
        with self._watch_lock:
            self._watches[subject] = reader

    def watched(self, subject: str) -> Any:
        """What the watch on ``subject`` has found so far (`memory.gated.GatedResult`); a sighting
        still going on is not counted until it ends (or the stream closes).

        Raises:
            KeyError: no watch on ``subject``.
        """
        with self._watch_lock:
            if subject not in self._watches:
                raise KeyError(f"no watch on {subject!r}: call watch({subject!r}) first; "
                               f"watching {sorted(self._watches)}")
            reader = self._watches[subject]
            return reader.finish() if self._closed else reader.result()

    def _check_running(self) -> None:
        self._raise_error()
        if self._closing or self._closed:
            raise LiveStreamError(f"live stream {self.source!r} is closed: observe() after close(); "
                                  "open a new one with agent.live()")

    def _raise_error(self) -> None:
        if self._error is not None:
            raise LiveStreamError(f"live stream {self.source!r}: perception failed "
                                  f"({type(self._error).__name__}: {self._error})") from self._error

    # ---- perception thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._closing or self._flush_wanted,
                                        timeout=self.settings.flush_seconds)
                    batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.settings.batch_size))]
                    self._busy = bool(batch)
                    self._stats = replace(self._stats, queued=len(self._queue))
                    stopping = self._closing and not self._queue and not batch
                if batch:
                    self._perceive(batch)
                if stopping:
                    self._finish()
                    return
                due = time.monotonic() - self._last_write >= self.settings.flush_seconds
                with self._cond:
                    wanted = self._flush_wanted and not self._queue
                if self._closed_segments and (len(self._closed_segments) >= self.settings.chunk_size or due or wanted):
                    self._write()
                with self._cond:
                    self._busy = False
                    if wanted:
                        self._flush_wanted = False
                    self._cond.notify_all()
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            logger.exception("live stream %r: perception failed", self.source)
            with self._cond:
                self._error = err
                self._busy = False
                self._cond.notify_all()

    def _perceive(self, batch: list[tuple[np.ndarray, float]]) -> None:
        from perception.video.signature import signature_of

        started = time.perf_counter()
        kept: list[tuple[np.ndarray, float, bool, np.ndarray]] = []  # (reduced, t, text seen, full frame)
        for image, t in batch:
            small = shrink(image, WORK_WIDTH)
            flag = bool(self._detect(small)) if self._detect is not None else False
            if self._filter.keep(signature_of(thumbnail(small)), t, force=flag != self._last_flag):
                self._last_flag = flag
                kept.append((small, t, flag, image))
        feats = self._encoder.encode([k[0] for k in kept]) if kept else None
        ocr_calls = 0
        k = 0
        for image, t in batch:
            if k < len(kept) and kept[k][1] == t:
                _, _, flag, _ = kept[k]
                lines = list(self._ocr(image)) if flag and self._ocr is not None else []
                ocr_calls += bool(flag and self._ocr is not None)
                if self._open is not None:
                    self._close_open(t)
                self._open = _Open(
                    t=t, last_t=t, frames=1,
                    vectors={"visual": np.array(feats.visual[k], dtype=np.float32),
                             "concept": np.array(feats.concept[k], dtype=np.float32)},
                    labels=dict(feats.labels[k]) if feats.labels else {},
                    text="\n".join(ln.text for ln in lines),
                    meta={"live": True, "t_frame": t, "ocr_run": bool(flag and self._ocr is not None),
                          "text_detected": flag,
                          "ocr": [{"text": ln.text, "score": float(ln.score),
                                   "box": [[round(float(x), 1), round(float(y), 1)] for x, y in ln.box]}
                                  for ln in lines]})
                k += 1
            elif self._open is not None:
                self._open.frames += 1
                self._open.last_t = t
        with self._cond:
            s = self._stats
            self._stats = replace(s, taken=s.taken + len(batch), kept=s.kept + len(kept), ocr_calls=s.ocr_calls + ocr_calls,
                                  first_t=s.first_t if s.first_t is not None else batch[0][1],
                                  perceive_seconds=s.perceive_seconds + time.perf_counter() - started)

    def _close_open(self, t1: float) -> None:
        from perception.types import Observation

        o = self._open
        obs = Observation(source=self.source, t0=o.t, t1=max(t1, o.t), modality="video", kind="segment",
                          vectors=o.vectors, labels=o.labels, text=o.text, meta={**o.meta, "frames": o.frames})
        self._closed_segments.append(obs)
        self._open = None
        if self._watches:
            with self._watch_lock:
                for reader in self._watches.values():
                    reader.step(obs)  # O(1): a fixed-size state per watch

    def _write(self) -> None:
        segments, self._closed_segments = self._closed_segments, []
        until = self.toolkit.memory.write_chunk(self.source, segments)
        self._feed_slots(segments)
        self._last_write = time.monotonic()
        with self._cond:
            s = self._stats
            self._stats = replace(s, written=s.written + len(segments), chunks=s.chunks + 1,
                                  covered_until=max(s.covered_until, until))

    def _finish(self) -> None:
        """Close the open segment (it ends one frame interval after its last frame) and write."""
        if self._open is not None:
            o = self._open
            step = o.last_t - o.t if o.frames > 1 else 0.0
            step = step / max(1, o.frames - 1)
            if step <= 0:
                step = 1.0 / self.settings.max_fps if self.settings.max_fps else 0.04
            self._close_open(o.last_t + step)
        if self._closed_segments:
            self._write()
        s = self.stats()
        if s.taken:
            self.toolkit.memory.mark_done(self.source, s.covered_until)
        with self._cond:
            self._cond.notify_all()


def live_answer(answer: Any, stream: LiveStream) -> Any:
    """``answer`` with the live source's coverage as the stream knows it (from its first frame's
    time to the last segment written) and, while the stream is open, a notice saying so; other
    sources are left as they are."""
    coverage = [c for c in answer.coverage if c.source != stream.source]
    coverage.append(stream.coverage())
    notices = answer.notices if stream.closed else [*answer.notices, stream.notice()]
    return answer.model_copy(update={"coverage": coverage, "notices": notices})
