"""Errors raised by memory stores: one line naming the store and the problem."""
from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """A store that cannot be opened or written as asked. `str(err)` is the user-facing message."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
