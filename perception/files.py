"""Files for every room above accel: input checks, content hashes and atomic writes.

- :func:`check_file` is the one check of an input path (exists, a file, readable, not empty);
  it raises :class:`~perception.errors.InputError` naming the file and the problem.
- :func:`file_sha256` hashes a file's bytes in 1 MB blocks.
- :func:`write_bytes_atomic` and :func:`atomic_path` write through a temporary file in the same
  folder, fsync and rename, so a crash never leaves half a file to load: a reader sees the old
  file or the new one. :func:`move_folder_atomic` does the same for a folder built beside its
  target (converted model weights).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perception.errors import InputError

__all__ = ["atomic_path", "check_file", "file_sha256", "move_folder_atomic", "write_bytes_atomic"]

_BLOCK = 1 << 20


def check_file(path: str | os.PathLike, what: str = "file", *, allow_empty: bool = False) -> Path:
    """Return ``path`` as a Path when it names a readable (non-empty) file.

    Args:
        path: The path to check.
        what: What the file should be, for the message ("video file", "EEG file").
        allow_empty: Accept a 0-byte file.

    Raises:
        TypeError: ``path`` is not a str or os.PathLike.
        InputError: missing, a folder, unreadable, or empty.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, f"is a folder, not a {what}")
    if not os.access(p, os.R_OK):
        raise InputError(p, "cannot be read (permission denied)")
    if not allow_empty and p.stat().st_size == 0:
        raise InputError(p, "empty file (0 bytes)")
    return p


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes, 64 hex digits (read in 1 MB blocks).

    Raises:
        InputError: the file is missing, a folder or cannot be read.
    """
    p = check_file(path, allow_empty=True)
    digest = hashlib.sha256()
    try:
        with open(p, "rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
    except OSError as err:
        raise InputError(p, f"cannot be read ({err.strerror or err})") from None
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None, mode: int = 0o666) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends.

    For writers that want a file name rather than bytes (a video muxer, a plot, a streaming
    file writer). Folders are created. On an exception the temporary file is removed and
    ``path`` is left as it was.

    Args:
        path: The final file.
        suffix: The temporary file's suffix (default: ``path``'s own, so writers that choose a
            format by extension still do).
        mode: The new file's permission bits before the umask (default: the usual mode of a
            new file; ``0o600`` keeps a secret readable by its owner only).

    Example:
        ```python
        with atomic_path("out/plot.png") as tmp:
            fig.savefig(tmp)
        ```
    """
    path = Path(path)
    fd, tmp = _temp_beside(path, path.suffix if suffix is None else suffix, mode)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, mode: int = 0o666) -> Path:
    """Write ``data`` to ``path`` (folders created) through a temporary file, fsync and rename.

    ``mode`` is the new file's permission bits before the umask, as in :func:`atomic_path`.
    """
    path = Path(path)
    with atomic_path(path, suffix="", mode=mode) as tmp:
        tmp.write_bytes(data)
    return path


def move_folder_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Fsync every file under ``src``, then rename ``src`` onto ``dst`` (same filesystem).

    An existing ``dst`` is removed first: callers hold a lock and only ever find a partial
    folder from an older crash there, never a complete one.
    """
    import shutil

    src, dst = Path(src), Path(dst)
    for f in sorted(src.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    if dst.exists():
        shutil.rmtree(dst)
    os.rename(src, dst)
    return dst


def _temp_beside(path: Path, suffix: str, mode: int = 0o666) -> tuple[int, Path]:
    """Create (exclusively) a hidden temporary file in ``path``'s folder (created), ``mode``
    less the umask: by default the usual mode of a new file, so the renamed result reads like
    any other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), tmp
        except FileExistsError:
            continue
