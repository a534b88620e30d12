"""The agent as a LangGraph graph: perceive -> remember -> recall -> answer."""
from agentkit.graph.builder import AgentGraph
from agentkit.graph.state import AgentState

__all__ = ["AgentGraph", "AgentState"]
