"""The frame-encoder contract every image backend satisfies (MobileNet+ConSE, CLIP, SigLIP).

A controller matches a text question against frames through ``embed_text`` without knowing
which encoder made the frame vectors: frames' ``concept`` vectors and ``embed_text`` outputs
live in the same space (the text embedder's for ConSE, the joint space for CLIP/SigLIP).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["FrameEncoder", "FrameFeatures", "TextEmbedder"]


class TextEmbedder(Protocol):
    """``embed_texts(list[str]) -> (N, d) float32``, rows L2-normalised."""

    def __call__(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class FrameFeatures:
    """Per-frame outputs of :meth:`FrameEncoder.encode` for a batch of B frames."""

    visual: np.ndarray
    """(B, dim) float32, L2-normalised: the encoder's own image space (frame similarity)."""
    concept: np.ndarray
    """(B, concept_dim) float32, L2-normalised: comparable with ``embed_text`` output."""
    labels: list[dict[str, float]] = field(default_factory=list)
    """Per frame, label name -> probability (top-k); empty dicts when the encoder has none."""

    def __len__(self) -> int:
        return int(self.visual.shape[0])


@runtime_checkable
class FrameEncoder(Protocol):
    """What perception.video needs from an image model."""

    dim: int
    """Size of the ``visual`` vectors."""
    concept_dim: int
    """Size of the ``concept`` vectors and of ``embed_text`` rows."""

    def encode(self, images: Sequence[np.ndarray]) -> FrameFeatures:
        """RGB uint8 (H, W, 3) images of any size -> features (one row per image)."""
        ...

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """(N, concept_dim) float32 L2-normalised, in the ``concept`` space."""
        ...
