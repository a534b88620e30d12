"""The files of a job: paths given on the command line, folders searched recursively by extension."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from perception.errors import InputError

__all__ = ["EEG_EXTENSIONS", "VIDEO_EXTENSIONS", "find_files"]

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")
"""File name endings taken from a folder as videos (a file named on its own is taken whatever its name)."""

EEG_EXTENSIONS = (".edf", ".bdf", ".fif", ".vhdr")
"""File name endings taken from a folder as EEG recordings (BrainVision: the .vhdr header)."""


def find_files(paths: Sequence[str | os.PathLike], extensions: Iterable[str], *, what: str = "video") -> list[Path]:
    """The files named by ``paths``: each file as given, each folder searched recursively for
    files whose name ends with one of ``extensions`` (any case), sorted. A file reached twice
    (named and inside a named folder) is listed once.

    Raises:
        InputError: A path is missing or unreadable, or a folder holds no matching file; the
            message names it.
        ValueError: ``paths`` is empty.
    """
    if not paths:
        raise ValueError(f"give at least one {what} file or folder")
    endings = tuple(e.lower() for e in extensions)
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(p, "no such file or folder")
        if not os.access(p, os.R_OK):
            raise InputError(p, "cannot be read (permission denied)")
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(endings))
            if not inside:
                raise InputError(p, f"is a folder with no {what} files ({', '.join(endings)}) in it or below")
        else:
            inside = [p]
        for f in inside:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found
