"""Pydantic models at the edges: what the agent answers and shows."""
from __future__ import annotations

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


class Answer(BaseModel):
    """What the agent says, how sure it is, and what it rests on."""

    question: str
    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    abstained: bool = False
    evidence: list[Evidence] = Field(default_factory=list)
