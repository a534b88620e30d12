"""Build the agent graph: collect nodes (builder methods return Self), then `compile()`.

Two chains share one graph. Indexing runs ``perceive -> remember``; asking runs
``recall -> answer``. START routes on the input (a ``path`` to index, a ``question`` to answer,
or both: index first, then answer). Nodes can be replaced, and new nodes inserted after any node
of a chain, before compiling.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph

from agentkit.graph.nodes import Node, answer_node, perceive_node, recall_node, remember_node
from agentkit.graph.state import AgentState

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph
    from typing_extensions import Self

    from agentkit.toolkit import Toolkit

__all__ = ["AgentGraph", "sqlite_checkpointer", "CHECKPOINT_FILE"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoints.sqlite"
"""Name of the LangGraph checkpoint database inside a store folder."""


def sqlite_checkpointer(folder: str | Path) -> "BaseCheckpointSaver":
    """A LangGraph `SqliteSaver` whose database lives in ``folder`` (the store folder)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(folder / CHECKPOINT_FILE), check_same_thread=False)
    return SqliteSaver(conn)


class AgentGraph:
    """Builder of the agent's LangGraph graph.

    Example:
        ```python
        graph = (
            AgentGraph(toolkit)
            .replace_node("answer", my_answerer)         # your own answerer
            .add_node("log", my_logger, after="recall")  # runs between recall and answer
            .compile()
        )
        graph.invoke({"question": "when does the cat appear?"}, {"configurable": {"thread_id": "1"}})
        ```
    """

    def __init__(self, toolkit: "Toolkit | None" = None):
        self.toolkit = toolkit
        self._chains: dict[str, list[str]] = {"index": [], "ask": []}
        self._nodes: dict[str, Node] = {}
        if toolkit is not None:
            self._chains = {"index": ["perceive", "remember"], "ask": ["recall", "answer"]}
            self._nodes = {
                "perceive": perceive_node(toolkit), "remember": remember_node(toolkit),
                "recall": recall_node(toolkit), "answer": answer_node(toolkit),
            }

    @property
    def nodes(self) -> dict[str, list[str]]:
        """Node names per chain, in order ({"index": [...], "ask": [...]})."""
        return {k: list(v) for k, v in self._chains.items()}

    def replace_node(self, name: str, node: Node) -> "Self":
        """Swap the function behind an existing node (e.g. your own perception or answerer)."""
        if name not in self._nodes:
            raise ValueError(f"name must be an existing node ({', '.join(self._nodes)}), got {name!r}")
        if not callable(node):
            raise TypeError(f"node must be callable, got {type(node).__name__}")
        self._nodes[name] = node
        return self

    def add_node(self, name: str, node: Node, *, after: str) -> "Self":
        """Insert a new node right after ``after`` in that node's chain."""
        if not isinstance(name, str) or not name or name in self._nodes or name in (START, END):
            raise ValueError(f"name must be a new, non-empty node name, got {name!r}")
        if not callable(node):
            raise TypeError(f"node must be callable, got {type(node).__name__}")
        for chain in self._chains.values():
            if after in chain:
                chain.insert(chain.index(after) + 1, name)
                self._nodes[name] = node
                return self
        raise ValueError(f"after must name an existing node ({', '.join(self._nodes)}), got {after!r}")

    def set_chain(self, chain: str, names: list[str], nodes: dict[str, Node] | None = None) -> "Self":
        """Define a whole chain ("index" or "ask") at once, e.g. for a graph built from scratch."""
        if chain not in self._chains:
            raise ValueError(f"chain must be 'index' or 'ask', got {chain!r}")
        for name, node in (nodes or {}).items():
            if not callable(node):
                raise TypeError(f"nodes[{name!r}] must be callable, got {type(node).__name__}")
            self._nodes[name] = node
        missing = [n for n in names if n not in self._nodes]
        if missing:
            raise ValueError(f"names holds nodes that were never added: {missing}")
        self._chains[chain] = list(names)
        return self

    def validate(self) -> None:
        """Check the graph can run: both chains non-empty, every node defined once."""
        for chain, names in self._chains.items():
            if not names:
                raise ValueError(f"the {chain!r} chain has no nodes")
        flat = [n for names in self._chains.values() for n in names]
        if len(flat) != len(set(flat)):
            raise ValueError(f"a node appears in more than one place: {flat}")

    def compile(self, checkpointer: "BaseCheckpointSaver | None" = None, **kwargs: Any) -> "CompiledStateGraph":
        """Validate and compile into a runnable LangGraph graph.

        Args:
            checkpointer: Where LangGraph checkpoints each step; `Agent` passes a `SqliteSaver`
                in the store folder (`sqlite_checkpointer`). None compiles without checkpoints.
            **kwargs: Passed to `StateGraph.compile` (``interrupt_before``, ``debug``, ...).
        """
        self.validate()
        index, ask = self._chains["index"], self._chains["ask"]
        graph = StateGraph(AgentState)
        for name in (*index, *ask):
            graph.add_node(name, self._nodes[name])

        def route_start(state: AgentState) -> str:
            if state.get("path"):
                return index[0]
            if state.get("question"):
                return ask[0]
            return END

        def route_after_index(state: AgentState) -> str:
            return ask[0] if state.get("question") else END

        graph.add_conditional_edges(START, route_start, [index[0], ask[0], END])
        for a, b in zip(index, index[1:]):
            graph.add_edge(a, b)
        graph.add_conditional_edges(index[-1], route_after_index, [ask[0], END])
        for a, b in zip(ask, ask[1:]):
            graph.add_edge(a, b)
        graph.add_edge(ask[-1], END)
        return graph.compile(checkpointer=checkpointer, **kwargs)
