"""What a slot holds: attention-pooled vectors, exemplars, label mass and texts (see `memory.slots`)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from memory.slots import SlotConfig, SlotLevel

__all__ = ["LabelTally", "attention_pool", "clean_text", "describe_groups", "describe_segments", "exemplars",
           "fit_exemplars", "pool", "top_labels"]


def attention_pool(members: np.ndarray, weights: np.ndarray | None, config: "SlotConfig") -> np.ndarray:
    """Pool ``[B, L, D]`` unit member vectors into ``[B, D]`` unit vectors.

    The query of each row is its members' (weighted) mean: ``softmax(q·k / temperature)`` over the
    members, through ``accel.attention`` on the configured backend. Nothing is learnt.
    """
    from accel.attention import attention

    w = np.ones(members.shape[:2]) if weights is None else weights
    mean = (members * w[..., None]).sum(axis=1) / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    q = torch.from_numpy(_unit(mean).astype(np.float32))[:, None, None, :]  # (B, 1, 1, D)
    kv = torch.from_numpy(np.ascontiguousarray(members, dtype=np.float32))[:, None]  # (B, 1, L, D)
    with torch.no_grad():
        out = attention(q, kv, kv, backend=config.backend, scale=1.0 / config.temperature)
    return _unit(out[:, 0, 0].numpy())


def exemplars(candidates: np.ndarray, pooled: np.ndarray, e: int) -> np.ndarray:
    """Up to ``e`` rows of ``candidates [M, D]`` in farthest-point order from ``pooled [D]``; fewer
    when the rest are already covered (cosine >= 0.9999 to a chosen point or to ``pooled``)."""
    if e == 0 or candidates.shape[0] == 0:
        return np.zeros((0, pooled.shape[0]), dtype=np.float32)
    chosen = []
    nearest = candidates @ pooled  # similarity to the closest chosen point so far
    for _ in range(e):
        i = int(np.argmin(nearest))
        if nearest[i] >= 1.0 - 1e-4:
            break
        chosen.append(i)
        nearest = np.maximum(nearest, candidates @ candidates[i])
    return candidates[chosen].astype(np.float32)


def pool(bounds: np.ndarray, mats: dict[str, np.ndarray], config: "SlotConfig", *,
         weights: np.ndarray | None = None, extra: tuple[dict[str, np.ndarray], np.ndarray] | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Pooled vectors and exemplars of the slots whose members are the rows ``[start, end)`` of each
    space's matrix. Slots of equal size share one attention call (no padding, no mask).

    Args:
        bounds: ``[n, 2]`` half-open member ranges.
        mats: space -> ``[N, D]`` unit member vectors.
        weights: ``[N]`` member weights (segments a member scene covers) for the query mean.
        extra: The members' own exemplars (space -> ``[M, D]``, ``[N + 1]`` offsets), also
            candidates for the slot's.

    Returns:
        (space -> ``[n, D]`` pooled, space -> ``[K, D]`` float16 exemplars, ``[n + 1]`` offsets).
        Every space gets the exemplar count of the first space (by name), so one offsets array
        serves all.
    """
    sizes = bounds[:, 1] - bounds[:, 0]
    vectors, exs, counts = {}, {}, None
    for space in sorted(mats):
        mat = mats[space]
        d = mat.shape[1]
        pooled = np.zeros((len(bounds), d), dtype=np.float32)
        for size in np.unique(sizes):
            rows = np.flatnonzero(sizes == size)
            idx = bounds[rows, 0][:, None] + np.arange(size)[None, :]  # (B, L)
            w = None if weights is None else np.asarray(weights, dtype=np.float64)[idx]
            pooled[rows] = mat[idx[:, 0]] if size == 1 else attention_pool(mat[idx], w, config)
        rows_out = []
        for i, (s, e) in enumerate(bounds):
            cands = mat[s:e]
            if extra is not None:
                flat, off = extra
                cands = np.concatenate([cands, flat[space][off[s]:off[e]].astype(np.float32)])
            picked = exemplars(cands, pooled[i], config.exemplars)
            if counts is not None:  # the first space fixed the count: pad or cut to it
                picked = fit_exemplars(picked, int(counts[i]), pooled[i])
            rows_out.append(picked)
        if counts is None:
            counts = np.array([r.shape[0] for r in rows_out], dtype=np.int64)
        vectors[space] = pooled
        exs[space] = (np.concatenate(rows_out) if rows_out else np.zeros((0, d))).astype(np.float16)
    offsets = np.concatenate([[0], np.cumsum(counts if counts is not None else [])]).astype(np.int64)
    return vectors, exs, offsets


