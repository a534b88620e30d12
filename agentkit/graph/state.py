"""The graph's state: typed, small, and checkpointed after every step. Never arrays (they live in memory)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agentkit.controller.findings import Findings
from agentkit.controller.plan import Plan
from agentkit.schemas import Answer, Evidence

__all__ = ["AgentState", "Turn", "TURN_RESET", "CHECKPOINT_TYPES"]


class Turn(BaseModel):
    """One question and answer of a conversation: what a follow-up question can refer back to."""

    question: str
    plan: Plan
    answer: str
    evidence: list[Evidence] = Field(default_factory=list, description="the answer's main evidence, best first")


class AgentState(BaseModel):
    """What flows between the nodes. Indexing fields, one question's fields, and the conversation."""

    # indexing
    path: str = Field("", description="file to index; empty for an ask-only run")
    source: str = Field("", description="source id of ``path`` in memory")
    fps: float = Field(0.0, description="sampling rate for perception, frames per second")
    indexed_until: float = 0.0
    n_new: int = 0
    n_records: int = 0
    # one question (reset at every turn: see `TURN_RESET`)
    question: str = ""
    options: list[str] = Field(default_factory=list)
    ask_source: str = Field("", description="restrict recall to this source id; empty means every source")
    thread: str = Field("", description="the conversation's name; empty for a one-off question")
    plan: Plan | None = None
    findings: Findings | None = None
    decision: Literal["", "answer", "recall_more", "abstain"] = ""
    attempt: int = Field(0, description="recall passes made for this question")
    steps: list[str] = Field(default_factory=list, description="what each node did, in words (shown by -v)")
    notices: list[str] = Field(default_factory=list, description="things the user should know about this answer")
    deadline: float = Field(0.0, description="wall-clock time (time.time()) the answer is due by, from ask's "
                                             "budget_ms; 0 for none")
    answer: Answer | None = None
    # the conversation (kept across the turns of a thread)
    history: list[Turn] = Field(default_factory=list)


TURN_RESET = {"plan": None, "findings": None, "decision": "", "attempt": 0, "steps": [], "notices": [], "answer": None,
              "deadline": 0.0}
"""Per-question fields cleared when a new question arrives in a thread that already holds a turn."""

CHECKPOINT_TYPES = [
    ("agentkit.graph.state", "AgentState"), ("agentkit.graph.state", "Turn"),
    ("agentkit.controller.plan", "Plan"), ("agentkit.controller.plan", "QuestionKind"),
    ("agentkit.controller.findings", "Findings"), ("agentkit.controller.findings", "CueFinding"),
    ("agentkit.controller.findings", "ExpansionFinding"), ("agentkit.schemas", "Check"),
    ("agentkit.schemas", "Answer"), ("agentkit.schemas", "Evidence"), ("agentkit.schemas", "AnswerValue"),
    ("agentkit.schemas", "PredictionSet"), ("agentkit.schemas", "Coverage"),
]
"""The classes a checkpoint may hold: the only ones its deserialiser will rebuild."""
