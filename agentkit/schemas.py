"""Pydantic models at the edges: what the agent answers and shows."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Evidence(BaseModel):
    """One piece of memory an answer rests on."""

    source: str = ""
    t0: float = Field(description="start, seconds")
    t1: float = Field(description="end, seconds")
    score: float = Field(description="how well this evidence matches the question's cues")
    labels: list[str] = Field(default_factory=list)
    text: str = ""
    why: str = Field("", description="which cue matched, in words")


class AnswerValue(BaseModel):
    """The answer as data, for programs (and for `agentkit eval` to judge); the spans are the evidence."""

    yes: bool | None = Field(None, description='"does X appear?": the verdict')
    option: int | None = Field(None, description="multiple choice: index of the chosen option (0-based)")
    option_scores: list[float] = Field(default_factory=list, description="multiple choice: each option's share")
    count: int | None = Field(None, description='"how many times?": distinct occurrences')
    seconds: float | None = Field(None, description='"how long is X on screen?": total seconds')
    order: list[str] = Field(default_factory=list, description="items in the order of their first appearance")
    labels: list[str] = Field(default_factory=list, description="what the answer says is shown, best first")
    texts: list[str] = Field(default_factory=list, description="on-screen text the answer reports")
    declined: str = Field("", description='why no answer was attempted: "unrecognised", "not_seen", "empty", "unsupported" (a why, who, where or attribute question), or ""')


class PredictionSet(BaseModel):
    """A split-conformal prediction set: holds the right answer with probability about 1 - alpha."""

    alpha: float
    options: list[int] = Field(default_factory=list, description="multiple choice: option indices in the set")
    spans: list[Evidence] = Field(default_factory=list, description='"when": candidate spans in the set')


class Coverage(BaseModel):
    """What part of a source memory has seen (metamemory)."""

    source: str
    seen: list[tuple[float, float]] = Field(default_factory=list, description="indexed time ranges, seconds")
    duration: float | None = Field(None, description="length of the source, seconds, when known")
    complete: bool = False
    indexing: bool = Field(False, description="an indexer is writing this source now")


class Check(BaseModel):
    """One claim looked at again by the verify step: kept, moved, or dropped, and why."""

    t0: float
    t1: float
    source: str = ""
    action: str = Field(description='"kept", "moved", "dropped" or "unchecked"')
    before: float = Field(description="the claim's score from memory")
    after: float | None = Field(None, description="its score on the frames looked at again")
    frames: int = 0
    labels: list[str] = Field(default_factory=list, description="what the frames looked at again show")
    near_miss: float | None = Field(None, description="near misses' label mass minus the subject's own, on those frames")
    why: str = ""


class Answer(BaseModel):
    """What the agent says, how sure it is, and what it rests on."""

    question: str
    text: str
    confidence: float = Field(ge=0.0, le=1.0, description="calibrated P(correct) when a calibrator is loaded")
    abstained: bool = False
    evidence: list[Evidence] = Field(default_factory=list)
    kind: str = Field("", description="the question family as the controller read it")
    raw_score: float | None = Field(None, description="evidence score before calibration")
    features: dict[str, float] = Field(default_factory=dict, description="evidence features the calibrator read")
    value: AnswerValue = Field(default_factory=AnswerValue)
    prediction_set: PredictionSet | None = None
    coverage: list[Coverage] = Field(default_factory=list, description="what memory has seen of the sources asked about")
    plan: dict[str, Any] | None = Field(None, description="the plan of recall operators the answer followed")
    checks: list[Check] = Field(default_factory=list, description="claims the verify step looked at again")
    steps: list[str] = Field(default_factory=list, description="what each step of the controller did")
    notices: list[str] = Field(default_factory=list, description="things to know about this answer (a new thread, a fallback)")
