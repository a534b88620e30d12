"""The offline default frame encoder: MobileNetV2 features + ConSE concept vectors.

ConSE (Norouzi et al. 2014, "Zero-Shot Learning by Convex Combination of Semantic Embeddings",
https://arxiv.org/abs/1312.5650): an image's position in a text-embedding space is the
probability-weighted mean of the embeddings of its top-T class names. A question such as "when
does a cat appear?" is then embedded by the same text model and compared with frames directly,
with no image-text model (none ships offline on PyPI).
"""
from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from perception.cache import cache_root
from perception.files import write_bytes_atomic
from perception.image.encoder import FrameFeatures
from perception.image.mobilenet import (IMAGENET_MEAN, IMAGENET_STD, MobileNetV2,
                                        imagenet_labels, load_mobilenet_v2)

logger = logging.getLogger(__name__)

__all__ = ["ConSEFrameEncoder", "to_batch"]


def to_batch(images: Sequence[np.ndarray], size: int = 224) -> torch.Tensor:
    """RGB uint8 images of any sizes -> (B, 3, size, size) ImageNet-normalised float tensor.

    Each image is scaled so its shorter side is ``size`` (antialiased), then centre-cropped.
    """
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    out = torch.empty((len(images), 3, size, size))
    for i, img in enumerate(images):
        arr = np.asarray(img)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"images[{i}] must be an RGB uint8 (H, W, 3) array, got "
                             f"{arr.dtype} {arr.shape}")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, order="C")
        x = torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)
        h, w = x.shape[1:]
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        if (nh, nw) != (h, w):
            x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", antialias=True,
                              align_corners=False)[0]
        y0, x0 = (nh - size) // 2, (nw - size) // 2
        out[i] = (x[:, y0:y0 + size, x0:x0 + size] - mean) / std
    return out


