"""Console output of the `agentkit` commands: how an answer is shown, and how bad input ends a command.

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

__all__ = ["USER_ERRORS", "err", "fail", "friendly", "out", "print_answer"]

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


def print_answer(answer, console: Console = out) -> None:
    """Human output: the answer, its confidence, and the evidence with mm:ss spans."""
    from agentkit.timefmt import format_span

    style = "yellow" if answer.abstained else "green"
    console.print(Text(answer.question, style="bold"))
    console.print(Text(answer.text, style=style))
    note = " (abstained: below the confidence threshold)" if answer.abstained else ""
    console.print(f"confidence {answer.confidence:.2f}{note}")
    several = len({e.source for e in answer.evidence}) > 1
    for e in answer.evidence:
        what = ", ".join(e.labels[:3]) or e.why
        where = (f"{e.source[:8]}@" if several else "") + format_span(e.t0, e.t1)
        line = Text(f"  {where:>13}  score {e.score:.2f}  {what}")
        if e.text:
            line.append(f'  text: "{" ".join(e.text.split())[:60]}"')
        console.print(line)
