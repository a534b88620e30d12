"""Recall: fetch the evidence a plan points to, without deciding the answer yet.

One function per recall operator; `recall` picks it by the plan's kind. A plan's time window
restricts every operator to the records inside it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from agentkit.controller.compose import combine_cues
from agentkit.controller.evidence import MemoryReader, Record
from agentkit.controller.findings import CueFinding, ExpansionFinding, Findings, cue_finding, record_evidence
from agentkit.controller.gated_recall import GatedScan, gated_cues, gated_scan
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
from agentkit.controller.plan import CONCEPT_KINDS, Plan, QuestionKind, parse_question
from agentkit.schemas import Evidence

__all__ = ["RecallConfig", "Recaller", "recall", "TIMELINE_KINDS"]

TIMELINE_KINDS = frozenset({QuestionKind.COUNT, QuestionKind.FIRST, QuestionKind.LAST, QuestionKind.NTH,
                            QuestionKind.DURATION})
"""Operators that read the subject's whole timeline: every occurrence counts, not only the best."""

logger = logging.getLogger(__name__)

Vocabulary = Callable[[str], "object"]
"""``vocabulary(phrase) -> perception.image.hierarchy.Expansion`` (names the phrase covers, near misses)."""


@dataclass(frozen=True)
class RecallConfig:
    """How wide recall looks."""

    match: MatchConfig = field(default_factory=MatchConfig)
    window: float = 2.0
    """Seconds each side of a named time ("around 00:42")."""
    after_window: float = 12.0
    """Seconds after X's first span that "what happens after X" looks at (and before it, for "before")."""
    max_context: int = 12
    timeline_z: float = 0.0
    """Count, first, last, n-th and duration keep spans whose z reaches the chance maximum plus this."""
    timeline_spans: int = 20
    gated: bool = field(default_factory=lambda: os.environ.get("AGENTKIT_GATED_RECALL", "1").strip().lower()
                        not in ("0", "off", "false", "no"))
    """Whether, when, count, first, n-th, last and duration read a long source through its indexes,
    only the segments that can change the answer (`agentkit.controller.gated_recall`); off: always
    the full scan. The environment variable ``AGENTKIT_GATED_RECALL=0`` turns the default off."""
    gated_min_segments: int = 600
    """Sources with fewer segments than this take the full scan (it is cheap there)."""
    gated_max_hits: int = 512
    """The most segments one index lookup of the gated path reads (the best matching ones); a
    subject matched by more segments than this loses only its weakest sightings."""
    gated_sample: int = 192
    """Segments in the strided sample the gated path takes the concept background from."""
    gated_nearest: int = 8
    """The gated path also reads the subject's this many best concept matches from the vector index."""


def _timeline(config: RecallConfig) -> RecallConfig:
    """The matching knobs of the whole-timeline operators: every span above chance, no floor."""
    return replace(config, match=replace(config.match, timeline_z=config.timeline_z, span_floor=0.0,
                                         max_spans=config.timeline_spans))


def _anchor(cue_findings: list[CueFinding]) -> Evidence | None:
    """X's first span: the earliest span of the most confident non-term cue, among its strong spans."""
    ranked = sorted((c for c in cue_findings if c.kind != "term" and c.spans), key=lambda c: -c.confidence)
    if not ranked:
        return None
    spans = ranked[0].spans
    top = max(s.score for s in spans)
    strong = [s for s in spans if s.score >= 0.5 * top]
    return min(strong, key=lambda s: (s.source, s.t0))


