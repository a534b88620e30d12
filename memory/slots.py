"""Latent slot memory: a source's segments consolidated into a bounded hierarchy of slots.

segments -> scenes -> chapters. A *scene* is a contiguous run of similar segments; a *chapter*
a contiguous group of scenes. Each slot holds

* its time span and how many segments it covers;
* a pooled vector per vector space: attention over its members (``accel.attention``) with the
  members' mean as the query, so members near the run's centre weigh most and a stray frame
  little (nothing is learnt: the query is the slot's own mean);
* a few *exemplars* per space: the members farthest from the pooled vector (farthest-point
  order). A short sighting inside a long scene barely moves its mean; its exemplar keeps it
  findable by :func:`memory.slot_recall.locate`;
* its label mass: the members' label probabilities summed and normalised (the top ``max_labels``),
  with the time each label is first the top label of a member (or, failing that, is strongest);
* the distinct texts seen (untrusted data, kept as read), each with its first time.

Bounded: at most ``max_scenes`` scenes and ``max_chapters`` chapters per source, whatever its
length; beyond that the most similar *neighbouring* slots merge (slots stay contiguous in time).
So the bytes a source's slots take are bounded (`SlotMemory.nbytes`), and bytes per hour fall as
the source grows. The store stays the source of truth: slots rebuild from it deterministically
(`memory.slot_files.load_slots`).
"""
from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["LEVELS", "SlotConfig", "SlotLevel", "SlotMemory", "build_slots", "chapter_level", "group_level",
           "merge_neighbours", "threshold_from"]

logger = logging.getLogger(__name__)

LEVELS = ("scene", "chapter")
"""Slot levels, finest first."""

THRESHOLD_SAMPLE = 256
"""Segments (evenly strided) whose pairwise cosines give a source's background similarity."""


