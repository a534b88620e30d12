"""Console output of the `agentkit` commands, and the one way bad input ends a command.

Every command (video and EEG) wraps itself in `friendly`: a user-facing error becomes one red
line on stderr and exit code 1, never a traceback.
"""
from __future__ import annotations

import functools
from typing import Callable

import typer
from rich.console import Console
from rich.text import Text

from agentkit.models.errors import ModelNotFoundError
from memory.errors import StoreError
from perception.errors import InputError

__all__ = ["USER_ERRORS", "err", "fail", "friendly", "out"]

out = Console()
err = Console(stderr=True)

USER_ERRORS = (InputError, StoreError, ModelNotFoundError, ValueError, TypeError)
"""Errors whose message is written for the user (library argument checks name the argument)."""


def fail(message: str, code: int = 1) -> None:
    """Print one red error line on stderr and end the command with `code`."""
    err.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    raise typer.Exit(code)


def friendly(fn: Callable) -> Callable:
    """Turn the project's user-facing errors into one red line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            fail(" ".join(str(e).split()))
        except KeyboardInterrupt:
            fail("interrupted; run the same command again to resume", 130)

    return wrapper
