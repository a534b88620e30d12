"""Build the agent graph: collect nodes (builder methods return Self), then `compile()`.

One graph, two paths. Indexing runs ``perceive -> remember``. Asking is the controller loop:

    plan -> [eeg] -> recall -> verify -> decide -> compose
                       ^__________________|  (recall more, at most `MAX_RECALLS` passes)

START routes on the input (a ``path`` to index, a ``question`` to answer, or both: index first,
then answer). After ``plan`` a conditional edge sends questions about EEG memory to ``eeg``, which
answers its families or hands over to ``recall``. Nodes can be replaced, and new nodes inserted
after any node, before compiling; ``set_chain("ask", ...)`` swaps the loop for a plain chain.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from langgraph.graph import END, START, StateGraph

from agentkit.graph.nodes import (
    MAX_RECALLS,
    Node,
    compose_node,
    decide_node,
    eeg_node,
    perceive_node,
    plan_node,
    recall_node,
    remember_node,
    route_after_plan,
    verify_node,
)
from agentkit.graph.state import CHECKPOINT_TYPES, AgentState

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph
    from typing_extensions import Self

    from agentkit.toolkit import Toolkit

__all__ = ["AgentGraph", "sqlite_checkpointer", "memory_checkpointer", "CHECKPOINT_FILE"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoints.sqlite"
"""Name of the LangGraph checkpoint database (conversation threads) inside a store folder."""


def _serde():
    """A checkpoint serialiser that rebuilds only the state's own classes."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)


