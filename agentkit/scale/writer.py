"""The one writer of a job: commits segments and progress to the store in its own transactions.

Workers never open the store. The writer appends each batch of finished segments together with
the source's progress in one transaction (`agentkit.memory_view.MemoryView.write_chunk`, as
`Agent.index` does), so a job killed at any point leaves every segment up to the recorded
progress and none after it: the rerun starts there, with nothing lost or stored twice.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

from agentkit.memory_view import MemoryView
from perception.types import Observation

__all__ = ["StoreWriter"]


class StoreWriter:
    """Progress-aware commits to one store folder, timed (the writer's cost in the cost model).

    Raises:
        memory.errors.StoreError: The folder is not a store, or another process writes it.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.memory = MemoryView.open(self.folder)
        self.seconds = 0.0
        """Wall time spent committing."""
        self.commits = 0
        self.segments = 0

    def progress(self, source: str) -> tuple[float, bool]:
        """(seconds of ``source`` stored, whether it is complete)."""
        return self.memory.progress(source)

    def begin(self, source: str, duration: float | None) -> None:
        """Note the source's length before its first segment (for partial answers)."""
        self.memory.start(source, duration)

    def commit(self, source: str, observations: Sequence[Observation]) -> float:
        """Store ``observations`` and the progress up to the last one's end, in one transaction."""
        started = time.perf_counter()
        until = self.memory.write_chunk(source, observations)
        self.seconds += time.perf_counter() - started
        self.commits += 1
        self.segments += len(observations)
        return until

    def finish(self, source: str, until: float, path: str) -> int:
        """Mark ``source`` complete; returns how many segments it holds."""
        self.memory.mark_done(source, until, path=path)
        return self.memory.count(source)

    def close(self) -> None:
        self.memory.close()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
