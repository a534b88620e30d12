"""Coarse-to-fine recall over latent slots: rank chapters, then their scenes, then read only the
segments of the best scenes.

A long store need not be scanned: with at most 32 chapters and 512 scenes per source, ranking
costs a few hundred dot products, and only the segments inside the chosen scenes are read.
A slot's score for a query is the best cosine over its pooled vector and its exemplars, so a
short sighting inside a long slot (which hardly moves the slot's mean) still ranks it.

Example:
    ```python
    with EpisodicStore.open("store/", read_only=True) as store:
        found = coarse_to_fine(store, "clip-sha", "concept", query_vector)
        found.hits[0].t0, found.read, found.total     # best segment, segments read, of how many
    ```
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memory.slots import SlotConfig, SlotLevel, SlotMemory

__all__ = ["Candidate", "CoarseToFine", "coarse_to_fine", "locate", "slot_scores"]


@dataclass(frozen=True)
class Candidate:
    """A time range worth reading: one scene, ranked by its score for the query."""

    t0: float
    t1: float
    score: float
    """Best cosine of the query with the scene's pooled vector or exemplars."""
    scene: int
    chapter: int
    count: int
    """Segments the scene covers (what reading it costs)."""


@dataclass
class CoarseToFine:
    """What `coarse_to_fine` found and what it cost."""

    hits: list[Any]
    """`memory.records.Hit` of the segments read, best first (``score``: cosine with the query)."""
    candidates: list[Candidate]
    read: int
    """Segments read."""
    total: int
    """Segments of the source (a full scan reads them all)."""
    stats: dict[str, float] = field(default_factory=dict)


def slot_scores(level: SlotLevel, space: str, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Each slot's best cosine with ``query`` over its pooled vector and exemplars (``rows``: only those)."""
    if space not in level.vectors:
        raise ValueError(f"space {space!r} has no slots; pooled spaces are {sorted(level.vectors)}")
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    dim = level.vectors[space].shape[1]
    if q.shape[0] != dim or not np.all(np.isfinite(q)) or not np.any(q):
        raise ValueError(f"query must be a finite, non-zero vector of dim {dim} for space {space!r}, got shape {q.shape}")
    q = q / np.linalg.norm(q)
    best = level.vectors[space] @ q
    flat, off = level.exemplars32(space), level.ex_offsets
    if flat.shape[0]:
        sims = flat @ q
        has = off[1:] > off[:-1]
        starts = off[:-1][has]
        best[has] = np.maximum(best[has], np.maximum.reduceat(sims, starts))
    return best if rows is None else best[rows]


def locate(slots: SlotMemory, space: str, query: np.ndarray, *, chapters: int | None = None,
           scenes: int = 6) -> list[Candidate]:
    """Rank chapters, then the scenes of the best ``chapters``; the best ``scenes`` of those, best first.

    Args:
        slots: A source's slots (`memory.slot_files.load_slots` or `memory.slots.build_slots`).
        space: Vector space of ``query``.
        query: 1-D query vector.
        chapters: Chapters to open, ranked by their own pooled vectors and exemplars; None opens
            every chapter, so every scene is ranked (cheap: scenes are bounded, at most 512 by
            default, and no segment is read to rank them). A chapter's few vectors summarise many
            scenes, so opening only the best chapters can miss (docs/benchmarks.md measures both).
        scenes: Scenes to return.

    Raises:
        ValueError: ``space`` is not pooled, or ``query`` has the wrong shape or is zero.
    """
    for name, value in (("chapters", chapters), ("scenes", scenes)):
        if value is None and name == "chapters":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not len(slots.chapters):
        return []
    ch_score = slot_scores(slots.chapters, space, query)
    open_ch = np.argsort(-ch_score, kind="stable")[:chapters or len(ch_score)]
    rows = np.concatenate([np.arange(*slots.chapters.children[c]) for c in open_ch])
    owner = np.concatenate([np.full(int(np.subtract(*slots.chapters.children[c][::-1])), c) for c in open_ch])
    sc_score = slot_scores(slots.scenes, space, query, rows)
    order = np.argsort(-sc_score, kind="stable")[:scenes]
    sc = slots.scenes
    return [Candidate(float(sc.t0[rows[i]]), float(sc.t1[rows[i]]), float(sc_score[i]), int(rows[i]),
                      int(owner[i]), int(sc.count[rows[i]])) for i in order]


def coarse_to_fine(store: Any, source: str, space: str, query: np.ndarray, *, slots: SlotMemory | None = None,
                   config: SlotConfig = SlotConfig(), chapters: int | None = None, scenes: int = 6,
                   k: int = 10) -> CoarseToFine:
    """The best segments for ``query`` in ``source``, reading only the scenes `locate` picks.

    Args:
        store: An open `memory.store.EpisodicStore`.
        source: Source id.
        space: Vector space of ``query`` ("concept" for a phrase's text embedding).
        query: 1-D query vector.
        slots: The source's slots; None loads them (`memory.slot_files.load_slots`, built and
            cached beside the store when missing or stale).
        config: Slot config used when loading.
        chapters, scenes: How many chapters to open (None: all) and scenes to read (`locate`).
        k: Hits returned.

    Returns:
        The hits, the candidates read, and segments read against the source's total.
    """
    from memory.records import Hit
    from memory.slot_files import load_slots

    slots = slots if slots is not None else load_slots(store, source, config)
    cands = locate(slots, space, query, chapters=chapters, scenes=scenes)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    q = q / np.linalg.norm(q)
    ids: list[int] = []
    for c in cands:
        ids.extend(s.id for s in store.segments(source, c.t0, c.t1) 
                   if c.t0 <= s.t0 and (s.t0 < c.t1 or s.t0 == c.t0))
    ids = list(dict.fromkeys(ids))
    hits = []
    for seg in store.get(ids, vectors=True):
        v = seg.vectors.get(space)
        if v is not None and np.any(v):
            score = float(v @ q / np.linalg.norm(v))
            hits.append(Hit(**{k_: getattr(seg, k_) for k_ in Hit.__dataclass_fields__ if k_ != "score"}, score=score))
    hits.sort(key=lambda h: (-h.score, h.t0))
    return CoarseToFine(hits[:k], cands, read=len(ids), total=slots.n_segments,
                        stats={"chapters": float(len(slots.chapters)), "scenes": float(len(slots.scenes))})
