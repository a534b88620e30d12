"""Recall: fetch the evidence a question's cues point to, without deciding the answer yet."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from agentkit.controller.compose import combine_cues
from agentkit.controller.cues import CONCEPT_KINDS, Cues, QuestionKind, parse_question
from agentkit.controller.evidence import MemoryReader, Record
from agentkit.controller.findings import CueFinding, Findings, cue_finding
from agentkit.controller.match import (
    EmbedText,
    MatchConfig,
    match_concept,
    match_label,
    match_text,
    ocr_confidence,
    records_near,
    text_ratio,
)
from agentkit.schemas import Evidence

__all__ = ["RecallConfig", "recall"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecallConfig:
    """How wide recall looks."""

    match: MatchConfig = field(default_factory=MatchConfig)
    window: float = 2.0
    """Seconds each side of a named time ("around 00:42")."""
    after_window: float = 12.0
    """Seconds after X's first span that "what happens after X" looks at."""
    max_context: int = 12


def record_evidence(record: Record, why: str, score: float = 1.0) -> Evidence:
    """A single record as evidence."""
    return Evidence(
        source=record.source, t0=record.t0, t1=record.t1, score=round(float(score), 4),
        labels=record.top_labels(3), text=record.text[:300], why=why,
    )


def _cue_results(reader, records, embed_text, cues: Cues, source, config, within=None, subject=None, centroid=None):
    """Text cues first (they are precise), then the subject and its words in the concept space."""
    out: list[CueFinding] = []
    for cue in cues.text_cues:
        inside = [r for r in records if within is None or (r.t0 <= within[1] and r.t1 >= within[0])]
        out.append(cue_finding(match_text(inside, cue, config=config.match)))
    phrase = cues.subject if subject is None else subject
    if phrase:
        by_label = match_label(records, phrase, config=config.match)
        if by_label.spans:
            out.append(cue_finding(by_label))
    if phrase and embed_text is not None:
        out.append(cue_finding(match_concept(reader, embed_text, phrase, source=source, within=within, centroid=centroid, config=config.match)))
        for term in cues.terms if subject is None else ():
            finding = cue_finding(match_concept(reader, embed_text, term, source=source, within=within, centroid=centroid, config=config.match))
            finding.kind = "term"
            out.append(finding)
    elif phrase:
        logger.warning("no text embedder: the phrase %r is matched against on-screen text only", phrase)
        out.append(cue_finding(match_text(records, phrase, config=config.match)))
    return out


def _anchor(cue_findings: list[CueFinding]) -> Evidence | None:
    """X's first span: the earliest span of the most confident non-term cue, among its strong spans."""
    ranked = sorted((c for c in cue_findings if c.kind != "term" and c.spans), key=lambda c: -c.confidence)
    if not ranked:
        return None
    spans = ranked[0].spans
    top = max(s.score for s in spans)
    strong = [s for s in spans if s.score >= 0.5 * top]
    return min(strong, key=lambda s: (s.source, s.t0))


