"""Frame encoder over a CLIP or SigLIP image-text model loaded through transformers.

Image and text embeddings share one joint space, so a question's text matches frames natively
(no ConSE detour): ``concept`` vectors *are* the image embeddings, and ``embed_text`` embeds
text with the model's own text tower. ``visual`` holds the same image embeddings (one space
serves frame-to-frame similarity too).

Satisfies :class:`perception.image.encoder.FrameEncoder`. No CLIP/SigLIP weights ship on PyPI:
point it at a local folder saved with ``save_pretrained`` (model + image processor + tokenizer)
or at a Hugging Face name already in the local cache.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from perception.image.encoder import FrameFeatures

__all__ = ["HFClipFrameEncoder", "SUPPORTED_MODEL_TYPES", "TokenMergeError"]

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("clip", "siglip", "siglip2")
"""transformers ``model_type`` values this encoder loads."""


class TokenMergeError(ValueError):
    """``merge_r`` cannot apply: a bad value, or a vision tower token merging does not support.

    A class of its own so that loaders can tell it from "this folder is not a CLIP model"."""


class HFClipFrameEncoder:
    """CLIP/SigLIP frames -> joint-space vectors, optional zero-shot labels.

    Args:
        model: A transformers ``CLIPModel``/``SiglipModel`` (anything with
            ``get_image_features`` and ``get_text_features``).
        image_processor: Its image processor (resizing and normalisation).
        tokenizer: Its tokenizer.
        labels: Optional label names; when given, each frame reports its ``top_k`` labels
            scored by the model's zero-shot head over prompts ``prompt.format(label)``.
        prompt: Template for label prompts.
        top_k: Labels reported per frame.
        batch_size: Frames per forward pass.
        name: Where the model came from (for messages).
        merge_r: Tokens merged away in each vision layer (ToMe, :func:`accel.tokens.patch` on
            the vision tower only; the text tower stays exact). 0 (default) leaves the model
            untouched. Faster frames at an accuracy cost not yet measured on real weights.

    Raises:
        TokenMergeError: ``merge_r`` is negative, larger than the vision tower's tokens allow,
            or the tower is not one token merging supports (CLIP, SigLIP).
    """

    def __init__(self, model, image_processor, tokenizer, *, labels: Sequence[str] | None = None,
                 prompt: str = "a photo of a {}.", top_k: int = 5, batch_size: int = 16, name: str = "",
                 merge_r: int = 0):
        for arg, v in (("top_k", top_k), ("batch_size", batch_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{arg} must be a positive integer, got {v!r}")
        if "{}" not in prompt:
            raise ValueError(f"prompt must contain '{{}}' for the label, got {prompt!r}")
        self.model = model.eval()
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.name = name
        self.model_type = getattr(model.config, "model_type", "")
        self.top_k, self.batch_size = top_k, batch_size
        self.merge_r = _merge_tokens(model, merge_r, name or self.model_type)
        self.dim = self.concept_dim = int(self._project_text(["a"]).shape[1])
        self.labels = tuple(labels) if labels is not None else ()
        self.label_vectors = self.embed_text([prompt.format(lab) for lab in self.labels]) if self.labels else None

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, local_files_only: bool = False,
                        **kwargs) -> HFClipFrameEncoder:
        """Load model, image processor and tokenizer from one folder or hub name.

        Args:
            name_or_path: Folder saved with ``save_pretrained`` or a Hugging Face name.
            local_files_only: Never reach the hub (the registry always sets it).
            **kwargs: Passed to the constructor (``labels``, ``top_k``, ``merge_r``, ...).

        Raises:
            ValueError: The model is not a CLIP/SigLIP-style image-text model.
            OSError: Files are missing (transformers' own error).
        """
        from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

        source = str(name_or_path)
        hub = {"local_files_only": local_files_only}
        config = AutoConfig.from_pretrained(source, **hub)
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"{source}: model_type {config.model_type!r} is not an image-text model "
                             f"({', '.join(SUPPORTED_MODEL_TYPES)})")
        model = AutoModel.from_pretrained(source, dtype=torch.float32, **hub)
        image_processor = AutoImageProcessor.from_pretrained(source, **hub)
        tokenizer = AutoTokenizer.from_pretrained(source, **hub)
        return cls(model, image_processor, tokenizer, name=source, **kwargs)

    def __repr__(self) -> str:
        merge = f", merge_r={self.merge_r}" if self.merge_r else ""
        return f"HFClipFrameEncoder({self.name or self.model_type!r}, dim={self.dim}{merge})"

    @torch.inference_mode()
    def _project_text(self, texts: list[str]) -> np.ndarray:
        if self.model_type.startswith("siglip"):
            # SigLIP was trained on texts padded to the full length; shorter padding shifts them.
            length = int(self.model.config.text_config.max_position_embeddings)
            enc = self.tokenizer(texts, padding="max_length", max_length=length, truncation=True,
                                 return_tensors="pt")
        else:
            enc = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        keys = ("input_ids", "attention_mask") if not self.model_type.startswith("siglip") else ("input_ids",)
        out = self.model.get_text_features(**{k: enc[k] for k in keys if k in enc})
        return _l2(_features(out).float().numpy())

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts -> (N, concept_dim) float32 L2-normalised, in the joint space."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str")
        if not texts:
            return np.zeros((0, self.concept_dim), np.float32)
        return np.concatenate([self._project_text(list(texts[i:i + 256])) for i in range(0, len(texts), 256)])

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray]) -> FrameFeatures:
        """RGB uint8 (H, W, 3) frames -> joint-space vectors and optional zero-shot labels."""
        for i, img in enumerate(images):
            arr = np.asarray(img)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise ValueError(f"images[{i}] must be an RGB uint8 (H, W, 3) array, got {arr.dtype} {arr.shape}")
        chunks = []
        for i in range(0, len(images), self.batch_size):
            batch = [np.asarray(img) for img in images[i:i + self.batch_size]]
            inputs = self.image_processor(images=batch, return_tensors="pt")  # SigLIP2 adds masks/shapes
            chunks.append(_features(self.model.get_image_features(**inputs)).float().numpy())
        if not chunks:
            empty = np.zeros((0, self.dim), np.float32)
            return FrameFeatures(empty, empty.copy(), [])
        v = _l2(np.concatenate(chunks))
        return FrameFeatures(visual=v, concept=v.copy(), labels=self._top_labels(v))

    def _top_labels(self, v: np.ndarray) -> list[dict[str, float]]:
        if self.label_vectors is None:
            return [{} for _ in range(len(v))]
        scale = float(self.model.logit_scale.detach().exp()) if hasattr(self.model, "logit_scale") else 100.0
        logits = scale * (v @ self.label_vectors.T)                    # (B, L)
        if self.model_type.startswith("siglip"):                      # independent sigmoid scores
            bias = float(self.model.logit_bias.detach()) if hasattr(self.model, "logit_bias") else 0.0
            probs = 1.0 / (1.0 + np.exp(-(logits + bias)))
        else:                                                          # softmax over the label set
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
        idx = np.argsort(-probs, axis=1)[:, : self.top_k]
        return [{self.labels[j]: float(row[j]) for j in ids} for row, ids in zip(probs, idx)]


def _merge_tokens(model, r: int, name: str) -> int:
    """Patch ToMe merging into ``model``'s vision tower, checked here (not in the first ``encode``):
    ``r`` merges in every layer must leave a token besides the class token."""
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        raise TokenMergeError(f"{name}: merge_r must be a non-negative integer, got {r!r}")
    if r == 0:
        return 0
    import accel.tokens

    tower = getattr(model, "vision_model", None)
    tower = tower if isinstance(tower, torch.nn.Module) else model
    try:
        accel.tokens.patch(tower, r)
    except ValueError as err:
        raise TokenMergeError(f"{name}: merge_r needs a ViT-family vision tower that token merging "
                              f"supports (CLIP, SigLIP); {err}") from err
    state = accel.tokens.merge_state(tower)
    tokens = getattr(getattr(tower, "embeddings", None), "num_positions", None)  # class token included
    if tokens is not None:
        mergeable, layers = int(tokens) - int(state.protect_first), len(state.layers)
        if r * layers >= mergeable:
            accel.tokens.unpatch(tower)
            raise TokenMergeError(f"{name}: merge_r={r} is too large: {layers} layers x {r} = {r * layers} "
                                  f"merges, but the vision tower has {mergeable} mergeable tokens; "
                                  f"use merge_r <= {(mergeable - 1) // layers}")
    return r


def _features(out) -> torch.Tensor:
    """transformers 4.x returns the projected tensor; 5.x an output whose pooler_output it is."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _l2(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
