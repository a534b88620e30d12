"""Latent slots built online: one segment at a time, in bounded memory (live streams).

`memory.slots.build_slots` consolidates a finished source in one pass over all its segments. A
live stream cannot afford that per question: every new chunk changes the store, and a rebuild
reads every segment again. `SlotStream` keeps the same hierarchy up to date as segments arrive:

* **The open scene** (the run the newest segments belong to) is a fixed-size state per vector
  space: a causal linear-attention state with decay (`accel.attention.linear.linear_update`,
  ``S = decay * S + phi(k) vᵀ``), whose keys are the members' unit vectors projected to
  ``key_dim`` dimensions by a fixed random matrix and whose values are the unit vectors
  themselves; the members' summed vector (the query for the pooled vector, as in build_slots);
  up to ``2 * exemplars`` exemplar candidates (a diverse subset: when full, the candidate most
  alike its nearest neighbour is dropped); and its label tally and first texts. Nothing grows
  with the number of segments.
* **A scene closes** when a new segment departs from it: the cosine between the segment and the
  open state's attention read-out for that segment (`linear_read`, the segment as the query) is
  below the source's threshold, as in build_slots, whose similarity pass merges neighbouring runs
  while the cosine of their means is at least that threshold; also on a gap of ``max_gap``
  seconds or at ``max_run`` segments. The threshold is estimated online the same way: the
  background similarity (median pairwise cosine) of an evenly strided sample of 128-256
  segments (``THRESHOLD_SAMPLE``), raised by ``scene_margin`` of the way to 1.
* **Closed scenes** keep what a scene slot holds (span, count, summed and pooled vectors,
  exemplars, labels with first times, texts). When there are more than ``max_scenes`` plus a
  slack of a quarter, they are merged back to ``max_scenes`` by `memory.slots.merge_neighbours`
  (the similarity pass at the current threshold, then the bound pass), so a scene cut early
  under a threshold not yet settled merges back, and memory stays bounded. A scene that is a
  mixture an earlier bound pass made (its members less alike on average than the threshold) is
  left to the bound pass: its mean has drifted toward the source's mean.
* `snapshot` returns a `memory.slots.SlotMemory` of the same shape build_slots gives: the same
  neighbour merging over the closed scenes and the open one, then chapters by
  `memory.slots.chapter_level`. `memory.slot_recall` and the summary operator read it unchanged.

The store stays the source of truth: a snapshot is an approximation of build_slots on the same
segments (the open scene's pooled vector is a linear-attention pool, close to the decayed mean,
not a softmax one; merged scenes pool their parts' pooled vectors as chapters do; the threshold
and so the first cuts follow the stream). Once a stream ends, `memory.slot_files.load_slots`
builds the exact slots from the store.

Example:
    ```python
    stream = SlotStream(SlotConfig(), source="camera")
    for segment in segments:          # t0 ascending; vectors, labels, text
        stream.add(segment)           # O(1) amortised
    slots = stream.snapshot()         # a SlotMemory: scenes, chapters
    ```
"""
from __future__ import annotations

import math
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from accel.attention.linear import linear_read, linear_update
from memory.slot_pool import exemplars, fit_exemplars
from memory.slot_scene import OpenScene, Scene
from memory.slots import (
    THRESHOLD_SAMPLE,
    SlotConfig,
    SlotLevel,
    SlotMemory,
    chapter_level,
    empty_level,
    group_level,
    merge_neighbours,
    threshold_from,
)

__all__ = ["SlotStream", "StreamConfig"]

LABEL_DIM = 64
"""Dimension of the stand-in feature of a segment without vectors (its top label, hashed)."""


