"""Run labelled cases through the agent and judge every answer.

Answers are taken with raw evidence scores (no calibrator), so one run serves both fitting a
calibrator and measuring any calibrator: the calibrated confidence is a pure function of the
answer's family and features, applied afterwards (`report.apply_calibrator`). The language
model's phrasing of scene descriptions is switched off: it only rewords the text, never the
answer's value, features or confidence, and it would be most of the run's time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

from agentkit.evaluation.cases import Case, CaseError, iter_targets
from agentkit.evaluation.judge import judge
from agentkit.schemas import Answer

__all__ = ["run_cases", "store_for"]

logger = logging.getLogger(__name__)

Progress = Callable[[str, float, float], None]


def store_for(work: Path, video: str) -> Path:
    """The store folder a case video is indexed into under ``work`` (keyed by its resolved path)."""
    key = hashlib.sha1(str(Path(video).resolve()).encode()).hexdigest()[:12]
    return work / "stores" / f"{Path(video).stem}-{key}"


def _record(case: Case, answer: Answer, correct: bool, seconds: float) -> dict[str, Any]:
    return {
        "id": case.id, "split": case.split, "group": case.group, "family": case.family, "negative": case.negative,
        "question": case.question, "options": case.options, "truth": case.truth,
        "kind": answer.kind, "answer": answer.text, "correct": bool(correct), "raw": answer.raw_score,
        "confidence": answer.confidence, "abstained": answer.abstained, "seconds": round(seconds, 3),
        "evidence": [[e.t0, e.t1, e.score] for e in answer.evidence], "features": answer.features,
        "value": answer.value.model_dump(exclude_defaults=True), "full": answer.model_dump(mode="json"),
    }


def _error(case: Case, message: str) -> dict[str, Any]:
    return {"id": case.id, "split": case.split, "group": case.group, "family": case.family, "question": case.question,
            "error": message}


def run_cases(cases: list[Case], work: str | Path, *, keep_going: bool = False,
              progress: Progress | None = None, fps: float = 1.0) -> list[dict[str, Any]]:
    """Index each case's video once (into ``work``/stores), ask every question, judge the answers.

    Returns:
        One record per case (see docs/cli.md); with ``keep_going``, cases whose video or store
        cannot be read get a record with an ``error`` and no answer.

    Raises:
        CaseError: A video or store cannot be read (without ``keep_going``).
    """
    from agentkit import Agent
    from memory.errors import StoreError
    from perception.errors import InputError

    work = Path(work)
    records: list[dict[str, Any]] = []
    total = float(len(cases))
    for target, group in iter_targets(cases):
        first = group[0]
        try:
            if first.video is not None:
                agent = Agent.default(store=store_for(work, target), fps=fps, calibrator=False)
                report = agent.index(target)
                source = report.source
            else:
                agent = Agent.default(store=target, read_only=True, calibrator=False)
                source = first.source
        except (InputError, StoreError, OSError, ValueError) as err:
            message = " ".join(str(err).split())
            problem = message if target in message else f"{target}: {message}"
            if not keep_going:
                raise CaseError(Path(first.id.rsplit(":", 1)[0]), _line(first), problem) from None
            logger.warning("skipping %s (%d question%s): %s", ", ".join(c.id for c in group[:3]) + (" ..." if len(group) > 3 else ""),
                           len(group), "s" if len(group) != 1 else "", problem)
            records += [_error(c, problem) for c in group]
            continue
        agent.toolkit.answer_config = dataclasses.replace(agent.toolkit.answer_config, use_lm_phrasing=False)
        with agent:
            for case in group:
                started = time.perf_counter()
                answer = agent.ask(case.question, case.options or None, source=case.source or source)
                seconds = time.perf_counter() - started
                records.append(_record(case, answer, judge(case.family, case.truth, answer), seconds))
                if progress is not None:
                    progress("ask", float(len(records)), total)
    return records


def _line(case: Case) -> int:
    tail = case.id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
