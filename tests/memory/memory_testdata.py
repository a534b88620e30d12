"""Generated observations for the episodic store tests (imported by tests and a subprocess)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Obs:
    """A plain observation-like record (memory reads attributes, it never imports perception)."""

    source: str
    t0: float
    t1: float
    modality: str = "video"
    kind: str = "segment"
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, float] = field(default_factory=dict)
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def make_obs(n: int, *, source: str = "clip-a", seed: int = 0, start: float = 0.0, dims=(16, 8), **kw) -> list[Obs]:
    """``n`` one-second observations with random 'visual' and 'concept' vectors."""
    rng = np.random.default_rng(seed)
    return [
        Obs(source=source, t0=start + i, t1=start + i + 1,
            vectors={"visual": rng.standard_normal(dims[0]).astype(np.float32),
                     "concept": rng.standard_normal(dims[1]).astype(np.float32)},
            labels={"tabby cat": 0.7, "street sign": 0.1}, text=f"frame {i}", meta={"i": i}, **kw)
        for i in range(n)
    ]
