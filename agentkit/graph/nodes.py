"""The default nodes. Each is a plain function of the typed state, built over a `Toolkit`.

Indexing: perceive -> remember. Perception streams inside its node: observations go into the
store chunk by chunk, and the store's progress is flushed after every chunk, so a crash loses at
most one chunk and a re-run resumes there. Only ids and counts leave the node in the state.

Asking: plan -> (eeg) -> recall -> verify -> decide -> compose; decide may send the question back
to recall once more (see `builder`). Each node adds one line to ``steps`` saying what it did.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from agentkit.controller.compose import combine_cues, compose_answer
from agentkit.controller.follow_up import Previous, rewrite_follow_up
from agentkit.controller.lm_plan import plan_with_lm
from agentkit.controller.plan import CONCEPT_KINDS, QuestionKind, parse_question
from agentkit.controller.recall import TIMELINE_KINDS, recall
from agentkit.controller.summary import recall_summary
from agentkit.controller.verify import verify_claims, verify_sightings
from agentkit.eeg.ask import answer_eeg, eeg_records
from agentkit.graph.state import AgentState, Turn

if TYPE_CHECKING:
    from agentkit.toolkit import Toolkit

__all__ = ["Node", "perceive_node", "remember_node", "plan_node", "eeg_node", "recall_node", "verify_node",
           "decide_node", "compose_node", "chunked", "MAX_RECALLS"]

logger = logging.getLogger(__name__)

Node = Callable[[AgentState], dict[str, Any]]

MAX_RECALLS = 2
"""Recall passes per question: the first, and one more when verification dropped every claim."""


class _Opaque:
    """A node function behind a plain object. LangGraph reads a function's closure at compile time
    and follows its attribute paths (``toolkit.frame_encoder``), which would load every model
    before the first question; an object's ``__call__`` is left alone."""

    def __init__(self, fn: Callable[[AgentState], dict[str, Any]]):
        self.fn, self.__name__, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __call__(self, state: AgentState) -> dict[str, Any]:
        return self.fn(state)


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items, streaming (never the whole iterable at once)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ---- indexing ---------------------------------------------------------------------------
def perceive_node(toolkit: "Toolkit") -> Node:
    """Stream the toolkit's perceiver over ``state.path`` into memory, resuming where it stopped."""

    def perceive(state: AgentState) -> dict[str, Any]:
        path = state.path
        source = state.source or toolkit.source_id(path)
        fps = float(state.fps or toolkit.fps)
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

    return _Opaque(perceive)


def _duration(path: str) -> float | None:
    """The file's length from its header, or None (custom perceivers may read other files)."""
    from perception.errors import InputError
    from perception.video import probe

    try:
        return float(probe(path).duration) or None
    except (InputError, OSError, ValueError):
        return None


def remember_node(toolkit: "Toolkit") -> Node:
    """Mark the source complete in memory and report how many records it holds."""

    def remember(state: AgentState) -> dict[str, Any]:
        memory = toolkit.memory
        memory.mark_done(state.source, float(state.indexed_until or 0.0), path=state.path)
        return {"n_records": memory.count(state.source)}

    return _Opaque(remember)


# ---- asking -----------------------------------------------------------------------------
def plan_node(toolkit: "Toolkit") -> Node:
    """Read the question as a plan: rewrite a follow-up against the last turn, then plan it
    (with the plugged planner LM when there is one, else the grammar)."""

    def plan(state: AgentState) -> dict[str, Any]:
        last = state.history[-1] if state.history else None
        previous = None
        if last is not None:
            main = last.evidence[0] if last.evidence else None
            named = next((t.plan for t in reversed(state.history) if t.plan.subject or t.plan.text_cues), None)
            previous = Previous(last.plan, main.t0 if main else None, main.t1 if main else None, named)
        question, note = rewrite_follow_up(state.question, previous)
        notices = []
        if note and previous is None and state.thread:
            notices.append(f'Thread "{state.thread}" has no earlier turn, so this starts a new conversation ({note}).')
        lm = toolkit.planner
        p = plan_with_lm(question, lm, state.options or None) if lm is not None else parse_question(question, state.options or None)
        if note and previous is not None:
            p = p.model_copy(update={"origin": "follow-up", "notes": (*p.notes, f'follow-up {note}')})
        steps = [f"plan: {p.describe()}" + "".join(f"; {n}" for n in p.notes)]
        return {"plan": p, "steps": steps, "notices": notices}

    return _Opaque(plan)


