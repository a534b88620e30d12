"""The on-disk cache of agentkit (under the cache root): per-file stores keyed by content, converted models."""
from __future__ import annotations

import os
from pathlib import Path

from perception.cache import cache_root
from perception.errors import InputError
from perception.files import check_file, file_sha256

__all__ = ["file_hash", "cache_root", "model_cache_dir", "video_store_dir"]

_MEMO: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """SHA-256 of the file's bytes, first ``length`` hex digits (the default source id).

    Raises:
        InputError: If the file cannot be read.
    """
    p = check_file(path, allow_empty=True)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as err:
        raise InputError(p, f"cannot be read ({err.strerror or err})") from None
    if key not in _MEMO:  # hashing a long video takes seconds: once per file version
        _MEMO[key] = file_sha256(p)
    return _MEMO[key][:length]


def video_store_dir(path: str | os.PathLike) -> Path:
    """The store folder for one video file: <cache root>/videos/<content hash>/."""
    return cache_root() / "videos" / file_hash(path)


def model_cache_dir(name: str) -> Path:
    """Folder for one converted model, e.g. ``<cache root>/models/gemma-3-270m`` (not created)."""
    return cache_root() / "models" / name