class ConSEFrameEncoder:
    """MobileNetV2 (ImageNet-1k) frame encoder with ConSE concept vectors.

    Satisfies :class:`perception.image.encoder.FrameEncoder`.

    Args:
        embed_texts: Text embedder, ``list[str] -> (N, d) float32`` with L2-normalised rows
            (the registry passes all-MiniLM-L6-v2). Defines the concept space.
        weights: MobileNetV2 state-dict file; None: the packaged ImageNet weights.
        model: An already built network (tests pass a tiny random one); overrides ``weights``.
        labels: Class names matching the classifier outputs (reported per frame); None:
            ImageNet-1k.
        label_texts: What is embedded for each class (None: for ImageNet "<name>, a kind of
            <group>" from :mod:`perception.image.imagenet_groups`, so that "a cat" finds
            "Egyptian Mau"; for custom labels the labels themselves).
        top_k: Labels reported per frame.
        top_t: Labels mixed into the ConSE concept vector (the paper's T; 10 works well).
        batch_size: Frames per forward pass.
        threads: torch intra-op threads to set (None: leave torch's setting alone).
        cache_dir: Where the label-text embeddings are cached as ``.npy`` (keyed by the label
            texts and a fingerprint of the embedder's output, so another embedder never reuses
            them). None: ``$AGENTKIT_CACHE/conse`` or ``~/.cache/agentkit/conse``; False: off.
            Saves embedding 1000 texts on every start (seconds on a busy CPU).
    """

    def __init__(self, embed_texts: Callable[[list[str]], np.ndarray], *,
                 weights: str | Path | None = None, model: MobileNetV2 | None = None,
                 labels: Sequence[str] | None = None,
                 label_texts: Sequence[str] | None = None, top_k: int = 5, top_t: int = 10,
                 batch_size: int = 16, threads: int | None = None,
                 cache_dir: str | Path | None | bool = None):
        if not callable(embed_texts):
            raise TypeError("embed_texts must be a callable list[str] -> np.ndarray")
        for name, v in (("top_k", top_k), ("top_t", top_t), ("batch_size", batch_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.model = model if model is not None else load_mobilenet_v2(weights).fuse_for_inference()
        self.model.eval()
        self.labels = tuple(labels) if labels is not None else imagenet_labels()
        if label_texts is None:
            label_texts = _imagenet_texts() if labels is None else list(self.labels)
        if len(label_texts) != len(self.labels):
            raise ValueError(f"label_texts has {len(label_texts)} entries for "
                             f"{len(self.labels)} labels")
        n_out = self.model.classifier[-1].out_features
        if len(self.labels) != n_out:
            raise ValueError(f"labels has {len(self.labels)} names but the classifier has "
                             f"{n_out} outputs")
        self._embed_texts = embed_texts
        self.top_k, self.top_t, self.batch_size = top_k, min(top_t, n_out), batch_size
        self.label_texts = tuple(label_texts)
        self.label_vectors = self._label_vectors(cache_dir)  # (C, d)
        self.dim = int(self.model.num_features)
        self.concept_dim = int(self.label_vectors.shape[1])

    def _label_vectors(self, cache_dir: str | Path | None | bool) -> np.ndarray:
        texts = list(self.label_texts)
        if cache_dir is False:
            return self.embed_text(texts)
        folder = Path(cache_dir) if cache_dir not in (None, True) else _default_cache()
        probe = self.embed_text([_PROBE])[0]
        h = hashlib.sha256("\n".join(texts).encode())
        h.update(np.round(probe, 4).astype(np.float32).tobytes())
        path = folder / f"labels-{h.hexdigest()[:20]}.npy"
        if path.is_file():
            try:
                vecs = np.load(path, allow_pickle=False)
                if vecs.shape == (len(texts), probe.shape[0]) and vecs.dtype == np.float32:
                    return vecs
            except (OSError, ValueError):
                pass
            logger.warning("%s: unreadable label cache, recomputing", path)
        vecs = self.embed_text(texts)
        try:
            buf = io.BytesIO()
            np.save(buf, vecs, allow_pickle=False)
            write_bytes_atomic(path, buf.getvalue())
        except OSError as err:  # a read-only home must not stop the encoder
            logger.warning("could not cache label embeddings in %s: %s", folder, err)
        return vecs

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts -> (N, concept_dim) float32 L2-normalised (the injected text embedder)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str")
        v = np.asarray(self._embed_texts(list(texts)), dtype=np.float32)
        if v.ndim != 2 or v.shape[0] != len(texts):
            raise ValueError(f"embed_texts returned shape {v.shape} for {len(texts)} texts")
        return _l2(v)

    @torch.inference_mode()
    def encode(self, images: Sequence[np.ndarray]) -> FrameFeatures:
        """RGB uint8 frames -> visual (B, 1280), concept (B, d), top-k label probabilities."""
        visual, probs = [], []
        for i in range(0, len(images), self.batch_size):
            x = to_batch(images[i:i + self.batch_size])
            if getattr(self.model, "fused", False):
                x = x.contiguous(memory_format=torch.channels_last)
            feats = self.model.forward_features(x)            # (b, 1280)
            p = self.model.forward_head(feats).softmax(dim=1)  # (b, C)
            visual.append(feats.numpy())
            probs.append(p.numpy())
        if not visual:
            return FrameFeatures(np.zeros((0, self.dim), np.float32),
                                 np.zeros((0, self.concept_dim), np.float32), [])
        v = _l2(np.concatenate(visual).astype(np.float32))
        p = np.concatenate(probs)
        return FrameFeatures(visual=v, concept=self.conse(p), labels=self._top_labels(p))

    def conse(self, probs: np.ndarray) -> np.ndarray:
        """(B, C) class probabilities -> (B, d) ConSE vectors (top-T weighted mean, L2-norm)."""
        t = self.top_t
        idx = np.argpartition(-probs, t - 1, axis=1)[:, :t]         # (B, T)
        w = np.take_along_axis(probs, idx, axis=1)                   # (B, T)
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        vecs = np.einsum("bt,btd->bd", w, self.label_vectors[idx])   # (B, d)
        return _l2(vecs.astype(np.float32))

    def _top_labels(self, probs: np.ndarray) -> list[dict[str, float]]:
        k = self.top_k
        idx = np.argsort(-probs, axis=1)[:, :k]
        return [{self.labels[j]: float(row[j]) for j in ids} for row, ids in zip(probs, idx)]


_PROBE = "ConSE label cache fingerprint: a photo of a cat on a red bicycle"


def _default_cache() -> Path:
    return cache_root() / "conse"


def _imagenet_texts() -> list[str]:
    from perception.image.imagenet_groups import label_texts

    return label_texts()


def _l2(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