def route_after_plan(toolkit: "Toolkit") -> Callable[[AgentState], str]:
    """To the EEG families when the memory asked about holds EEG records, else to recall."""

    def route(state: AgentState) -> str:
        reader = toolkit.memory.reader()
        source = state.ask_source or None
        has_eeg = getattr(reader, "has_eeg", None)
        if has_eeg is not None:  # a store query for EEG rows: no full read of a video source
            return "eeg" if has_eeg(source) else "recall"
        return "eeg" if eeg_records(reader.records(source)) else "recall"

    return route


def eeg_node(toolkit: "Toolkit") -> Node:
    """Answer the EEG question families (band power, artifacts, bad channels, eyes, annotations)."""

    def eeg(state: AgentState) -> dict[str, Any]:
        answer = answer_eeg(state.question, toolkit.memory.reader(), state.ask_source or None)
        if answer is None:
            return {"steps": [*state.steps, "eeg: not an EEG question family; recalling as for video"]}
        return {"answer": answer, "steps": [*state.steps, f"eeg: answered from the EEG records ({answer.kind or 'eeg'})"]}

    return _Opaque(eeg)


def recall_node(toolkit: "Toolkit") -> Node:
    """Fetch the plan's evidence from memory, with metamemory (what part of the source was seen)
    and the evidence checks the calibrator reads."""

    def recall_step(state: AgentState) -> dict[str, Any]:
        plan, reader = state.plan, toolkit.memory.reader()
        source = state.ask_source or None
        config = toolkit.recall_config
        if state.attempt > 0:  # recall more: a wider net, now that the best claims were dropped
            config = replace(config, match=replace(config.match, max_spans=2 * config.match.max_spans,
                                                   span_floor=0.5 * config.match.span_floor))
        vocabulary = toolkit.vocabulary if plan.kind in CONCEPT_KINDS | {QuestionKind.ORDER, QuestionKind.BETWEEN,
                                                                          QuestionKind.AFTER, QuestionKind.BEFORE} else None
        findings = recall_summary(plan, toolkit.memory.store, source=source, vocabulary=toolkit.vocabulary,
                                  live=toolkit.live_slots) \
            if plan.kind is QuestionKind.SUMMARY else recall(plan, reader, toolkit.embed_text, source=source,
                                                             centroid=toolkit.concept_centroid, config=config,
                                                             vocabulary=vocabulary)
        if state.attempt > 0 and state.findings is not None:
            _skip_dropped(findings, state.findings.checks)
        sources = [source] if source else reader.sources()
        coverage = [c for c in (toolkit.memory.coverage(s) for s in sources) if c is not None]
        if len(coverage) == 1:
            findings.seen_until = coverage[0].seen[-1][1] if coverage[0].seen else 0.0
            findings.duration = coverage[0].duration
        findings.coverage = coverage
        if plan.kind in CONCEPT_KINDS and plan.subject and not plan.text_cues:
            findings.vocab_sim, findings.nearest_names = toolkit.vocabulary_match(plan.subject)
            concept = next((c for c in findings.cues if c.kind == "concept" and c.spans), None)
            if concept is not None:
                findings.label_fit, findings.recurrence = _evidence_checks(toolkit, reader, source, plan.subject,
                                                                           concept.spans[0])
        matched = sum(len(c.spans) for c in findings.cues) + len(findings.context) + len(findings.option_findings)
        expanded = ""
        if findings.expansion is not None:
            expanded = f'; "{plan.subject}" expanded to {len(findings.expansion.names)} label names ({findings.expansion.sense})'
        read = getattr(reader, "segments_read", 0)  # segments read from the store by this recall
        how = getattr(reader, "scan_note", None) or (f"full scan: read {read} segments" if read else "")
        step = (f"recall #{state.attempt + 1}: {findings.n_records} records, {matched} pieces of evidence{expanded}"
                + (f"; {how}" if how else ""))
        return {"findings": findings, "attempt": state.attempt + 1, "steps": [*state.steps, step]}

    return _Opaque(recall_step)


