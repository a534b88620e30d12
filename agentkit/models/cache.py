"""Where converted model weights are cached between processes."""
from __future__ import annotations

from pathlib import Path

from perception.cache import cache_root


def model_cache_dir(name: str) -> Path:
    """Folder for one converted model, e.g. ``<root>/models/gemma-3-270m`` (not created)."""
    return cache_root() / "models" / name
