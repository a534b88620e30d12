"""The locks on the door: a bearer token, and folders that `/v1/index` may read from."""
from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from perception.files import write_bytes_atomic

__all__ = ["TokenSource", "resolve_token", "PathPolicy", "TOKEN_ENV", "require_token"]

logger = logging.getLogger(__name__)

TOKEN_ENV = "AGENTKIT_TOKEN"
"""Environment variable that holds the server's token (else one is generated and stored)."""

_MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class TokenSource:
    """The token the server checks, and where it came from."""

    token: str
    origin: str
    """"env" (from `TOKEN_ENV`), "file" (read from ``path``) or "generated" (new, written to ``path``)."""
    path: Path | None = None


def resolve_token(token_file: str | os.PathLike, *, environ: dict[str, str] | None = None) -> TokenSource:
    """The server's bearer token: from ``AGENTKIT_TOKEN``, else ``token_file``, else a new one.

    A new token is written to ``token_file`` with mode 0600 (created that way, never readable by
    others for a moment); the caller prints it once.

    Raises:
        ValueError: ``AGENTKIT_TOKEN`` or the token file holds fewer than 16 characters, or the
            token file is readable by other users.
    """
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV, "").strip()
    if value:
        if len(value) < _MIN_TOKEN_CHARS:
            raise ValueError(f"{TOKEN_ENV} must hold at least {_MIN_TOKEN_CHARS} characters, got {len(value)}")
        return TokenSource(value, "env")
    path = Path(token_file).expanduser()
    if path.is_file():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ValueError(f"{path}: token file is readable by other users (mode {mode:o}); "
                             f"run `chmod 600 {path}` or delete it to get a new token")
        value = path.read_text(encoding="utf-8").strip()
        if len(value) < _MIN_TOKEN_CHARS:
            raise ValueError(f"{path}: token file holds fewer than {_MIN_TOKEN_CHARS} characters; delete it to get a new token")
        return TokenSource(value, "file", path)
    value = secrets.token_urlsafe(32)
    write_bytes_atomic(path, (value + "\n").encode("utf-8"), mode=0o600)
    return TokenSource(value, "generated", path)


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries ``Authorization: Bearer <token>``."""
    expected: str = request.app.state.token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(401, "missing bearer token: send the header 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(401, "wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


class PathPolicy:
    """Which files a client may name: only under the allowed folders, after resolving symlinks.

    Args:
        allowed: Folders (``--allow DIR``); each is resolved once, so a symlinked folder allows
            what it points to, and nothing else.
    """

    def __init__(self, allowed: list[str | os.PathLike] | tuple = ()):
        roots = []
        for folder in allowed:
            p = Path(folder).expanduser()
            if not p.is_dir():
                raise ValueError(f"--allow {folder}: not a folder")
            roots.append(Path(os.path.realpath(p)))
        self.roots: tuple[Path, ...] = tuple(roots)

    def check(self, path: str) -> Path:
        """The resolved file ``path`` names, if it lies under an allowed folder.

        Raises:
            HTTPException: 403 for a path outside the allowed folders (or any path when none is
                allowed, or one with a ``..`` part); 404 when it is allowed but no file is there.
        """
        if not isinstance(path, str) or not path or "\x00" in path:
            raise HTTPException(422, "path must be a non-empty string")
        if not self.roots:
            raise HTTPException(403, "reading files by path is off: start the server with --allow DIR")
        raw = Path(path).expanduser()
        if ".." in raw.parts:
            raise HTTPException(403, f"{path}: '..' is not accepted in paths")
        if not raw.is_absolute():
            raise HTTPException(403, f"{path}: give an absolute path under an allowed folder")
        real = Path(os.path.realpath(raw))
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise HTTPException(403, f"{path}: outside the folders allowed with --allow")
        if not real.is_file():
            raise HTTPException(404, f"{path}: no such file")
        return real