def _skip_dropped(findings, checks) -> None:
    """Leave out of a second recall the spans the verify step already dropped."""
    dropped = [(c.source, c.t0, c.t1) for c in checks if c.action == "dropped"]
    for cue in findings.cues:
        cue.spans = [s for s in cue.spans if not any(s.source == src and s.t0 < t1 and s.t1 > t0
                                                       for src, t0, t1 in dropped)]
    findings.checks = list(checks)


def _evidence_checks(toolkit: "Toolkit", reader, source: str | None, subject: str, best) -> tuple[float | None, float]:
    """Look again at the best concept span: do its labels carry the subject's name (`Toolkit.label_fit`),
    and how much of the source carries the same top label (a recurring background scene, not a rare sighting)?"""
    sample = reader.sampled(best.source) if getattr(reader, "scan_note", None) and hasattr(reader, "sampled") else []
    if sample:  # the gated path: what it read holds the span; the source's share from its strided sample
        records, pool = reader.seen(best.source), sample
    else:
        records = [r for r in reader.records(source) if r.source == best.source]
        pool = records
    seen: dict[str, float] = {}
    for r in records:
        if r.t0 < best.t1 and r.t1 > best.t0:
            for name, value in r.labels.items():
                seen[name] = max(value, seen.get(name, 0.0))
    if not seen:
        return None, 0.0
    top = max(seen, key=seen.get)
    recurrence = sum(1 for r in pool if r.labels and r.top_labels(1)[0] == top) / max(1, len(pool))
    return toolkit.label_fit(subject, seen), recurrence


def verify_node(toolkit: "Toolkit") -> Node:
    """Look at the evidence frames again (`agentkit.controller.verify`): the claims of concept
    questions, and the moment a "what is shown at mm:ss" question names."""

    def verify(state: AgentState) -> dict[str, Any]:
        left = state.deadline - time.time() if state.deadline else None
        if left is not None and left < toolkit.verify_cost_s:
            return {"steps": [*state.steps, f"verify: skipped ({max(left, 0.0) * 1e3:.0f} ms of the budget left, a "
                                            f"check takes about {toolkit.verify_cost_s * 1e3:.0f} ms)"],
                    "notices": [*state.notices, "not verified: the time budget left no time to look at the evidence "
                                                "frames again"]}
        started = time.perf_counter()
        out = check(state)
        if "findings" in out:  # frames were looked at: learn what that costs
            toolkit.verify_cost_s = 0.7 * toolkit.verify_cost_s + 0.3 * (time.perf_counter() - started)
        return out

    def check(state: AgentState) -> dict[str, Any]:
        f, plan = state.findings.model_copy(deep=True), state.plan
        if plan.kind is QuestionKind.AROUND and f.context:
            return {"findings": _look_at_moment(toolkit, f, plan.times[0]),
                    "steps": [*state.steps, f"verify: looked at {plan.times[0]:g} s again"]}

        def query_for(cue):
            return toolkit.query_vector(cue.cue) if cue.kind == "concept" else None

        chosen, _, _ = combine_cues(f.cues)
        if plan.kind not in CONCEPT_KINDS or chosen is None or chosen.kind == "text":
            why = "exact on-screen text" if chosen is not None and chosen.kind == "text" else "nothing to re-check"
            return {"steps": [*state.steps, f"verify: skipped ({why})"]}
        if plan.kind in TIMELINE_KINDS:
            checks = verify_sightings(f, chosen, toolkit.look, query_for, toolkit.verify_config, toolkit.recall_config.match)
        else:
            checks = verify_claims(f, chosen, toolkit.look, query_for(chosen), toolkit.verify_config,
                                   toolkit.recall_config.match)
        f.checks = [*f.checks, *checks]
        if checks and checks[0].near_miss is not None:
            f.near_miss = checks[0].near_miss
        summary = ", ".join(f"{c.action} {c.t0:.0f}-{c.t1:.0f}s" for c in checks) or "no claims"
        return {"findings": f, "steps": [*state.steps, f"verify: {summary}"]}

    return _Opaque(verify)


