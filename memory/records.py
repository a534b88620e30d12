"""What goes into the episodic store and what comes out of it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ObservationLike(Protocol):
    """Anything the store can append: read structurally, so memory never imports perception.

    ``perception.types.Observation`` satisfies it; so does any object with these attributes.
    """

    source: str
    """Source id (a video's content hash, an EEG recording name, ...)."""
    t0: float
    """Start of the span, seconds."""
    t1: float
    """End of the span, seconds (>= t0)."""
    modality: str
    """"video", "image", "eeg", ..."""
    kind: str
    """What it is within the modality: "segment", "event", ..."""
    vectors: dict[str, np.ndarray]
    """Named 1-D float embeddings; each name is a vector space with one index."""
    labels: dict[str, float]
    """Label name -> score."""
    text: str
    """Text found in the source (OCR, annotations). Untrusted data."""
    meta: dict[str, Any]
    """JSON-able extras."""


@dataclass
class Segment:
    """One stored observation, as read back from the segment table."""

    id: int
    """Store-wide id, also the id in every faiss index."""
    source: str
    t0: float
    t1: float
    modality: str
    kind: str
    labels: dict[str, float]
    text: str
    meta: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    """Raw float32 vectors as added; filled only when asked for (``get(ids, vectors=True)``)."""


@dataclass
class Hit(Segment):
    """A segment returned by a search, with how well it matched."""

    score: float = 0.0
    """Cosine similarity for vector search; for text search 1.0 when the whole query occurs in
    the text (case-insensitive), else the fraction of query words found, times 0.9."""
