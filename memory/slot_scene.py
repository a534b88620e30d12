"""The pieces of an online scene (`memory.slot_stream`): a closed scene, and the open one's
fixed-size state (linear-attention state, exemplar candidates, `memory.slot_pool.LabelTally`).

Split from the stream itself so each module stays small; nothing here is used elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from memory.slot_pool import LabelTally

if TYPE_CHECKING:
    from memory.slot_stream import SlotStream

__all__ = ["Candidates", "OpenScene", "Scene"]


@dataclass
class Scene:
    """One closed scene, as a scene slot holds it (plus its summed feature vector, for merging)."""

    i0: int
    i1: int
    t0: float
    t1: float
    count: int
    sum: np.ndarray
    """``[D]`` float32 sum of the members' unit feature vectors (their mean direction, for merging)."""
    vectors: dict[str, np.ndarray]
    exemplars: dict[str, np.ndarray]
    labels: dict[str, float]
    first: dict[str, float]
    texts: list[tuple[str, float]]

    def nbytes(self) -> int:
        return (self.sum.nbytes + sum(v.nbytes for v in self.vectors.values())
                + sum(v.nbytes for v in self.exemplars.values())
                + 16 * (len(self.labels) + len(self.first)) + sum(len(t) + 8 for t, _ in self.texts))


class Candidates:
    """At most ``cap`` unit vectors kept diverse: when full, the one most alike its nearest other
    is dropped (a running k-centre cover; what `memory.slot_pool.exemplars` then picks from)."""

    def __init__(self, cap: int, dim: int):
        self.cap, self.n = cap, 0
        self.rows = np.zeros((cap + 1, dim), dtype=np.float32)
        self.sims = np.full((cap + 1, cap + 1), -np.inf, dtype=np.float32)  # pairwise, -inf on the diagonal

    def add(self, v: np.ndarray) -> None:
        if self.cap == 0:
            return
        n = self.n
        self.rows[n] = v
        s = self.rows[:n] @ v
        self.sims[n, :n] = s
        self.sims[:n, n] = s
        self.sims[n, n] = -np.inf
        if n < self.cap:
            self.n = n + 1
            return
        drop = int(np.argmax(self.sims[: n + 1, : n + 1].max(axis=1)))
        if drop != n:  # move the last row into the dropped one's place
            self.rows[drop] = self.rows[n]
            self.sims[drop, : n + 1] = self.sims[n, : n + 1]
            self.sims[: n + 1, drop] = self.sims[: n + 1, n]
            self.sims[drop, drop] = -np.inf

    def nbytes(self) -> int:
        return self.rows.nbytes + self.sims.nbytes


class OpenScene:
    """The run the newest segments belong to, in fixed-size state."""

    def __init__(self, stream: "SlotStream", i0: int, t0: float):
        self.i0, self.t0, self.t1, self.count = i0, t0, t0, 0
        self.state = {s: torch.zeros(p.shape[1], d, dtype=torch.float32) for s, (p, d) in stream._keys.items()}
        self.z = {s: torch.zeros(p.shape[1], dtype=torch.float32) for s, (p, _) in stream._keys.items()}
        self.sums = {s: np.zeros(d, dtype=np.float64) for s, (_, d) in stream._keys.items()}
        self.cands = {s: Candidates(2 * stream.config.exemplars, d) for s, (_, d) in stream._keys.items()}
        self.tally = LabelTally(stream.config, stream.stream_config.max_tally)

    def nbytes(self) -> int:
        return (sum(int(x.numel()) * 4 for x in (*self.state.values(), *self.z.values()))
                + sum(x.nbytes for x in self.sums.values()) + sum(c.nbytes() for c in self.cands.values())
                + self.tally.nbytes())