def recall(
    cues: Cues,
    reader: MemoryReader,
    embed_text: EmbedText | None,
    *,
    source: str | None = None,
    centroid: np.ndarray | None = None,
    config: RecallConfig = RecallConfig(),
) -> Findings:
    """Fetch the evidence for ``cues`` from memory.

    Args:
        cues: Parsed question (`parse_question`).
        reader: Memory to read.
        embed_text: Maps phrases into the concept space of the stored records (the frame
            encoder's ``embed_text``); None matches phrases against stored text only.
        source: Restrict to one source id; None searches every source in memory.
        centroid: Mean embedding of a reference vocabulary in the concept space; removes hub
            records from phrase matching (see `match_concept`). None matches raw similarity.
        config: Window sizes and matching knobs.

    Returns:
        JSON-able findings for the answer step.
    """
    records = reader.records(source)
    findings = Findings(question=cues.question, kind=cues.kind.value, subject=cues.subject,
                        times=list(cues.times), options=list(cues.options), n_records=len(records))
    if not records:
        return findings
    kind = cues.kind

    def item_cues(item: str) -> list[CueFinding]:
        """Cue findings for one named item of an "order" or "between" question, as if asked "when"."""
        return _cue_results(reader, records, embed_text, parse_question(f"When does {item} appear?"), source,
                            config, centroid=centroid)

    if kind in CONCEPT_KINDS:
        findings.cues = _cue_results(reader, records, embed_text, cues, source, config, centroid=centroid)
    elif kind is QuestionKind.ORDER:
        findings.items = list(cues.items)
        for item in cues.items:
            chosen, conf, _ = combine_cues(item_cues(item))
            findings.option_findings.append(chosen.model_copy(update={"confidence": conf}) if chosen is not None
                                            else CueFinding(cue=item, kind="concept", confidence=0.0))
    elif kind is QuestionKind.BETWEEN:
        findings.items = list(cues.items[:2])
        anchors = []
        for item in cues.items[:2]:
            found = item_cues(item)
            findings.cues += found
            anchors.append(_anchor(found))
        if len(anchors) == 2 and all(a is not None for a in anchors):
            a, b = sorted(anchors, key=lambda e: (e.source, e.t0))
            findings.anchor, findings.anchor_end = a, b
            between = [r for r in records if r.source == a.source and r.t0 >= a.t1 - 1e-6 and r.t1 <= b.t0 + 1e-6]
            # What "appears" in between is what stands out: a confident label that is rare in the
            # rest of the source (recurring background scenes carry the common labels).
            tops = [r.top_labels(1)[0] for r in records if r.source == a.source and r.labels]
            share = {name: tops.count(name) / len(tops) for name in set(tops)}

            def distinct(r: Record) -> float:
                top = r.top_labels(1)
                return max(r.labels.values(), default=0.0) * (1.0 - share.get(top[0], 0.0)) if top else 0.0

            between.sort(key=lambda r: -distinct(r))
            for r in between[: config.max_context]:
                findings.context.append(record_evidence(r, "stands out between the two anchors", distinct(r)))
    elif kind is QuestionKind.STATE:
        limit = cues.times[0] if cues.times else float("inf")
        readings = [r for r in records if r.t0 <= limit and r.text
                    and text_ratio(cues.subject, r.text) >= config.match.text_hit]
        if readings:
            last = max(readings, key=lambda r: r.t1)
            conf = ocr_confidence(last, config.match.default_ocr_confidence)
            findings.context.append(record_evidence(last, f'the latest reading of "{cues.subject}" before the asked time', conf))
    elif kind is QuestionKind.AROUND:
        for t in cues.times:
            for r in records_near(records, t, config.window):
                findings.context.append(record_evidence(r, f"overlaps {config.window:g} s around the asked time", max(r.labels.values(), default=0.0)))
    elif kind is QuestionKind.TEXT:
        pool = records
        if cues.times:
            pool = [r for t in cues.times for r in records_near(records, t, config.window)]
        for r in pool:
            if r.text.strip():
                conf = ocr_confidence(r, config.match.default_ocr_confidence)
                findings.context.append(record_evidence(r, "text read on screen (OCR)", conf))
    elif kind is QuestionKind.AFTER:
        if cues.times:
            t = cues.times[0]
            findings.anchor = Evidence(t0=t, t1=t, score=1.0, why="time named in the question")
        else:
            findings.cues = _cue_results(reader, records, embed_text, cues, source, config, centroid=centroid)
            findings.anchor = _anchor(findings.cues)
        if findings.anchor is not None:
            a = findings.anchor
            after = [r for r in records if (not a.source or r.source == a.source) and r.t0 >= a.t1 - 1e-6
                     and r.t0 <= a.t1 + config.after_window]
            for r in after[: config.max_context]:
                findings.context.append(record_evidence(r, "follows the anchor span"))
    elif kind is QuestionKind.CHOICE:
        within = None
        if cues.times:
            within = (max(0.0, cues.times[0] - config.window), cues.times[0] + config.window)
        inside = [r for r in records if within is None or (r.t0 <= within[1] and r.t1 >= within[0])]
        for option in cues.options:
            found = []
            if embed_text is not None:
                found.append(cue_finding(match_concept(reader, embed_text, option, source=source, within=within, centroid=centroid, config=config.match)))
            # Options that look like on-screen text (codes, capitals, digits) are also read as text.
            if embed_text is None or option.isupper() or any(ch.isdigit() for ch in option):
                found.append(cue_finding(match_text(inside, option, config=config.match)))
            findings.option_findings.append(max(found, key=lambda c: c.confidence))
        if within is not None:
            for r in records_near(records, cues.times[0], config.window):
                findings.context.append(record_evidence(r, "overlaps the asked time"))
    if kind is not QuestionKind.TEXT:
        findings.context = findings.context[: config.max_context]
    return findings
