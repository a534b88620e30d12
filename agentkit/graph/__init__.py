"""The agent as a LangGraph graph: perceive -> remember to index; plan -> recall -> verify -> decide -> compose to ask."""
from agentkit.graph.builder import AgentGraph
from agentkit.graph.state import AgentState

__all__ = ["AgentGraph", "AgentState"]