@dataclass(frozen=True)
class StreamConfig:
    """How the online state is kept (the slots themselves follow `memory.slots.SlotConfig`).

    Args:
        half_life: Segments after which a member's weight in the open scene's linear-attention
            state has halved (``decay = 0.5 ** (1 / half_life)``); None: no decay.
        key_dim: Dimension of the keys and queries of that state (a fixed random projection of the
            unit vectors, seeded by ``seed``); the state per space is ``key_dim x D`` floats.
            None: the vectors' own dimension (``D x D``).
        slack: Closed scenes held beyond ``max_scenes`` before they are merged back to it, as a
            share of ``max_scenes`` (merging in batches keeps the work per segment O(1) amortised).
        max_tally: Label names the open scene tallies at most; beyond, the weakest half is dropped.
        seed: Seed of the key projection.
    """

    half_life: float | None = 256.0
    key_dim: int | None = 64
    slack: float = 0.25
    max_tally: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.half_life is not None and not (self.half_life > 0 and math.isfinite(self.half_life)):
            raise ValueError(f"half_life must be a positive number of segments or None, got {self.half_life!r}")
        if self.key_dim is not None and (isinstance(self.key_dim, bool) or not isinstance(self.key_dim, int)
                                         or self.key_dim < 1):
            raise ValueError(f"key_dim must be a positive int or None, got {self.key_dim!r}")
        if not 0.0 < self.slack <= 1.0:
            raise ValueError(f"slack must be in (0, 1], got {self.slack!r}")
        if isinstance(self.max_tally, bool) or not isinstance(self.max_tally, int) or self.max_tally < 2:
            raise ValueError(f"max_tally must be an int >= 2, got {self.max_tally!r}")

    @property
    def decay(self) -> float:
        return 1.0 if self.half_life is None else 0.5 ** (1.0 / self.half_life)


# ---- pieces of the state -----------------------------------------------------------------------

# ---- the stream ----------------------------------------------------------------------------------

