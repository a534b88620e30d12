"""The public names of agentkit's face are pinned: changing them is a deliberate act."""
from __future__ import annotations

import agentkit
from agentkit import graph
from agentkit.controller import compose, cues, evidence, match, recall


def test_top_level_names():
    assert sorted(agentkit.__all__) == ["Agent", "AgentGraph", "Answer", "Evidence", "IndexReport"]
    for name in agentkit.__all__:
        assert getattr(agentkit, name) is not None
    assert sorted(graph.__all__) == ["AgentGraph", "AgentState"]


def test_controller_names():
    assert set(cues.__all__) == {"QuestionKind", "Cues", "parse_question", "split_options"}
    assert set(recall.__all__) == {"RecallConfig", "recall"}
    assert set(compose.__all__) == {"AnswerConfig", "compose_answer", "combine_cues", "grounded"}
    assert {"Record", "MemoryReader", "Hit", "Span", "merge_hits"} == set(evidence.__all__)
    assert {"match_concept", "match_text", "match_label", "records_near"} <= set(match.__all__)