class Recaller:
    """Recall for one plan over one memory read: the operators share the records and the matchers."""

    def __init__(self, plan: Plan, reader: MemoryReader, embed_text: EmbedText | None, *, source: str | None,
                 centroid: np.ndarray | None, config: RecallConfig, vocabulary: Vocabulary | None):
        self.plan, self.reader, self.embed_text = plan, reader, embed_text
        self.source, self.centroid, self.config, self.vocabulary = source, centroid, config, vocabulary
        self.within = plan.window
        self._all: list[Record] | None = None
        self._records: list[Record] | None = None
        self.scan: GatedScan | None = None
        """Set by `recall` when this plan reads its source through the gated reader."""

    @property
    def all_records(self) -> list[Record]:
        """Every record of the source, read on first use (the gated path never reads them all)."""
        if self._all is None:
            self._all = self.reader.records(self.source)
        return self._all

    @property
    def records(self) -> list[Record]:
        """The records inside the plan's time window (all of them without one)."""
        if self._records is None:
            w, records = self.within, self.all_records
            self._records = records if w is None else [r for r in records if r.t0 <= w[1] and r.t1 >= w[0]]
        return self._records

    # ---- cues ---------------------------------------------------------------------------
    def cues(self, plan: Plan, expansion: ExpansionFinding | None = None) -> list[CueFinding]:
        """Text cues first (they are precise), then the subject by label name and in the concept space."""
        cfg, out = self.config.match, []
        for cue in plan.text_cues:
            out.append(cue_finding(match_text(self.records, cue, config=cfg)))
        phrase = plan.subject
        if not phrase:
            return out
        names = tuple(expansion.names) if expansion is not None else ()
        by_label = match_label(self.records, phrase, names=names, config=cfg)
        if by_label.spans:
            out.append(cue_finding(by_label))
        if self.embed_text is None:
            logger.warning("no text embedder: the phrase %r is matched against on-screen text only", phrase)
            out.append(cue_finding(match_text(self.records, phrase, config=cfg)))
            return out
        out.append(self._concept(phrase))
        for term in plan.terms:
            finding = self._concept(term)
            finding.kind = "term"
            out.append(finding)
        return out

    def _concept(self, phrase: str) -> CueFinding:
        return cue_finding(match_concept(self.reader, self.embed_text, phrase, source=self.source, within=self.within,
                                         centroid=self.centroid, config=self.config.match))

    def expand(self, phrase: str) -> ExpansionFinding | None:
        """The phrase in the frame encoder's own vocabulary (thinking to recall), when it has one."""
        if self.vocabulary is None or not phrase:
            return None
        found = self.vocabulary(phrase)
        if not getattr(found, "known", False):
            return None
        return ExpansionFinding(phrase=phrase, sense=found.sense, names=list(found.names),
                                near_misses=list(found.near_misses))

    def item_cues(self, item: str, timeline: bool = False) -> list[CueFinding]:
        """Cue findings for one named item of an "order" or "between" question, as if asked "when"
        (or, with ``timeline``, "when for the first time": every span above chance counts)."""
        plan = parse_question(f"When does {item} appear{' for the first time' if timeline else ''}?")
        if not timeline:
            return self.cues(plan, self.expand(plan.subject))
        saved = self.config
        self.config = _timeline(saved)
        try:
            return self.cues(plan, self.expand(plan.subject))
        finally:
            self.config = saved

    def evidence(self, records: list[Record], why: str, score: Callable[[Record], float] | None = None) -> list[Evidence]:
        return [record_evidence(r, why, score(r) if score else 1.0) for r in records]

    # ---- operators ----------------------------------------------------------------------
    def concept(self, f: Findings) -> None:
        """when, whether, count, first, last, nth, duration: the subject's own spans.

        The operators that read the whole timeline keep every span that stands above chance (not
        only those near the best), up to `RecallConfig.timeline_spans`; the verify step then
        looks at each again."""
        if self.plan.kind in TIMELINE_KINDS:
            self.config = _timeline(self.config)
        f.expansion = self.expand(self.plan.subject) if not self.plan.text_cues else None
        gated = gated_cues(self, self.plan, f.expansion, self.scan) if self.scan is not None else None
        if gated is None:
            self.scan = None
        f.cues = gated if gated is not None else self.cues(self.plan, f.expansion)
        if f.expansion is not None:
            f.expansion.matched = sorted({lab for c in f.cues if c.kind == "label" for s in c.spans
                                          for lab in s.labels if lab in set(f.expansion.names)})

    def order(self, f: Findings) -> None:
        """Each item's first sighting by any of its cues (concept match or label names)."""
        f.items = list(self.plan.items)
        for item in self.plan.items:
            found = self.item_cues(item, timeline=True)
            chosen, conf, _ = combine_cues(found)
            if chosen is None:
                f.option_findings.append(CueFinding(cue=item, kind="concept", confidence=0.0))
                continue
            spans = [s for c in found if c.kind in ("concept", "label", "text") for s in c.spans]
            f.option_findings.append(chosen.model_copy(update={"confidence": conf, "spans": spans}))

    def between(self, f: Findings) -> None:
        f.items = list(self.plan.items[:2])
        anchors = []
        for item in self.plan.items[:2]:
            found = self.item_cues(item)
            f.cues += found
            anchors.append(_anchor(found))
        if len(anchors) != 2 or any(a is None for a in anchors):
            return
        a, b = sorted(anchors, key=lambda e: (e.source, e.t0))
        f.anchor, f.anchor_end = a, b
        same = [r for r in self.records if r.source == a.source]
        between = [r for r in same if r.t0 >= a.t1 - 1e-6 and r.t1 <= b.t0 + 1e-6]
        # What "appears" in between is what stands out: a confident label that is rare in the
        # rest of the source (recurring background scenes carry the common labels).
        tops = [r.top_labels(1)[0] for r in same if r.labels]
        share = {name: tops.count(name) / len(tops) for name in set(tops)}

        def distinct(r: Record) -> float:
            top = r.top_labels(1)
            return max(r.labels.values(), default=0.0) * (1.0 - share.get(top[0], 0.0)) if top else 0.0

        between.sort(key=lambda r: -distinct(r))
        f.context += self.evidence(between[: self.config.max_context], "stands out between the two anchors", distinct)

    def state(self, f: Findings) -> None:
        limit = self.plan.times[0] if self.plan.times else float("inf")
        hit = self.config.match.text_hit
        readings = [r for r in self.records if r.t0 <= limit and r.text and text_ratio(self.plan.subject, r.text) >= hit]
        if readings:
            last = max(readings, key=lambda r: r.t1)
            conf = ocr_confidence(last, self.config.match.default_ocr_confidence)
            f.context.append(record_evidence(last, f'the latest reading of "{self.plan.subject}" before the asked time', conf))

    def around(self, f: Findings) -> None:
        for t in self.plan.times:
            for r in records_near(self.records, t, self.config.window):
                f.context.append(record_evidence(r, f"overlaps {self.config.window:g} s around the asked time",
                                                 max(r.labels.values(), default=0.0)))

    def text(self, f: Findings) -> None:
        pool = self.records
        if self.plan.times:
            pool = [r for t in self.plan.times for r in records_near(self.records, t, self.config.window)]
        default = self.config.match.default_ocr_confidence
        f.context += [record_evidence(r, "text read on screen (OCR)", ocr_confidence(r, default))
                      for r in pool if r.text.strip()]

    def neighbours(self, f: Findings) -> None:
        """after / before: the segments that follow (or precede) X's first span, or a named time."""
        if self.plan.times:
            t = self.plan.times[0]
            sources = {r.source for r in self.records}
            f.anchor = Evidence(source=self.source or (sources.pop() if len(sources) == 1 else ""), t0=t, t1=t,
                                score=1.0, why="time named in the question")
        else:
            f.expansion = self.expand(self.plan.subject) if not self.plan.text_cues else None
            f.cues = self.cues(self.plan, f.expansion)
            f.anchor = _anchor(f.cues)
        if f.anchor is None:
            return
        a, span = f.anchor, self.config.after_window
        same = [r for r in self.records if not a.source or r.source == a.source]
        if self.plan.kind is QuestionKind.BEFORE:
            near = [r for r in same if a.t0 - span <= r.t1 <= a.t0 + 1e-6 and r.t0 < a.t0][::-1]
            why = "precedes the anchor span"
        else:
            near = [r for r in same if a.t1 - 1e-6 <= r.t0 <= a.t1 + span]
            why = "follows the anchor span"
        f.context += self.evidence(near[: self.config.max_context], why)

    def choice(self, f: Findings) -> None:
        within = self.within
        if self.plan.times:
            t = self.plan.times[0]
            within = (max(0.0, t - self.config.window), t + self.config.window)
        inside = [r for r in self.records if within is None or (r.t0 <= within[1] and r.t1 >= within[0])]
        for option in self.plan.options:
            found = []
            if self.embed_text is not None:
                found.append(cue_finding(match_concept(self.reader, self.embed_text, option, source=self.source,
                                                       within=within, centroid=self.centroid, config=self.config.match)))
            # Options that look like on-screen text (codes, capitals, digits) are also read as text.
            if self.embed_text is None or option.isupper() or any(ch.isdigit() for ch in option):
                found.append(cue_finding(match_text(inside, option, config=self.config.match)))
            f.option_findings.append(max(found, key=lambda c: c.confidence))
        if self.plan.times:
            f.context += self.evidence(records_near(self.records, self.plan.times[0], self.config.window),
                                       "overlaps the asked time")


