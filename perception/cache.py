"""Where agentkit keeps what it computes once and reuses across processes.

One root for every room above accel: ``$AGENTKIT_CACHE``, else ``~/.cache/agentkit``. Each user
takes a subfolder (``demo_video/`` the demo-video scene library, ``conse/`` label embeddings,
``models/`` converted weights, ``videos/`` per-file stores, ``bench/`` benchmark inputs).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root"]

CACHE_ENV = "AGENTKIT_CACHE"


def cache_root() -> Path:
    """``$AGENTKIT_CACHE`` or ``~/.cache/agentkit`` (not created)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentkit"
