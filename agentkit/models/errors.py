"""Errors raised by the model registry: one line naming the model and how to get it."""
from __future__ import annotations

NOT_CACHED = ("not a local path and not in the local Hugging Face cache (models are never downloaded "
              "at run time: download it first, e.g. `hf download NAME`, or pass a local folder)")


class ModelNotFoundError(Exception):
    """A model that is not installed or not at the path given.

    `str(err)` is the whole user-facing message: the model name or path, and the package to
    install or the path that does not exist.
    """

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name} not found: {problem}")
