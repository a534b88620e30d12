"""What `agentkit serve` was started with."""
from __future__ import annotations

import os

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServerSettings"]


@dataclass(frozen=True)
class ServerSettings:
    """Settings of one server; `agentkit serve` fills them from its options."""

    store: Path
    """Store folder the agent answers from (and indexes into)."""
    allow: tuple[Path, ...] = ()
    """Folders whose files `/v1/index` and `/v1/eeg/report` may read (``--allow``); none: no file reads."""
    allow_upload: bool = False
    """Accept file uploads at `/v1/uploads` (``--allow-upload``); they are saved under ``upload_dir``."""
    upload_dir: Path | None = None
    """Where uploads go; None: ``<cache root>/server/uploads``."""
    read_only: bool = False
    """Open the store for asking only (another process writes it); `/v1/index` then answers 409."""
    fps: float = 1.0
    """Frames per second that index jobs sample."""
    max_body_bytes: int = 1 << 20
    """Largest JSON request body (413 beyond)."""
    max_upload_bytes: int = 2 << 30
    """Largest upload (413 beyond)."""
    max_question_chars: int = 2000
    """Longest question (413 beyond)."""
    ask_workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    """Questions answered at the same time (one per core, up to two); more wait their turn. The
    models are loaded before the first request, so workers never load one twice."""
    max_queued_asks: int = 64
    """Questions accepted at once, answered or waiting; beyond it 503 with Retry-After."""
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    """Origins allowed to call the API from a browser page they serve (CORS); empty: off."""

    def __post_init__(self) -> None:
        if self.ask_workers < 1:
            raise ValueError(f"ask_workers must be at least 1, got {self.ask_workers}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        for name in ("max_body_bytes", "max_upload_bytes", "max_question_chars", "max_queued_asks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
