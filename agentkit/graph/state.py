"""The graph's state: ids, paths, small numbers and text. Never arrays (they live in memory)."""
from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["AgentState"]


class AgentState(TypedDict, total=False):
    """What flows between nodes and is checkpointed after each step."""

    path: str
    """File to index; absent for an ask-only run."""
    source: str
    """Source id of ``path`` in memory (content hash unless the caller names it)."""
    fps: float
    """Sampling rate for perception, frames per second."""
    indexed_until: float
    """Seconds of ``source`` stored so far."""
    n_new: int
    """Records added by this run."""
    n_records: int
    """Records of ``source`` in memory after remembering."""
    question: str
    options: list[str]
    ask_source: str
    """Restrict recall to this source id; empty means every source in memory."""
    cues: dict[str, Any]
    """Parsed question (`agentkit.controller.cues.Cues`) as plain values."""
    findings: dict[str, Any]
    """Recall's findings (`agentkit.controller.findings.Findings`) as plain values."""
    answer: dict[str, Any]
    """The `agentkit.schemas.Answer` as plain values."""