def sqlite_checkpointer(folder: str | Path) -> "BaseCheckpointSaver":
    """A LangGraph `SqliteSaver` whose database lives in ``folder`` (the store folder)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(folder / CHECKPOINT_FILE), check_same_thread=False)
    return SqliteSaver(conn, serde=_serde())


def memory_checkpointer() -> "BaseCheckpointSaver":
    """Threads kept in this process only (a store folder that cannot be written)."""
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver(serde=_serde())


# The ask loop in segments: each segment runs straight through, then a router picks the next one.
_LOOP = {"plan": ["plan"], "eeg": ["eeg"], "recall": ["recall", "verify", "decide"], "compose": ["compose"]}


class AgentGraph:
    """Builder of the agent's LangGraph graph.

    Example:
        ```python
        graph = (
            AgentGraph(toolkit)
            .replace_node("compose", my_answerer)         # your own answer writer
            .add_node("log", my_logger, after="recall")   # runs between recall and verify
            .compile()
        )
        graph.invoke({"question": "when does the cat appear?"})
        ```
    """

    def __init__(self, toolkit: "Toolkit | None" = None):
        self.toolkit = toolkit
        self._index: list[str] = []
        self._loop: dict[str, list[str]] | None = None
        self._chain: list[str] = []
        self._nodes: dict[str, Node] = {}
        self._route_plan: Callable[[AgentState], str] | None = None
        if toolkit is not None:
            self._index = ["perceive", "remember"]
            self._loop = {k: list(v) for k, v in _LOOP.items()}
            self._route_plan = route_after_plan(toolkit)
            self._nodes = {
                "perceive": perceive_node(toolkit), "remember": remember_node(toolkit),
                "plan": plan_node(toolkit), "eeg": eeg_node(toolkit), "recall": recall_node(toolkit),
                "verify": verify_node(toolkit), "decide": decide_node(toolkit), "compose": compose_node(toolkit),
            }

    @property
    def nodes(self) -> dict[str, list[str]]:
        """Node names per path, in order ({"index": [...], "ask": [...]})."""
        ask = [n for seg in self._loop.values() for n in seg] if self._loop is not None else list(self._chain)
        return {"index": list(self._index), "ask": ask}

    def replace_node(self, name: str, node: Node) -> "Self":
        """Swap the function behind an existing node (e.g. your own perception or answer writer)."""
        if name not in self._nodes:
            raise ValueError(f"name must be an existing node ({', '.join(self._nodes)}), got {name!r}")
        if not callable(node):
            raise TypeError(f"node must be callable, got {type(node).__name__}")
        self._nodes[name] = node
        return self

    def add_node(self, name: str, node: Node, *, after: str) -> "Self":
        """Insert a new node right after ``after`` (before whatever ran next)."""
        if not isinstance(name, str) or not name or name in self._nodes or name in (START, END):
            raise ValueError(f"name must be a new, non-empty node name, got {name!r}")
        if not callable(node):
            raise TypeError(f"node must be callable, got {type(node).__name__}")
        lists = [self._index, self._chain, *(self._loop.values() if self._loop is not None else [])]
        for names in lists:
            if after in names:
                names.insert(names.index(after) + 1, name)
                self._nodes[name] = node
                return self
        raise ValueError(f"after must name an existing node ({', '.join(self._nodes)}), got {after!r}")

    def set_chain(self, chain: str, names: list[str], nodes: dict[str, Node] | None = None) -> "Self":
        """Define a whole path ("index" or "ask") as a plain chain, e.g. for a graph built from scratch."""
        if chain not in ("index", "ask"):
            raise ValueError(f"chain must be 'index' or 'ask', got {chain!r}")
        for name, node in (nodes or {}).items():
            if not callable(node):
                raise TypeError(f"nodes[{name!r}] must be callable, got {type(node).__name__}")
            self._nodes[name] = node
        missing = [n for n in names if n not in self._nodes]
        if missing:
            raise ValueError(f"names holds nodes that were never added: {missing}")
        if chain == "index":
            self._index = list(names)
        else:
            self._chain, self._loop = list(names), None
        return self

    def validate(self) -> None:
        """Check the graph can run: both paths non-empty, every node placed once."""
        for path, names in self.nodes.items():
            if not names:
                raise ValueError(f"the {path!r} chain has no nodes")
        flat = [n for names in self.nodes.values() for n in names]
        if len(flat) != len(set(flat)):
            raise ValueError(f"a node appears in more than one place: {flat}")

    def compile(self, checkpointer: "BaseCheckpointSaver | None" = None, **kwargs: Any) -> "CompiledStateGraph":
        """Validate and compile into a runnable LangGraph graph.

        Args:
            checkpointer: Where LangGraph checkpoints each step (conversation threads); `Agent`
                passes a `SqliteSaver` in the store folder for threaded questions only. None
                compiles without checkpoints (one-off questions write nothing).
            **kwargs: Passed to `StateGraph.compile` (``interrupt_before``, ``debug``, ...).
        """
        self.validate()
        graph = StateGraph(AgentState)
        for names in self.nodes.values():
            for name in names:
                graph.add_node(name, self._nodes[name])
        index = self._index
        ask_head = self._loop["plan"][0] if self._loop is not None else self._chain[0]

        def route_start(state: AgentState) -> str:
            if state.path:
                return index[0]
            if state.question:
                return ask_head
            return END

        def route_after_index(state: AgentState) -> str:
            return ask_head if state.question else END

        graph.add_conditional_edges(START, route_start, [index[0], ask_head, END])
        _straight(graph, index)
        graph.add_conditional_edges(index[-1], route_after_index, [ask_head, END])
        if self._loop is None:
            _straight(graph, self._chain)
            graph.add_edge(self._chain[-1], END)
        else:
            self._wire_loop(graph)
        return graph.compile(checkpointer=checkpointer, **kwargs)

    def _wire_loop(self, graph: StateGraph) -> None:
        plan, eeg, recall, compose = (self._loop[k] for k in ("plan", "eeg", "recall", "compose"))
        for seg in (plan, eeg, recall, compose):
            _straight(graph, seg)
        route_plan = self._route_plan or (lambda s: "recall")

        def after_plan(state: AgentState) -> str:
            return eeg[0] if route_plan(state) == "eeg" else recall[0]

        def after_eeg(state: AgentState) -> str:
            return compose[0] if state.answer is not None else recall[0]

        def after_decide(state: AgentState) -> str:
            if state.decision == "recall_more" and state.attempt < MAX_RECALLS:
                return recall[0]
            return compose[0]

        graph.add_conditional_edges(plan[-1], after_plan, [eeg[0], recall[0]])
        graph.add_conditional_edges(eeg[-1], after_eeg, [compose[0], recall[0]])
        graph.add_conditional_edges(recall[-1], after_decide, [recall[0], compose[0]])
        graph.add_edge(compose[-1], END)


def _straight(graph: StateGraph, names: list[str]) -> None:
    for a, b in zip(names, names[1:]):
        graph.add_edge(a, b)
