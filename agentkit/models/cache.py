"""Where converted model weights are cached between processes."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "AGENTKIT_CACHE"


def cache_root() -> Path:
    """Root of agentkit's on-disk cache: ``$AGENTKIT_CACHE`` or ``~/.cache/agentkit``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentkit"


def model_cache_dir(name: str) -> Path:
    """Folder for one converted model, e.g. ``<root>/models/gemma-3-270m`` (not created)."""
    return cache_root() / "models" / name
