"""`agentkit eval` end to end: cases (generated or the user's) -> answers -> calibrator -> numbers and plots."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agentkit.cache import cache_root
from agentkit.evaluation.cases import CaseError, read_cases
from agentkit.evaluation.generate import DEFAULT_LENGTHS, generate_set
from agentkit.evaluation.report import apply_calibrator, fit_from_records, plot_summary, summarize
from agentkit.evaluation.run import run_cases

__all__ = ["EvalResult", "run_eval", "default_set"]

logger = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """What one evaluation wrote and measured."""

    summary: dict[str, Any]
    out: Path
    files: list[Path]
    errors: list[CaseError]


def default_set(seed: int = 2026, videos: int = len(DEFAULT_LENGTHS),
                progress: Callable[[str, float, float], None] | None = None) -> Path:
    """The generated cases file (composed on first use, cached under the cache root)."""
    if not 1 <= videos <= len(DEFAULT_LENGTHS):
        raise ValueError(f"videos must be between 1 and {len(DEFAULT_LENGTHS)}, got {videos}")
    lengths = DEFAULT_LENGTHS[:videos]
    folder = cache_root() / "eval" / f"set-{seed}-{len(lengths)}"
    cases = folder / "cases.jsonl"
    if not cases.is_file():
        generate_set(folder, seed=seed, lengths=lengths, progress=progress)
    return cases


def run_eval(*, cases_file: str | Path | None, out: str | Path, fit: bool = False,
             calibrator_file: str | Path | None = None, keep_going: bool = False, seed: int = 2026,
             videos: int = len(DEFAULT_LENGTHS), progress: Callable[[str, float, float], None] | None = None) -> EvalResult:
    """Run the evaluation; see `agentkit eval --help`.

    Raises:
        CaseError: A bad cases line (without ``keep_going``).
        ValueError: ``fit`` without fit-split questions.
    """
    from agentkit.calibration import load_calibrator
    from memory.atomic import write_bytes_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = Path(cases_file) if cases_file is not None else default_set(seed, videos, progress)
    cases, errors = read_cases(path, keep_going=keep_going)
    work = cache_root() / "eval" / "work"
    records = run_cases(cases, work, keep_going=keep_going, progress=progress)
    files = []
    if fit:
        calibrator = fit_from_records(records, info={"cases": str(path), "n_fit": sum(r["split"] == "fit" for r in records)})
        files.append(calibrator.save(out / "calibrator.json"))
    else:
        calibrator = load_calibrator(calibrator_file)
    apply_calibrator(records, calibrator)
    summary = summarize(records, calibrator)
    summary["cases"] = str(path)
    summary["calibrator"] = str(out / "calibrator.json") if fit else str(calibrator_file or "shipped default")
    summary["bad_lines"] = [str(e) for e in errors]
    lines = [json.dumps({k: v for k, v in r.items() if k != "full"}, ensure_ascii=False) for r in records]
    write_bytes_atomic(out / "answers.jsonl", ("\n".join(lines) + "\n").encode("utf-8"), shared=True)
    write_bytes_atomic(out / "summary.json", json.dumps(summary, indent=1).encode("utf-8"), shared=True)
    files += [out / "answers.jsonl", out / "summary.json"]
    if summary["n"]:
        files += plot_summary(summary, out)
    return EvalResult(summary, out, files, errors)
