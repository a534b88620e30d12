"""Errors for bad input: one line that names the file and the problem."""
from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A source that cannot be read as asked. `str(err)` is the whole user-facing message."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
