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

__all__ = ["USER_ERRORS", "err", "fail", "friendly", "out", "print_answer", "print_eval", "print_eeg_eval"]

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


def print_answer(answer, console: Console = out, *, verbose: bool = False) -> None:
    """Human output: the answer, its confidence, and the evidence with mm:ss spans; with ``verbose``
    also the plan and what the verify step did to each claim."""
    from agentkit.timefmt import format_span

    style = "yellow" if answer.abstained else "green"
    for notice in answer.notices:
        console.print(Text(f"note: {notice}", style="cyan"))
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
    if verbose:
        if answer.plan:
            notes = "".join(f"; {n}" for n in answer.plan.get("notes", []))
            console.print(Text(f"plan: {answer.plan.get('kind')} (by {answer.plan.get('origin')}){notes}", style="dim"))
        for c in answer.checks:
            console.print(Text(f"  checked {format_span(c.t0, c.t1)}: {c.action} ({c.why})", style="dim"))


def _num(x: float, fmt: str = ".3f") -> str:
    return "-" if x is None or x != x else format(x, fmt)


def print_eval(summary: dict, console: Console = out) -> None:
    """The evaluation summary as a table: per family, then overall, calibrated beside raw."""
    from rich.table import Table

    from rich import box

    table = Table(title=f"agentkit eval: {summary['n']} {summary['split']} questions over {summary['n_videos']} sources",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("family", no_wrap=True)
    for col in ("n", "acc", "ECE", "raw", "Brier", "AURC", "kept", "acc kept"):
        table.add_column(col, justify="right", no_wrap=True)
    rows = [(f, summary["families"][f], summary["families_raw"][f]) for f in summary["families"]]
    rows.append(("all", summary["overall"], summary["overall_raw"]))
    for name, m, raw in rows:
        table.add_row(name, str(m["n"]), _num(m["accuracy"]), _num(m["ece"]), _num(raw["ece"]), _num(m["brier"]),
                      _num(m["aurc"]), str(m["answered"]), _num(m["answered_accuracy"]),
                      style="bold" if name == "all" else None)
    console.print(table)
    console.print("raw: ECE of the evidence score as confidence; kept: answers at confidence >= 0.5 (the rest abstain)")
    sel = summary["overall"]["selective_accuracy"]
    console.print("selective accuracy at coverage " + ", ".join(f"{c}: {_num(v)}" for c, v in sel.items()))
    console.print(f"ECE (15 equal-mass bins) {_num(summary['overall']['ece'])}, equal-width "
                  f"{_num(summary['overall']['ece_width'])}; raw score {_num(summary['overall_raw']['ece'])}")
    neg = summary["negatives"]
    console.print(f"never-shown concepts: {neg['wrong_at_0.8']} of {neg['n']} wrong at confidence >= 0.8 "
                  f"(raw score: {neg['wrong_at_0.8_raw']})")
    for key, c in summary.get("conformal", {}).items():
        console.print(f"conformal {key}: coverage {c['coverage']:.3f} (target {c['target']:.2f}), "
                      f"mean set size {c['mean_size']:.2f}, n={c['n']}")


def print_eeg_eval(summary: dict, console: Console = out) -> None:
    """The EEG statement evaluation as a table."""
    from rich.table import Table

    table = Table(title="agentkit eval --eeg: report statements on generated recordings (test split)")
    table.add_column("family", no_wrap=True)
    for col in ("n", "acc", "ECE", "raw ECE", "Brier"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, m in summary.get("families", {}).items():
        table.add_row(name, str(m.get("n")), _num(m.get("accuracy")), _num(m.get("ece")), _num(m.get("ece_raw")),
                      _num(m.get("brier")))
    console.print(table)
