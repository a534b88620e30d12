"""Per-file cache: a video asked about directly is indexed once into a folder keyed by its content."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from perception.cache import cache_root
from perception.errors import InputError

__all__ = ["file_hash", "cache_root", "video_store_dir"]

_CHUNK = 1 << 20
_MEMO: dict[tuple[str, int, int], str] = {}


def file_hash(path: str | os.PathLike, length: int = 16) -> str:
    """SHA-256 of the file's bytes, first ``length`` hex digits (the default source id).

    Raises:
        InputError: If the file cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a folder, not a file")
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _MEMO:  # hashing a long video takes seconds: once per file version
            digest = hashlib.sha256()
            with open(p, "rb") as f:
                while block := f.read(_CHUNK):
                    digest.update(block)
            _MEMO[key] = digest.hexdigest()
    except OSError as err:
        raise InputError(p, f"cannot be read ({err.strerror or err})") from None
    return _MEMO[key][:length]


def video_store_dir(path: str | os.PathLike) -> Path:
    """The store folder for one video file: <cache root>/videos/<content hash>/."""
    return cache_root() / "videos" / file_hash(path)