def _look_at_moment(toolkit: "Toolkit", f, t: float):
    """Describe "what is shown at t" from the frame at t itself, not the segment's stored labels."""
    nearest = min(f.context, key=lambda e: 0.0 if e.t0 <= t <= e.t1 else min(abs(e.t0 - t), abs(e.t1 - t)))
    frames = toolkit.look(nearest.source, t, t + 0.5, 1)
    if frames:
        labels = sorted(frames[0].labels.items(), key=lambda kv: -kv[1])
        i = f.context.index(nearest)
        f.context[i] = nearest.model_copy(update={"labels": [k for k, _ in labels[:3]], "t0": t, "t1": t + 0.5,
                                                  "score": round(labels[0][1], 4) if labels else nearest.score,
                                                  "why": "the frame at the asked time, looked at again"})
    return f


def decide_node(toolkit: "Toolkit") -> Node:
    """Answer, recall once more (verification dropped every claim and a pass is left), or abstain
    (memory is empty). Questions about a time memory has not seen are declined by compose."""

    def decide(state: AgentState) -> dict[str, Any]:
        f = state.findings
        dropped = [c for c in f.checks if c.action == "dropped"]
        chosen, _, _ = combine_cues(f.cues)
        if f.n_records == 0:
            decision, why = "abstain", "memory is empty"
        elif dropped and chosen is None and state.attempt < MAX_RECALLS and not (state.deadline and time.time() > state.deadline):
            decision, why = "recall_more", f"verification dropped {len(dropped)} claim(s); looking further"
        else:
            decision, why = "answer", "evidence checked" if f.checks else "evidence gathered"
        return {"decision": decision, "steps": [*state.steps, f"decide: {decision} ({why})"]}

    return _Opaque(decide)


def compose_node(toolkit: "Toolkit") -> Node:
    """Write the answer (with the language model for the kinds in `Toolkit.lm_kinds`), calibrate it,
    attach the plan, the checks and the steps, and remember the turn for follow-ups."""

    def compose(state: AgentState) -> dict[str, Any]:
        answer = state.answer
        steps = list(state.steps)
        if answer is None:
            f = state.findings
            lm = toolkit.language_model if f.kind in toolkit.lm_kinds else None
            answer = compose_answer(f, lm, toolkit.answer_config, toolkit.calibrator)
            answer.checks = list(f.checks)
            if state.decision == "abstain":
                answer.abstained = True
        steps.append(f"compose: {answer.kind or 'answer'} at confidence {answer.confidence:.2f}"
                     + (" (abstained)" if answer.abstained else ""))
        answer.plan = state.plan.model_dump(mode="json") if state.plan is not None else None
        answer.steps, answer.notices = steps, [*state.notices, *answer.notices]
        turn = Turn(question=state.question, plan=state.plan, answer=answer.text, evidence=answer.evidence[:3]) \
            if state.plan is not None else None
        history = [*state.history, turn][-20:] if turn is not None else state.history
        return {"answer": answer, "steps": steps, "history": history}

    return _Opaque(compose)
