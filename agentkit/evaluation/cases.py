"""Labelled questions for `agentkit eval`: one JSON object per line (docs/cli.md documents it).

    {"video": "clips/yard.mp4", "question": "How many times does the dog appear?",
     "family": "count", "truth": {"count": 2}}

``video`` (a file, indexed once into a store beside the run) or ``store`` (an existing store
folder, with an optional ``source`` id) says what is asked about; relative paths are read from
the cases file's folder. ``truth`` holds the field its family is judged by (`judge.TRUTH_FIELDS`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, Field, ValidationError, model_validator

__all__ = ["Case", "CaseError", "FAMILIES", "read_cases", "write_cases"]

FAMILIES = ("when", "whether", "text", "around", "after", "choice", "count", "first_last", "order", "between",
            "state", "at_time", "unanswerable")
"""Question families `agentkit eval` knows how to judge."""


class CaseError(ValueError):
    """A line of a cases file that cannot be run; names the file and the line."""

    def __init__(self, path: Path, line: int, problem: str):
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{path}:{line}: {problem}")


class Case(BaseModel):
    """One labelled question."""

    id: str = ""
    question: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list)
    family: str
    truth: dict[str, Any]
    video: str | None = None
    store: str | None = None
    source: str | None = None
    split: str = Field("test", description='"fit" (calibrator fitting) or "test" (measured)')
    group: str = Field("", description="what held-out folds split by; defaults to the video or store")
    negative: str | None = Field(None, description='"far" or "near" for questions about something never shown')

    @model_validator(mode="after")
    def _check(self) -> "Case":
        from agentkit.evaluation.judge import TRUTH_FIELDS

        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r} (known: {', '.join(FAMILIES)})")
        need = TRUTH_FIELDS[self.family]
        if need not in self.truth:
            raise ValueError(f"family {self.family!r} needs truth.{need}")
        if (self.video is None) == (self.store is None):
            raise ValueError("give exactly one of 'video' or 'store'")
        if self.split not in ("fit", "test"):
            raise ValueError(f"split must be 'fit' or 'test', got {self.split!r}")
        if self.family in ("choice", "state") and not self.options and "(a)" not in self.question.lower():
            raise ValueError(f"family {self.family!r} needs options (a list, or written in the question as (a) ... (b) ...)")
        return self

    @property
    def target(self) -> str:
        """The video file or store folder asked about."""
        return self.video or self.store or ""


def read_cases(path: str | Path, *, keep_going: bool = False) -> tuple[list[Case], list[CaseError]]:
    """Read a cases file; relative ``video``/``store`` paths resolve against its folder.

    Returns:
        (cases, errors). Without ``keep_going`` the first bad line raises its `CaseError`.

    Raises:
        CaseError: A bad line (without ``keep_going``), or the file cannot be read.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError(path, 0, f"cannot be read ({getattr(err, 'strerror', None) or err})") from None
    cases, errors = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            case = _parse(path, n, line)
        except CaseError as err:
            if not keep_going:
                raise
            errors.append(err)
            continue
        cases.append(case)
    if not cases and not errors:
        raise CaseError(path, 0, "holds no cases")
    return cases, errors


def _parse(path: Path, n: int, line: str) -> Case:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise CaseError(path, n, f"not JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise CaseError(path, n, "must be a JSON object")
    try:
        case = Case.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise CaseError(path, n, f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None
    for field in ("video", "store"):
        value = getattr(case, field)
        if value is not None and not Path(value).is_absolute():
            setattr(case, field, str((path.parent / value).resolve()))
    if not case.id:
        case.id = f"{path.name}:{n}"
    if not case.group:
        case.group = case.target
    return case


def write_cases(path: str | Path, cases: list[Case], relative_to: Path | None = None) -> Path:
    """Write cases as JSONL (atomically); paths under ``relative_to`` are written relative to it."""
    from memory.atomic import write_bytes_atomic

    lines = []
    for case in cases:
        d = case.model_dump(exclude_defaults=True)
        for field in ("video", "store"):
            if d.get(field) and relative_to is not None:
                try:
                    d[field] = str(Path(d[field]).relative_to(relative_to))
                except ValueError:
                    pass
        lines.append(json.dumps(d, ensure_ascii=False))
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"), shared=True)
    return Path(path)


def iter_targets(cases: list[Case]) -> Iterator[tuple[str, list[Case]]]:
    """Cases grouped by the video or store they ask about, in first-seen order."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.target, []).append(case)
    yield from groups.items()