def fit_exemplars(rows: np.ndarray, k: int, pooled: np.ndarray) -> np.ndarray:
    """``k`` exemplar rows: the first ``k`` of ``rows``, padded with the pooled vector (fixed-size arrays)."""
    if rows.shape[0] >= k:
        return rows[:k]
    return np.concatenate([rows, np.repeat(pooled[None], k - rows.shape[0], axis=0)])


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32)


def top_labels(mass: dict[str, float], k: int) -> dict[str, float]:
    """The ``k`` heaviest labels, as shares of the whole mass."""
    total = sum(mass.values())
    if total <= 0:
        return {}
    best = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return {name: round(v / total, 6) for name, v in best}


def clean_text(text: Any, chars: int) -> str:
    """Text as slots keep it: whitespace collapsed, at most ``chars`` characters."""
    return " ".join(str(text or "").split())[:chars]


class LabelTally:
    """Label mass, first times and texts of a slot's members, added one at a time: a label's first
    time is the first member whose top label it is, failing that the member where it is strongest.

    ``max_tally`` bounds the names kept (beyond it the weaker half is dropped: the online builder's
    open scene); None keeps every name (a batch-built scene)."""

    def __init__(self, config: "SlotConfig", max_tally: int | None = None):
        self.config, self.max_tally = config, max_tally
        self.mass: dict[str, float] = defaultdict(float)
        self.first_top: dict[str, float] = {}
        self.strongest: dict[str, tuple[float, float]] = {}
        self.texts: dict[str, tuple[str, float]] = {}

    def add(self, labels: dict[str, float] | None, text: Any, t: float) -> None:
        lab = {str(k): float(v) for k, v in (labels or {}).items() if np.isfinite(v) and v > 0}
        for name, p in lab.items():
            self.mass[name] += p
            if p > self.strongest.get(name, (-1.0, t))[0]:
                self.strongest[name] = (p, t)
        if lab:
            self.first_top.setdefault(max(lab, key=lambda k: (lab[k], k)), t)
        if self.max_tally is not None and len(self.mass) > self.max_tally:  # bounded: keep the stronger half
            keep = sorted(self.mass, key=lambda k: (-self.mass[k], k))[: self.max_tally // 2]
            self.mass = defaultdict(float, {k: self.mass[k] for k in keep})
            self.strongest = {k: self.strongest[k] for k in keep}
            self.first_top = {k: v for k, v in self.first_top.items() if k in self.mass}
        if len(self.texts) < self.config.max_texts:
            txt = clean_text(text, self.config.text_chars)
            if txt and txt.lower() not in self.texts:
                self.texts[txt.lower()] = (txt, t)

    def describe(self) -> tuple[dict[str, float], dict[str, float], list[tuple[str, float]]]:
        kept = top_labels(dict(self.mass), self.config.max_labels)
        return kept, {n: self.first_top.get(n, self.strongest[n][1]) for n in kept}, list(self.texts.values())

    def nbytes(self) -> int:
        return 48 * len(self.mass) + sum(len(t) + 8 for t, _ in self.texts.values())


def describe_segments(segs: Sequence[Any], bounds: np.ndarray, config: "SlotConfig"
                      ) -> tuple[list[dict[str, float]], list[dict[str, float]], list[list[tuple[str, float]]]]:
    """Label mass, first times and texts of scenes made of segments ``[start, end)`` (`LabelTally`)."""
    labels, firsts, texts = [], [], []
    for s, e in bounds:
        tally = LabelTally(config)
        for seg in segs[s:e]:
            tally.add(seg.labels, seg.text, float(seg.t0))
        kept, first, seen = tally.describe()
        labels.append(kept)
        firsts.append(first)
        texts.append(seen)
    return labels, firsts, texts


def describe_groups(members: "SlotLevel", bounds: np.ndarray, config: "SlotConfig"
                    ) -> tuple[list[dict[str, float]], list[dict[str, float]], list[list[tuple[str, float]]]]:
    """Label mass, first times and texts of chapters made of scenes ``[start, end)``: each scene's
    kept label shares weighted by the segments it covers."""
    labels, firsts, texts = [], [], []
    for s, e in bounds:
        mass: dict[str, float] = defaultdict(float)
        first: dict[str, float] = {}
        out: dict[str, tuple[str, float]] = {}
        for i in range(s, e):
            for name, share in members.labels[i].items():
                mass[name] += share * float(members.count[i])
                first[name] = min(first.get(name, np.inf), members.first[i][name])
            for txt, t in members.texts[i]:
                if txt.lower() not in out and len(out) < config.max_texts:
                    out[txt.lower()] = (txt, t)
        kept = top_labels(mass, config.max_labels)
        labels.append(kept)
        firsts.append({n: first[n] for n in kept})
        texts.append(list(out.values()))
    return labels, firsts, texts
