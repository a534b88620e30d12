"""What the scale tests read back from a store (a module of its own: conftest files are not imported)."""
from __future__ import annotations


def segments(store) -> list[tuple]:
    """(source, t0, t1, text, label names, frames) of every segment, by source and time."""
    from memory.store import EpisodicStore

    with EpisodicStore.open(store, read_only=True) as s:
        return sorted((x.source, x.t0, x.t1, x.text, tuple(sorted(x.labels)), x.meta.get("frames")) for x in s.segments())


def label_scores(store) -> list[list[float]]:
    from memory.store import EpisodicStore

    with EpisodicStore.open(store, read_only=True) as s:
        return [[x.labels[k] for k in sorted(x.labels)] for x in sorted(s.segments(), key=lambda x: (x.source, x.t0))]