class SlotStream:
    """Scenes and chapters of one source, updated one segment at a time.

    Args:
        config: The slot bounds and thresholds (`memory.slots.SlotConfig`, as for build_slots).
        stream: How the online state is kept (`StreamConfig`).
        source: The source id, kept on snapshots.

    Thread-safe: `add` (e.g. a perception thread) and `snapshot` (a question) may run on different
    threads.
    """

    def __init__(self, config: SlotConfig = SlotConfig(), stream: StreamConfig = StreamConfig(), *, source: str = ""):
        if not isinstance(config, SlotConfig):
            raise TypeError(f"config must be a SlotConfig, got {type(config).__name__}")
        if not isinstance(stream, StreamConfig):
            raise TypeError(f"stream must be a StreamConfig, got {type(stream).__name__}")
        self.config, self.stream_config, self.source = config, stream, source
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[np.ndarray, int]] = {}  # space -> (key projection [D, K], D)
        self.spaces: tuple[str, ...] | None = None
        self._feature: str | None = None
        self._scenes: list[Scene] = []
        self._open: OpenScene | None = None
        self.n = 0
        self._last_t0 = -math.inf
        # the threshold: an evenly strided sample of feature vectors and their Gram matrix
        cap = THRESHOLD_SAMPLE
        self._sample_stride, self._sample_n, self._sample_at_tau = 1, 0, 0
        self._sample: np.ndarray | None = None  # [cap, D]
        self._gram = np.zeros((cap, cap), dtype=np.float32)
        self.threshold = config.scene_similarity if config.scene_similarity is not None else 0.5
        self.merges = 0
        self._cached: tuple[int, SlotMemory] | None = None

    # ---- adding ----------------------------------------------------------------------------
    def add(self, segment: Any) -> None:
        """Add one segment (``t0``, ``t1``, ``vectors``: space -> 1-D array, ``labels``, ``text``).

        Segments must come in time order (``t0`` not decreasing) and have the same vector spaces
        and dimensions as the first one.

        Raises:
            ValueError: a segment out of order, with other spaces or dimensions than the first, or
                with vectors that are not finite.
        """
        t0, t1 = float(segment.t0), float(segment.t1)
        vecs = self._vectors(segment)
        with self._lock:
            if t0 < self._last_t0:
                raise ValueError(f"segments must come in time order: t0={t0:g} s after one at {self._last_t0:g} s")
            if self.spaces is None:
                self._start(vecs)
            elif not set(self.spaces) <= set(vecs):
                raise ValueError(f"every segment needs the vector spaces of the first {list(self.spaces)}; the one at "
                                 f"{t0:g} s has {sorted(vecs)}")
            units = {}
            for s in self.spaces:
                v = vecs[s]
                if v.shape[0] != self._keys[s][1]:
                    raise ValueError(f"space {s!r}: dimension {v.shape[0]}, the first segment's was {self._keys[s][1]}")
                units[s] = v
            feat = units[self._feature] if self._feature else self._label_feature(segment.labels)
            self._note_sample(feat)
            o = self._open
            if o is not None and self._departs(o, feat, t0):
                self._close()
                o = None
            if o is None:
                o = self._open = OpenScene(self, self.n, t0)
            decay = self.stream_config.decay
            for s, v in units.items():
                key = torch.from_numpy(v @ self._keys[s][0])
                linear_update(o.state[s], o.z[s], key, torch.from_numpy(v), decay=decay)
                o.sums[s] += v
                o.cands[s].add(v)
            if not self._feature:
                o.sums.setdefault("", np.zeros(LABEL_DIM))
                o.sums[""] += feat
            o.tally.add(segment.labels, getattr(segment, "text", ""), t0)
            o.t1 = max(o.t1, t1)
            o.count += 1
            self.n += 1
            self._last_t0 = t0

    def _vectors(self, segment: Any) -> dict[str, np.ndarray]:
        out = {}
        for s, v in (getattr(segment, "vectors", None) or {}).items():
            a = np.asarray(v, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"space {s!r}: the segment at {float(segment.t0):g} s has vectors that are not finite")
            norm = float(np.linalg.norm(a))
            out[s] = a / norm if norm > 0 else a
        return out

    def _start(self, vecs: dict[str, np.ndarray]) -> None:
        self.spaces = tuple(sorted(vecs))
        rng = np.random.default_rng(self.stream_config.seed)
        scale = 1.0 / math.sqrt(self.config.temperature)  # keys' dot products ~ cosine / temperature
        for s in self.spaces:
            d = vecs[s].shape[0]
            k = self.stream_config.key_dim
            proj = (np.eye(d) if k is None else rng.standard_normal((d, k)) / math.sqrt(k)) * scale
            self._keys[s] = (proj.astype(np.float32), d)
        self._feature = self.config.space if self.config.space in vecs else (self.spaces[0] if self.spaces else None)

    @staticmethod
    def _label_feature(labels: dict[str, float] | None) -> np.ndarray:
        """Without vectors, the top label hashed to a random unit vector stands in (as build_slots
        cuts on changes of the top label)."""
        top = max(labels, key=labels.get) if labels else ""
        v = np.random.default_rng(zlib.crc32(top.encode("utf-8"))).standard_normal(LABEL_DIM)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def _departs(self, o: OpenScene, feat: np.ndarray, t0: float) -> bool:
        if t0 - o.t1 > self.config.max_gap or o.count >= self.config.max_run:
            return True
        if self._feature:
            s = self._feature
            read = linear_read(o.state[s], o.z[s], torch.from_numpy(feat @ self._keys[s][0])).numpy()
        else:
            read = o.sums[""]
        norm = float(np.linalg.norm(read))
        return (float(read @ feat) / norm if norm > 0 else 0.0) < self.threshold

    def _note_sample(self, feat: np.ndarray) -> None:
        """Keep every ``stride``-th feature vector (at most ``THRESHOLD_SAMPLE``; when full, every
        other one is dropped and the stride doubles) and re-estimate the threshold from the median
        of their pairwise cosines when the sample has grown by a quarter."""
        if self.n % self._sample_stride:
            return
        cap = self._gram.shape[0]
        if self._sample is None:
            self._sample = np.zeros((cap, feat.shape[0]), dtype=np.float32)
        m = self._sample_n
        self._sample[m] = feat
        g = self._sample[: m + 1] @ feat
        self._gram[m, : m + 1] = g
        self._gram[: m + 1, m] = g
        self._sample_n = m = m + 1
        if m == cap:  # keep every other one; the stride doubles
            self._sample[: cap // 2] = self._sample[::2]
            self._gram[: cap // 2, : cap // 2] = self._gram[::2, ::2]
            self._sample_n = m = cap // 2
            self._sample_stride *= 2
            self._sample_at_tau = 0
        if self.config.scene_similarity is None and m >= 3 and m - self._sample_at_tau >= max(1, m // 4):
            gram = self._gram[:m, :m]
            self.threshold = threshold_from(float(np.median(gram[np.triu_indices(gram.shape[0], 1)])), self.config)
            self._sample_at_tau = m

    def _close(self) -> None:
        self._scenes.append(self._describe_open(self._open))
        self._open = None
        keep = self.config.max_scenes
        if len(self._scenes) > keep + max(1, int(self.stream_config.slack * keep)):
            self._scenes = self._merged(self._scenes, keep, self.threshold)
            self.merges += 1

    def _describe_open(self, o: OpenScene) -> Scene:
        vectors, exs, count = {}, {}, None
        for s in sorted(o.state):
            q = torch.from_numpy(_unit(o.sums[s]) @ self._keys[s][0])
            pooled = _unit(linear_read(o.state[s], o.z[s], q).numpy())
            c = o.cands[s]
            picked = exemplars(c.rows[: c.n], pooled, self.config.exemplars)
            if count is not None:  # every space gets the first space's count (one offsets array)
                picked = fit_exemplars(picked, count, pooled)
            count = picked.shape[0] if count is None else count
            vectors[s], exs[s] = pooled, picked.astype(np.float16)
        labels, first, texts = o.tally.describe()
        feat_sum = o.sums[self._feature] if self._feature else o.sums[""]
        return Scene(o.i0, o.i0 + o.count, o.t0, o.t1, o.count, feat_sum.astype(np.float32), vectors, exs,
                      labels, first, texts)

    # ---- merging (the neighbour merging of build_slots) ------------------------------------------
    def _merged(self, scenes: list[Scene], keep: int, tau: float) -> list[Scene]:
        """``scenes`` merged as build_slots merges its runs (`merge_neighbours`): neighbours at
        least ``tau`` alike, then down to ``keep``.

        Unlike build_slots, which merges once, a stream merges its scenes again and again, so some
        are mixtures the bound pass made earlier; their means drift toward the source's mean and
        would look similar to every neighbour. A scene whose members are on average less alike
        than ``tau`` (squared mean resultant length ``|sum|² / count²``, which estimates the mean
        pairwise cosine) is such a mixture: only the bound pass merges it."""
        if len(scenes) <= 1:
            return scenes
        cfg = self.config
        sums = np.stack([s.sum for s in scenes]).astype(np.float64)
        counts = np.array([s.count for s in scenes], dtype=np.int64)
        t0, t1 = np.array([s.t0 for s in scenes]), np.array([s.t1 for s in scenes])
        fixed = np.einsum("ij,ij->i", sums, sums) / np.maximum(counts, 1) ** 2 < tau
        # 1. similarity pass (keep = every group: no bound pass)
        first = merge_neighbours(sums, counts, t0[1:] - t1[:-1] > cfg.max_gap, keep=len(scenes), tau=tau,
                                 max_count=cfg.max_run, fixed=fixed)
        ends = np.append(first[1:], len(scenes))
        # 2. bound pass over those groups (tau above any cosine: no similarity merges)
        second = np.arange(len(first))
        if len(first) > keep:
            g1 = np.maximum.reduceat(t1, first)
            second = merge_neighbours(np.add.reduceat(sums, first, axis=0), np.add.reduceat(counts, first),
                                      t0[first[1:]] - g1[:-1] > cfg.max_gap, keep=keep, tau=2.0,
                                      balance=cfg.scene_balance)
        if len(second) == len(scenes):
            return scenes
        ranges = [(int(first[a]), int(ends[b - 1])) for a, b in zip(second, np.append(second[1:], len(first)))]
        multi = [r for r in ranges if r[1] - r[0] > 1]
        grouped = iter(self._group(scenes, multi)) if multi else iter(())
        return [scenes[a] if b - a == 1 else next(grouped) for a, b in ranges]

    def _group(self, scenes: list[Scene], ranges: list[tuple[int, int]]) -> list[Scene]:
        """One scene per ``[a, b)`` range of ``scenes``, pooled as build_slots pools chapters."""
        members = [scenes[i] for a, b in ranges for i in range(a, b)]
        lvl = _level(members, self._dims())
        starts, at = [], 0
        for a, b in ranges:
            starts.append(at)
            at += b - a
        g = group_level(lvl, np.asarray(starts), self.config)
        out = []
        for j, (a, b) in enumerate(ranges):
            e0, e1 = int(g.ex_offsets[j]), int(g.ex_offsets[j + 1])
            out.append(Scene(scenes[a].i0, scenes[b - 1].i1, float(g.t0[j]), float(g.t1[j]), int(g.count[j]),
                              np.sum([scenes[i].sum for i in range(a, b)], axis=0, dtype=np.float64).astype(np.float32),
                              {s: g.vectors[s][j] for s in g.vectors}, {s: g.exemplars[s][e0:e1] for s in g.exemplars},
                              g.labels[j], g.first[j], g.texts[j]))
        return out

    # ---- reading --------------------------------------------------------------------------
    def snapshot(self) -> SlotMemory:
        """The slots of every segment added so far: the closed scenes and the open one merged to
        ``max_scenes`` by build_slots's neighbour merging, then chapters. Cached until the next
        `add`. ``stats``: ``live`` 1.0, ``open_count`` (segments in the open scene), ``merges``."""
        with self._lock:
            if self._cached is not None and self._cached[0] == self.n:
                return self._cached[1]
            scenes = list(self._scenes)
            if self._open is not None:
                scenes.append(self._describe_open(self._open))
            n, tau, spaces, feature = self.n, self.threshold, self.spaces or (), self._feature
            open_count = self._open.count if self._open is not None else 0
        scenes = self._merged(scenes, self.config.max_scenes, tau)
        level = _level(scenes, self._dims())
        chapters = chapter_level(level, feature, self.config)
        slots = SlotMemory(self.source, self.config, level, chapters, n, tuple(spaces), float(tau),
                           fingerprint=f"live:{n}",
                           stats={"live": 1.0, "rebuilt": 0.0, "open_count": float(open_count),
                                  "merges": float(self.merges)})
        with self._lock:
            if self.n == n:
                self._cached = (n, slots)
        return slots

    def _dims(self) -> dict[str, int]:
        return {s: d for s, (_, d) in self._keys.items()}

    def nbytes(self) -> int:
        """Bytes the online state holds: the closed scenes, the open scene's state, the threshold
        sample (bounded: independent of how many segments were added)."""
        with self._lock:
            total = sum(s.nbytes() for s in self._scenes) + (self._open.nbytes() if self._open else 0)
            total += self._gram.nbytes + (self._sample.nbytes if self._sample is not None else 0)
            return total + sum(p.nbytes for p, _ in self._keys.values())

    def __len__(self) -> int:
        """Segments added."""
        return self.n


def _unit(x: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(x))
    return (x / n if n > 0 else x).astype(np.float32)


def _level(scenes: list[Scene], dims: dict[str, int]) -> SlotLevel:
    """A scene `SlotLevel` of closed scenes (``children``: their segment ranges); ``dims``: space ->
    dimension."""
    spaces = sorted(dims)
    if not scenes:
        return empty_level({s: np.zeros((0, d), np.float32) for s, d in dims.items()}, SlotConfig())
    counts = [next(iter(s.exemplars.values())).shape[0] if s.exemplars else 0 for s in scenes]
    return SlotLevel(
        np.array([s.t0 for s in scenes], dtype=np.float64), np.array([s.t1 for s in scenes], dtype=np.float64),
        np.array([s.count for s in scenes], dtype=np.int64), np.array([(s.i0, s.i1) for s in scenes], dtype=np.int64),
        {sp: np.stack([s.vectors[sp] for s in scenes]).astype(np.float32) for sp in spaces},
        {sp: np.concatenate([s.exemplars[sp] for s in scenes]).astype(np.float16) for sp in spaces},
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        [dict(s.labels) for s in scenes], [dict(s.first) for s in scenes], [list(s.texts) for s in scenes])
