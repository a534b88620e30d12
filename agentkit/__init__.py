"""agentkit: agents that see, remember and answer with a confidence they can back up."""
from agentkit.schemas import Answer, Evidence

__all__ = ["Agent", "AgentGraph", "Answer", "Evidence", "IndexReport"]


def __getattr__(name: str):
    # Agent pulls in LangGraph; import it on first use so `agentkit --help` stays quick.
    if name in ("Agent", "IndexReport"):
        from agentkit import agent

        return getattr(agent, name)
    if name == "AgentGraph":
        from agentkit.graph import AgentGraph

        return AgentGraph
    raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
