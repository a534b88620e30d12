"""What recall found, as small JSON-able records that fit in graph state and checkpoints."""
from __future__ import annotations

from pydantic import BaseModel, Field

from agentkit.controller.evidence import Record, Span
from agentkit.controller.match import CueResult
from agentkit.schemas import Check, Coverage, Evidence

__all__ = ["CueFinding", "ExpansionFinding", "Findings", "record_evidence", "span_evidence", "cue_finding"]


class CueFinding(BaseModel):
    """One cue (or one multiple-choice option) and the spans it matched."""

    cue: str
    kind: str = Field(description='"concept", "text", "label" or "term"')
    confidence: float = Field(ge=0.0, le=1.0)
    spans: list[Evidence] = Field(default_factory=list, description="best first")
    stats: dict[str, float] = Field(default_factory=dict)


class ExpansionFinding(BaseModel):
    """The subject in the frame encoder's own vocabulary (thinking to recall), and what matched."""

    phrase: str
    sense: str = Field("", description='the WordNet sense used ("bus.n.01")')
    names: list[str] = Field(default_factory=list, description="label names the phrase covers")
    near_misses: list[str] = Field(default_factory=list, description="label names beside it: evidence against it")
    matched: list[str] = Field(default_factory=list, description="the names found in memory")


class Findings(BaseModel):
    """Everything the answer step needs; produced by the recall step."""

    question: str
    kind: str
    subject: str = ""
    times: list[float] = Field(default_factory=list)
    cues: list[CueFinding] = Field(default_factory=list)
    context: list[Evidence] = Field(default_factory=list, description="records near a time, after an anchor, or with text")
    anchor: Evidence | None = Field(None, description='the span "after X" is measured from')
    options: list[str] = Field(default_factory=list)
    option_findings: list[CueFinding] = Field(default_factory=list, description="per option, or per item of an order question")
    items: list[str] = Field(default_factory=list)
    anchor_end: Evidence | None = Field(None, description='the span "between A and B" ends at (B\'s)')
    n_records: int = 0
    seen_until: float | None = Field(None, description="end of what memory has indexed of the source(s), s")
    duration: float | None = Field(None, description="length of the source when one source is asked about, s")
    vocab_sim: float | None = Field(None, description="how close the subject is to anything the frame encoder can name")
    nearest_names: list[str] = Field(default_factory=list)
    label_fit: float | None = Field(None, description="0 when the best concept span's labels carry the subject's nearest name; negative for a near miss")
    recurrence: float | None = Field(None, description="share of the source's segments whose top label is the best concept span's")
    coverage: list[Coverage] = Field(default_factory=list)
    n: int | None = Field(None, description='which occurrence an "nth" question asks for')
    window: tuple[float, float] | None = Field(None, description="the time window recall was restricted to")
    expansion: ExpansionFinding | None = None
    near_miss: float | None = Field(None, description="label mass of near misses minus the subject's own, on the best span")
    checks: list[Check] = Field(default_factory=list, description="what the verify step looked at again")
    unsupported: str = Field("", description='what the question asks that no operator answers (`Plan.unsupported`)')
    occurrences: list[Evidence] = Field(default_factory=list, description="every verified sighting of the subject, "
                                        "from all its cues (the whole-timeline operators read these)")


def record_evidence(record: Record, why: str, score: float = 1.0) -> Evidence:
    """One stored record as evidence (video segment, EEG window or artifact)."""
    return Evidence(
        source=record.source, t0=record.t0, t1=record.t1, score=round(float(score), 4),
        labels=record.top_labels(3), text=record.text[:300], why=why,
    )


def span_evidence(span: Span) -> Evidence:
    """One merged span as an Evidence record (labels and text from its best hit)."""
    best = span.best
    texts = list(dict.fromkeys(h.record.text for h in span.hits if h.record.text))
    return Evidence(
        source=span.source, t0=span.t0, t1=span.t1, score=round(float(span.score), 4),
        labels=best.record.top_labels(3), text=" | ".join(texts)[:300], why=best.why,
    )


def cue_finding(result: CueResult) -> CueFinding:
    """A matcher's result as a JSON-able finding."""
    return CueFinding(
        cue=result.cue, kind=result.kind, confidence=round(float(result.confidence), 4),
        spans=[span_evidence(s) for s in result.spans],
        stats={k: round(float(v), 4) for k, v in result.stats.items()},
    )
