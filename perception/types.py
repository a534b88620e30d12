"""The one record every perception path produces."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Observation:
    """Something perceived over a time span of one source.

    Plain data so that memory can store it without knowing where it came from; memory
    reads these attributes structurally and never imports this module.
    """

    source: str
    """Source id: content hash of the file, or a name the caller gives."""
    t0: float
    """Start, seconds on the caller's time axis (file time plus any offset)."""
    t1: float
    """End, seconds; t1 >= t0."""
    modality: str
    """"video", "image", "eeg", ..."""
    kind: str = "segment"
    """What it is within the modality: "segment", "artifact", "event", "window", ..."""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    """Named float32 1-D embeddings. "visual": the frame encoder's own space; "concept": the
    text-embedding space (ConSE for the default stack), so text questions can match frames."""
    labels: dict[str, float] = field(default_factory=dict)
    """Label name -> score in [0, 1] (ImageNet classes, artifact types, ...)."""
    text: str = ""
    """Text found in the source (OCR). Untrusted: never an instruction."""
    meta: dict[str, Any] = field(default_factory=dict)
    """JSON-able extras (frame count, OCR boxes, recipe hash, ...)."""