def _note(reader: MemoryReader, text: str | None) -> None:
    """Leave on the reader how the last recall read memory (the recall step's line says it)."""
    try:
        reader.scan_note = text  # type: ignore[attr-defined]
    except AttributeError:  # a reader with slots: no note
        pass


_OPERATORS: dict[QuestionKind, Callable[[Recaller, Findings], None]] = {
    **{k: Recaller.concept for k in CONCEPT_KINDS},
    QuestionKind.ORDER: Recaller.order,
    QuestionKind.BETWEEN: Recaller.between,
    QuestionKind.STATE: Recaller.state,
    QuestionKind.AROUND: Recaller.around,
    QuestionKind.TEXT: Recaller.text,
    QuestionKind.AFTER: Recaller.neighbours,
    QuestionKind.BEFORE: Recaller.neighbours,
    QuestionKind.CHOICE: Recaller.choice,
}


def _findings(plan: Plan, n_records: int) -> Findings:
    """Empty findings carrying what the answer step needs of the plan."""
    return Findings(question=plan.question, kind=plan.kind.value, subject=plan.subject, times=list(plan.times),
                    options=list(plan.options), n=plan.n, window=plan.window, n_records=n_records,
                    unsupported=plan.unsupported)


def recall(
    plan: Plan,
    reader: MemoryReader,
    embed_text: EmbedText | None,
    *,
    source: str | None = None,
    centroid: np.ndarray | None = None,
    config: RecallConfig = RecallConfig(),
    vocabulary: Vocabulary | None = None,
) -> Findings:
    """Fetch the evidence for ``plan`` from memory.

    Args:
        plan: The question's plan (`parse_question` or a language model's).
        reader: Memory to read.
        embed_text: Maps phrases into the concept space of the stored records (the frame
            encoder's ``embed_text``); None matches phrases against stored text only.
        source: Restrict to one source id; None searches every source in memory.
        centroid: Mean embedding of a reference vocabulary in the concept space; removes hub
            records from phrase matching (see `match_concept`). None matches raw similarity.
        config: Window sizes and matching knobs.
        vocabulary: Expands a phrase into the frame encoder's label names and near misses
            (`perception.image.hierarchy`); None matches the phrase as given.

    Returns:
        JSON-able findings for the answer step.
    """
    recaller = Recaller(plan, reader, embed_text, source=source, centroid=centroid, config=config, vocabulary=vocabulary)
    scan = gated_scan(plan, reader, embed_text, source, config)
    if scan is not None:  # whether / first / n-th / last on a long source: read until the exit gate opens
        recaller.scan = scan
        findings = _findings(plan, scan.n)
        _OPERATORS[plan.kind](recaller, findings)
        if recaller.scan is not None:
            findings.n_records = scan.n
            _note(reader, scan.describe(getattr(reader, "segments_read", 0)))
            return findings
        # the gated reading declined (no vectors, or shorter than the threshold): the full scan
    recaller.scan = None
    _note(reader, None)
    findings = _findings(plan, len(recaller.all_records))
    if not recaller.records:
        return findings
    _OPERATORS[plan.kind](recaller, findings)
    if plan.kind is not QuestionKind.TEXT:
        findings.context = findings.context[: config.max_context]
    return findings