@dataclass(frozen=True)
class SlotConfig:
    """How segments consolidate into slots.

    Args:
        space: The vector space scene boundaries are found in; when a source lacks it, the first
            space it has (by name). Every space the segments share is pooled.
        scene_similarity: Adjacent segments (and neighbouring runs) whose cosine is below this are
            in different scenes; None: derived from the source (see ``scene_margin``).
        scene_margin: With ``scene_similarity`` None, the threshold is the source's background
            similarity (median cosine of its segment pairs) raised by this share of the way to 1,
            within [0.05, 0.95].
        max_gap: Seconds without segments that always end a scene.
        max_run: Segments one scene may hold before it is cut (neighbours merge back if similar);
            bounds the attention inside one slot.
        max_scenes: Scenes per source, at most.
        max_chapters: Chapters per source, at most; the target is about sqrt(scenes).
        exemplars: Exemplar vectors per slot and space (what keeps a short sighting inside a
            long slot findable; with 8, coarse-to-fine found as good a best segment as a full scan
            for 20 of 20 needles on a simulated 10 h store, with 3 for 11: docs/benchmarks.md).
        max_labels: Label names kept per slot (largest mass first).
        max_texts: Distinct texts kept per slot (first seen first).
        text_chars: Characters kept per text.
        temperature: Softmax temperature of the pooling attention, in cosine units.
        backend: ``accel.attention`` backend of the pooling ("sdpa" exact; "linear" for very long
            runs; "block_sparse" on a GPU).
        scene_balance, chapter_balance: Weight of group size when merging to meet the bound (see
            `merge_neighbours`): scenes mostly by similarity, chapters toward equal lengths.
    """

    space: str = "visual"
    scene_similarity: float | None = None
    scene_margin: float = 0.5
    max_gap: float = 10.0
    max_run: int = 512
    max_scenes: int = 512
    max_chapters: int = 32
    exemplars: int = 8
    max_labels: int = 16
    max_texts: int = 8
    text_chars: int = 200
    temperature: float = 0.1
    backend: str = "sdpa"
    scene_balance: float = 0.5
    chapter_balance: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_run", "max_scenes", "max_chapters", "max_labels", "max_texts", "text_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if isinstance(self.exemplars, bool) or not isinstance(self.exemplars, int) or self.exemplars < 0:
            raise ValueError(f"exemplars must be an int >= 0, got {self.exemplars!r}")
        if self.scene_similarity is not None and not -1.0 <= self.scene_similarity <= 1.0:
            raise ValueError(f"scene_similarity must be in [-1, 1] or None, got {self.scene_similarity!r}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if not 0.0 <= self.scene_margin < 1.0:
            raise ValueError(f"scene_margin must be in [0, 1), got {self.scene_margin!r}")
        if not self.max_gap > 0:
            raise ValueError(f"max_gap must be > 0 seconds, got {self.max_gap!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SlotLevel:
    """One level of slots, column-wise (row ``i`` is slot ``i``, in time order)."""

    t0: np.ndarray
    """``[n]`` float64 start times, seconds."""
    t1: np.ndarray
    """``[n]`` float64 end times."""
    count: np.ndarray
    """``[n]`` int64 segments covered."""
    children: np.ndarray
    """``[n, 2]`` int64 half-open member range: segment indices (scenes, in time order) or scene
    indices (chapters)."""
    vectors: dict[str, np.ndarray]
    """space -> ``[n, D]`` float32 unit pooled vectors."""
    exemplars: dict[str, np.ndarray]
    """space -> ``[M, D]`` float16 unit exemplars of every slot, slot ``i``'s in rows
    ``ex_offsets[i]:ex_offsets[i + 1]`` (float16: half the bytes; ranking needs no more)."""
    ex_offsets: np.ndarray
    """``[n + 1]`` int64: where each slot's exemplars start (at most ``exemplars`` per slot; none
    for a slot whose members are all alike, e.g. one segment)."""
    labels: list[dict[str, float]]
    """Per slot: label -> share of the slot's label mass (sums to <= 1; the top ``max_labels``)."""
    first: list[dict[str, float]]
    """Per slot: label -> first time it is seen in the slot (same keys as ``labels``)."""
    texts: list[list[tuple[str, float]]]
    """Per slot: (text, first time) of distinct texts, first seen first."""
    _ex32: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def exemplars32(self, space: str) -> np.ndarray:
        """``exemplars[space]`` as float32, converted once (a float16 matrix product is slow)."""
        if space not in self._ex32:
            self._ex32[space] = self.exemplars[space].astype(np.float32)
        return self._ex32[space]

    def __len__(self) -> int:
        return int(self.t0.shape[0])

    def slot(self, i: int) -> dict[str, Any]:
        """Slot ``i`` as plain data (no vectors): span, count, members, labels, first times, texts."""
        return {"t0": float(self.t0[i]), "t1": float(self.t1[i]), "count": int(self.count[i]),
                "children": (int(self.children[i, 0]), int(self.children[i, 1])),
                "labels": dict(self.labels[i]), "first": dict(self.first[i]), "texts": list(self.texts[i])}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the level, by name (for saving)."""
        out = {"t0": self.t0, "t1": self.t1, "count": self.count, "children": self.children,
               "ex_offsets": self.ex_offsets}
        out.update({f"vec.{s}": v for s, v in self.vectors.items()})
        out.update({f"ex.{s}": v for s, v in self.exemplars.items()})
        return out


@dataclass
class SlotMemory:
    """A source's slots: scenes and chapters, with what built them."""

    source: str
    config: SlotConfig
    scenes: SlotLevel
    chapters: SlotLevel
    n_segments: int
    spaces: tuple[str, ...]
    threshold: float
    """The scene similarity threshold used (given or derived)."""
    fingerprint: str = ""
    """What the slots were built from (`memory.slot_files.fingerprint`); empty when built from a list."""
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def span(self) -> tuple[float, float]:
        if not len(self.scenes):
            return 0.0, 0.0
        return float(self.scenes.t0.min()), float(self.scenes.t1.max())

    def level(self, name: str) -> SlotLevel:
        if name not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {name!r}")
        return self.scenes if name == "scene" else self.chapters

    def nbytes(self) -> int:
        """Bytes the slots take as saved: every array plus the JSON of labels and texts."""
        import json

        total = 0
        for lvl in (self.scenes, self.chapters):
            total += sum(a.nbytes for a in lvl.arrays().values())
            total += len(json.dumps([lvl.labels, lvl.first, lvl.texts]).encode("utf-8"))
        return total

    def bytes_per_hour(self) -> float:
        """`nbytes` over the source's covered hours."""
        t0, t1 = self.span
        return self.nbytes() / max((t1 - t0) / 3600.0, 1e-9)


# ---- building ---------------------------------------------------------------------------------------

def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _shared_spaces(segments: Sequence[Any]) -> tuple[str, ...]:
    """Spaces every segment has a finite vector in, with one dimension each."""
    if not segments:
        return ()
    common = set(getattr(segments[0], "vectors", {}) or {})
    for seg in segments[1:]:
        common &= set(getattr(seg, "vectors", {}) or {})
    return tuple(sorted(common))


def _matrix(segments: Sequence[Any], space: str) -> np.ndarray:
    rows = [np.asarray(seg.vectors[space], dtype=np.float32).reshape(-1) for seg in segments]
    dims = {r.shape[0] for r in rows}
    if len(dims) != 1:
        raise ValueError(f"space {space!r}: segments disagree on the dimension ({sorted(dims)})")
    m = np.stack(rows)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"space {space!r}: some segment vectors are not finite")
    return _unit_rows(m)


def _threshold(feature: np.ndarray | None, config: SlotConfig) -> float:
    """``scene_similarity``, or the source's background similarity ``b`` (median cosine of pairs
    of an evenly strided sample of its segments) raised by ``scene_margin`` of the way to 1.

    Relative to the background, not to adjacent pairs: an indexer that skips unchanged frames keeps
    mostly segments that differ from their neighbour, so adjacent similarity alone says little.
    """
    if config.scene_similarity is not None:
        return float(config.scene_similarity)
    if feature is None or feature.shape[0] < 3:
        return 0.5
    n = feature.shape[0]
    sample = feature[np.linspace(0, n - 1, min(n, THRESHOLD_SAMPLE)).astype(np.int64)]
    sims = sample @ sample.T
    return threshold_from(float(np.median(sims[np.triu_indices(sample.shape[0], 1)])), config)


def threshold_from(background: float, config: SlotConfig) -> float:
    """The scene threshold for a source whose background similarity (median cosine of its segment
    pairs) is ``background``: raised by ``scene_margin`` of the way to 1, within [0.05, 0.95]."""
    return float(np.clip(background + config.scene_margin * (1.0 - background), 0.05, 0.95))


def _initial_runs(t0: np.ndarray, t1: np.ndarray, feature: np.ndarray | None, top: list[str],
                  tau: float, config: SlotConfig) -> np.ndarray:
    """Start indices of the first cut into runs: a drop in adjacent similarity (or a change of top
    label, without vectors), a gap in time, or a run at ``max_run``."""
    n = t0.shape[0]
    cut = np.zeros(n, dtype=bool)
    cut[0] = True
    if n > 1:
        cut[1:] |= (t0[1:] - t1[:-1]) > config.max_gap
        if feature is not None:
            cut[1:] |= np.einsum("ij,ij->i", feature[1:], feature[:-1]) < tau
        else:
            cut[1:] |= np.array([a != b for a, b in zip(top[1:], top[:-1])])
    starts = np.flatnonzero(cut)
    out = []
    for s, e in zip(starts, [*starts[1:], n]):
        out.extend(range(int(s), int(e), config.max_run))
    return np.asarray(out, dtype=np.int64)


def merge_neighbours(sums: np.ndarray, counts: np.ndarray, gaps: np.ndarray, *, keep: int, tau: float,
                     max_count: int | None = None, balance: float = 0.0,
                     fixed: np.ndarray | None = None) -> np.ndarray:
    """Agglomerate neighbouring groups in two passes.

    1. Similarity: merge the most similar adjacent pair (cosine of their means) while it is at
       least ``tau`` and the merged group holds at most ``max_count`` members.
    2. Bound: while more than ``keep`` groups remain, merge the adjacent pair with the highest
       ``cosine - balance * merged members / (members / keep)``. The size term keeps groups of
       comparable length: a large group's mean drifts toward the source's mean and would
       otherwise look similar to everything and swallow it.

    Groups never merge across a ``gaps`` break unless the bound needs it (it costs 2 in cosine).

    Args:
        sums: ``[R, D]`` summed member vectors per group, in time order.
        counts: ``[R]`` members per group.
        gaps: ``[R - 1]`` True between groups ``i`` and ``i + 1`` when time has a gap there.
        keep: Groups at most, at the end.
        tau: Similarity at or above which neighbours merge anyway.
        max_count: Members a group merged for similarity alone may hold (None: no limit).
        balance: Weight of the size term of the bound pass.
        fixed: ``[R]`` True for groups the similarity pass leaves alone (only the bound pass may
            merge them): mixtures an earlier bound pass made, whose means have drifted toward the
            source's mean (`memory.slot_stream` merges its scenes again and again).

    Returns:
        ``[G]`` start indices (into the R groups) of the merged groups, ascending.
    """
    r = sums.shape[0]
    if r <= 1:
        return np.zeros(min(r, 1), dtype=np.int64)
    state = _Groups(sums, counts, gaps)
    pinned = np.zeros(r, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    state.run(lambda a, b: state.cosine(a, b), stop=lambda s, a, b: s < tau,
              skip=lambda a, b: (max_count is not None and state.counts[a] + state.counts[b] > max_count)
              or bool(pinned[a] or pinned[b]))
    if state.groups > keep:
        unit = max(float(state.counts.sum()) / keep, 1.0)
        state.run(lambda a, b: state.cosine(a, b) - balance * (state.counts[a] + state.counts[b]) / unit,
                  stop=lambda s, a, b: state.groups <= keep, skip=lambda a, b: False)
    return np.asarray([i for i in range(r) if state.alive[i]], dtype=np.int64)


class _Groups:
    """Groups in a doubly linked list, merged pairwise from a heap with lazy invalidation."""

    def __init__(self, sums: np.ndarray, counts: np.ndarray, gaps: np.ndarray):
        r = sums.shape[0]
        self.sums = np.array(sums, dtype=np.float64)
        self.norms = np.linalg.norm(self.sums, axis=1)
        self.counts = counts.astype(np.int64).copy()
        self.nxt, self.prv = list(range(1, r + 1)), list(range(-1, r - 1))
        self.alive, self.version, self.r, self.groups = [True] * r, [0] * r, r, r
        self.breaks = set(np.flatnonzero(gaps).tolist())

    def cosine(self, a: int, b: int) -> float:
        na, nb = self.norms[a], self.norms[b]
        s = float(self.sums[a] @ self.sums[b] / (na * nb)) if na > 0 and nb > 0 else 0.0
        return s - (2.0 if (b - 1) in self.breaks else 0.0)  # b - 1: the last member before b

    def run(self, priority, *, stop, skip) -> None:
        heap, i = [], 0
        while i < self.r and self.nxt[i] < self.r:
            heap.append((-priority(i, self.nxt[i]), i, self.nxt[i], self.version[i], self.version[self.nxt[i]]))
            i = self.nxt[i]
        heapq.heapify(heap)
        while heap:
            neg, a, b, va, vb = heapq.heappop(heap)
            if not (self.alive[a] and self.alive[b]) or (self.version[a], self.version[b]) != (va, vb):
                continue
            if stop(-neg, a, b):
                return
            if skip(a, b):
                continue
            self._merge(a, b)
            for x, y in ((self.prv[a], a), (a, self.nxt[a])):
                if x >= 0 and y < self.r:
                    heapq.heappush(heap, (-priority(x, y), x, y, self.version[x], self.version[y]))

    def _merge(self, a: int, b: int) -> None:
        self.sums[a] += self.sums[b]
        self.norms[a] = float(np.sqrt(self.sums[a] @ self.sums[a]))
        self.counts[a] += self.counts[b]
        self.alive[b] = False
        self.version[a] += 1
        self.nxt[a] = self.nxt[b]
        if self.nxt[a] < self.r:
            self.prv[self.nxt[a]] = a
        self.groups -= 1


def build_slots(segments: Sequence[Any], config: SlotConfig = SlotConfig(), *, source: str = "") -> SlotMemory:
    """Consolidate one source's segments into scenes and chapters.

    Args:
        segments: Objects with ``t0``, ``t1``, ``vectors`` (space -> 1-D array), ``labels``
            (name -> probability) and ``text``, e.g. `memory.records.Segment` read with vectors.
            Sorted here by time; spaces not every segment has are left out.
        config: Bounds and thresholds.
        source: The source id, kept on the result.

    Returns:
        The slots; the same segments and config always give the same slots.
    """
    from memory.slot_pool import describe_segments, pool

    segs = sorted(segments, key=lambda s: (float(s.t0), float(s.t1), int(getattr(s, "id", 0) or 0)))
    n = len(segs)
    spaces = _shared_spaces(segs)
    mats = {s: _matrix(segs, s) for s in spaces}
    feature_space = config.space if config.space in mats else (spaces[0] if spaces else None)
    feature = mats.get(feature_space) if feature_space else None
    t0 = np.array([float(s.t0) for s in segs], dtype=np.float64)
    t1 = np.array([float(s.t1) for s in segs], dtype=np.float64)
    top = [max(s.labels, key=s.labels.get) if s.labels else "" for s in segs]
    tau = _threshold(feature, config)
    if n == 0:
        empty = empty_level(mats, config)
        return SlotMemory(source, config, empty, empty_level(mats, config), 0, spaces, tau)
    runs = _initial_runs(t0, t1, feature, top, tau, config)
    scene_starts = runs[_consolidate(runs, n, t0, t1, feature, top, config, tau, config.max_scenes,
                                     max_count=config.max_run, balance=config.scene_balance)]
    scene_bounds = np.stack([scene_starts, np.append(scene_starts[1:], n)], axis=1)
    vectors, exemplars, offsets = pool(scene_bounds, mats, config)
    scenes = SlotLevel(t0[scene_bounds[:, 0]], np.maximum.reduceat(t1, scene_bounds[:, 0]),
                       (scene_bounds[:, 1] - scene_bounds[:, 0]).astype(np.int64), scene_bounds, vectors, exemplars,
                       offsets, *describe_segments(segs, scene_bounds, config))
    return SlotMemory(source, config, scenes, chapter_level(scenes, feature_space, config), n, spaces, tau)


def chapter_level(scenes: SlotLevel, feature_space: str | None, config: SlotConfig) -> SlotLevel:
    """Chapters over ``scenes``: about sqrt(scenes) groups of neighbouring scenes (at most
    ``max_chapters``), toward equal lengths (see `merge_neighbours`)."""
    n_scenes = len(scenes)
    if n_scenes == 0:
        return empty_level(scenes.vectors, config)
    target = min(config.max_chapters, max(1, int(round(math.sqrt(n_scenes)))))
    chapter_starts = _consolidate(np.arange(n_scenes), n_scenes, scenes.t0, scenes.t1,
                                  scenes.vectors.get(feature_space) if feature_space else None,
                                  [max(d, key=d.get) if d else "" for d in scenes.labels], config, 1.01, target,
                                  weights=scenes.count, balance=config.chapter_balance)
    return group_level(scenes, chapter_starts, config)


def group_level(members: SlotLevel, starts: np.ndarray, config: SlotConfig) -> SlotLevel:
    """The level whose slot ``i`` groups ``members`` rows ``starts[i]:starts[i + 1]`` (the last to
    the end): spans and counts summed, vectors pooled over the members' pooled vectors weighted by
    the segments each covers (their exemplars are candidates too), label mass weighted the same.
    ``children`` are the member ranges."""
    from memory.slot_pool import describe_groups, pool

    starts = np.asarray(starts, dtype=np.int64)
    bounds = np.stack([starts, np.append(starts[1:], len(members))], axis=1)
    vectors, exemplars, offsets = pool(bounds, members.vectors, config, weights=members.count,
                                       extra=(members.exemplars, members.ex_offsets))
    return SlotLevel(members.t0[starts], np.maximum.reduceat(members.t1, starts),
                     np.add.reduceat(members.count, starts).astype(np.int64), bounds,
                     vectors, exemplars, offsets, *describe_groups(members, bounds, config))


def _consolidate(starts: np.ndarray, n: int, t0: np.ndarray, t1: np.ndarray, feature: np.ndarray | None,
                 top: list[str], config: SlotConfig, tau: float, keep: int, *, max_count: int | None = None,
                 weights: np.ndarray | None = None, balance: float = 0.0) -> np.ndarray:
    """Indices into ``starts`` of the groups left after merging neighbours (see `merge_neighbours`)."""
    ends = np.append(starts[1:], n)
    if feature is None:  # no vectors: one-hot of the top label stands in
        names = {name: i for i, name in enumerate(sorted(set(top)))}
        feature = np.zeros((n, max(1, len(names))), dtype=np.float32)
        feature[np.arange(n), [names[t] for t in top]] = 1.0
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    weighted = feature if weights is None else feature * w[:, None].astype(feature.dtype)
    sums = np.add.reduceat(weighted, starts, axis=0, dtype=np.float64)
    counts = np.add.reduceat(w, starts).astype(np.int64)
    gaps = (t0[starts[1:]] - t1[ends[:-1] - 1]) > config.max_gap
    return merge_neighbours(sums, counts, gaps, keep=keep, tau=tau, max_count=max_count, balance=balance)


def empty_level(mats: dict[str, np.ndarray], config: SlotConfig) -> SlotLevel:
    return SlotLevel(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64),
                     {s: np.zeros((0, m.shape[1]), np.float32) for s, m in mats.items()},
                     {s: np.zeros((0, m.shape[1]), np.float16) for s, m in mats.items()},
                     np.zeros(1, dtype=np.int64), [], [], [])
