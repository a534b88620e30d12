"""The four default nodes. Each is a plain function of the state, built over a `Toolkit`.

Perception streams inside its node: observations go into the store chunk by chunk, and the
store's progress is flushed after every chunk, so a crash loses at most one chunk and a re-run
resumes there. Only ids and counts leave the node in the state.
"""
from __future__ import annotations

import dataclasses
import logging
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from agentkit.controller.compose import compose_answer
from agentkit.controller.cues import CONCEPT_KINDS, parse_question
from agentkit.controller.findings import Findings
from agentkit.controller.recall import recall
from agentkit.eeg.ask import answer_eeg
from agentkit.graph.state import AgentState

if TYPE_CHECKING:
    from agentkit.toolkit import Toolkit

__all__ = ["Node", "perceive_node", "remember_node", "recall_node", "answer_node", "chunked"]

logger = logging.getLogger(__name__)

Node = Callable[[AgentState], dict[str, Any]]


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items, streaming (never the whole iterable at once)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def perceive_node(toolkit: "Toolkit") -> Node:
    """Stream the toolkit's perceiver over ``state["path"]`` into memory, resuming where it stopped."""

    def perceive(state: AgentState) -> dict[str, Any]:
        path = state["path"]
        source = state.get("source") or toolkit.source_id(path)
        fps = float(state.get("fps") or toolkit.fps)
        memory = toolkit.memory
        until, done = memory.progress(source)
        if done:
            logger.info("%s is already indexed as %s", path, source)
            return {"source": source, "indexed_until": until, "n_new": 0}
        if until > 0:
            logger.info("resuming %s at %.1f s", path, until)
        memory.start(source, _duration(path))
        n_new = 0
        stream = toolkit.perceiver(path, source=source, start=until, fps=fps, progress=toolkit.progress)
        for chunk in chunked(stream, toolkit.chunk_size):
            until = memory.write_chunk(source, chunk)
            n_new += len(chunk)
        return {"source": source, "indexed_until": until, "n_new": n_new}

    return perceive


def _duration(path: str) -> float | None:
    """The file's length from its header, or None (custom perceivers may read other files)."""
    from perception.errors import InputError
    from perception.video import probe

    try:
        return float(probe(path).duration) or None
    except (InputError, OSError, ValueError):
        return None


def _evidence_checks(toolkit: "Toolkit", reader, source: str | None, subject: str, best) -> tuple[float | None, float]:
    """Look again at the best concept span: do its labels carry the subject's name (`Toolkit.label_fit`),
    and how much of the source carries the same top label (a recurring background scene, not a rare sighting)?"""
    records = [r for r in reader.records(source) if r.source == best.source]
    seen: dict[str, float] = {}
    for r in records:
        if r.t0 < best.t1 and r.t1 > best.t0:
            for name, value in r.labels.items():
                seen[name] = max(value, seen.get(name, 0.0))
    if not seen:
        return None, 0.0
    top = max(seen, key=seen.get)
    recurrence = sum(1 for r in records if r.labels and r.top_labels(1)[0] == top) / max(1, len(records))
    return toolkit.label_fit(subject, seen), recurrence


def remember_node(toolkit: "Toolkit") -> Node:
    """Mark the source complete in memory and report how many records it holds."""

    def remember(state: AgentState) -> dict[str, Any]:
        source = state["source"]
        memory = toolkit.memory
        memory.mark_done(source, float(state.get("indexed_until") or 0.0), path=state.get("path", ""))
        return {"n_records": memory.count(source)}

    return remember


def recall_node(toolkit: "Toolkit") -> Node:
    """Parse the question into cues and fetch their evidence from memory.

    EEG question families (band-power extremes, artifacts, bad channels, eyes open/closed) are
    answered here from the EEG records of the same store, so one agent asks about video and EEG
    on one time axis; the answer node then passes that answer through.
    """

    def recall_step(state: AgentState) -> dict[str, Any]:
        reader = toolkit.memory.reader()
        source = state.get("ask_source") or None
        eeg = answer_eeg(state["question"], reader, source)
        if eeg is not None:
            return {"answer": eeg.model_dump()}
        cues = parse_question(state["question"], state.get("options") or None)
        findings = recall(cues, reader, toolkit.embed_text, source=source,
                          centroid=toolkit.concept_centroid, config=toolkit.recall_config)
        sources = [source] if source else reader.sources()
        coverage = [c for c in (toolkit.memory.coverage(s) for s in sources) if c is not None]
        if len(coverage) == 1:
            findings.seen_until = coverage[0].seen[-1][1] if coverage[0].seen else 0.0
            findings.duration = coverage[0].duration
        findings.coverage = coverage
        if cues.kind in CONCEPT_KINDS and cues.subject and not cues.text_cues:
            findings.vocab_sim, findings.nearest_names = toolkit.vocabulary_match(cues.subject)
            concept = next((c for c in findings.cues if c.kind == "concept" and c.spans), None)
            if concept is not None:
                findings.label_fit, findings.recurrence = _evidence_checks(toolkit, reader, source, cues.subject,
                                                                           concept.spans[0])
        cue_dict = {**dataclasses.asdict(cues), "kind": cues.kind.value}
        return {"cues": cue_dict, "findings": findings.model_dump()}

    return recall_step


def answer_node(toolkit: "Toolkit") -> Node:
    """Compose the answer from the findings (the language model phrases and scores options)."""

    def answer(state: AgentState) -> dict[str, Any]:
        if state.get("answer"):  # recall answered it already (an EEG question)
            return {}
        findings = Findings.model_validate(state["findings"])
        lm = toolkit.language_model if findings.kind in toolkit.lm_kinds else None
        result = compose_answer(findings, lm, toolkit.answer_config, toolkit.calibrator)
        return {"answer": result.model_dump()}

    return answer
