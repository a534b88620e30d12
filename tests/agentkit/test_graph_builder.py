"""The graph builder: chains, routing and validation, with plain-function nodes (no models)."""
from __future__ import annotations

import pytest

from agentkit.graph import AgentGraph
from agentkit.graph.builder import sqlite_checkpointer
from agentkit.schemas import Answer


def _builder():
    calls = []

    def node(name, update):
        def fn(state):
            calls.append(name)
            return update(state)
        return fn

    b = AgentGraph().set_chain("index", ["load", "store"], {
        "load": node("load", lambda s: {"source": "src-" + s.path}),
        "store": node("store", lambda s: {"n_records": 3}),
    }).set_chain("ask", ["think", "say"], {
        "think": node("think", lambda s: {"steps": [s.question]}),
        "say": node("say", lambda s: {"answer": Answer(question=s.question, text=s.steps[0].upper(), confidence=0.5)}),
    })
    return b, calls


def test_routes_on_input_and_checkpoints_in_sqlite(tmp_path):
    b, calls = _builder()
    graph = b.compile(checkpointer=sqlite_checkpointer(tmp_path))
    cfg = {"configurable": {"thread_id": "t1"}}
    out = graph.invoke({"path": "a.mp4"}, cfg)
    assert calls == ["load", "store"] and out["source"] == "src-a.mp4" and out.get("answer") is None
    calls.clear()
    out = graph.invoke({"question": "hi"}, {"configurable": {"thread_id": "t2"}})
    assert calls == ["think", "say"] and out["answer"].text == "HI"
    calls.clear()
    graph.invoke({"path": "b.mp4", "question": "both"}, {"configurable": {"thread_id": "t3"}})
    assert calls == ["load", "store", "think", "say"]
    assert graph.get_state({"configurable": {"thread_id": "t2"}}).values["answer"].text == "HI"
    assert (tmp_path / "checkpoints.sqlite").stat().st_size > 0


def test_insert_and_replace_chain_and_return_the_builder():
    b, calls = _builder()
    assert b.add_node("extra", lambda s: {}, after="think") is b
    assert b.replace_node("say", lambda s: {"answer": Answer(question="x", text="swapped", confidence=0.1)}) is b
    assert b.nodes["ask"] == ["think", "extra", "say"]
    out = b.compile().invoke({"question": "x"})
    assert out["answer"].text == "swapped"


def test_validation_names_the_problem():
    b, _ = _builder()
    with pytest.raises(ValueError, match="name must be an existing node"):
        b.replace_node("nope", lambda s: {})
    with pytest.raises(ValueError, match="after must name an existing node"):
        b.add_node("n", lambda s: {}, after="nope")
    with pytest.raises(ValueError, match="new, non-empty"):
        b.add_node("think", lambda s: {}, after="say")
    with pytest.raises(TypeError, match="node must be callable"):
        b.replace_node("say", 3)
    with pytest.raises(ValueError, match="has no nodes"):
        AgentGraph().compile()
