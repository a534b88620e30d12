"""The public names of agentkit's face are pinned: changing them is a deliberate act."""
from __future__ import annotations

import agentkit
from agentkit import graph
from agentkit.controller import compose, evidence, follow_up, lm_plan, match, plan, recall, verify


def test_top_level_names():
    assert sorted(agentkit.__all__) == ["Agent", "AgentGraph", "Answer", "Evidence", "IndexReport"]
    for name in agentkit.__all__:
        assert getattr(agentkit, name) is not None
    assert sorted(graph.__all__) == ["AgentGraph", "AgentState"]


def test_controller_names():
    assert set(plan.__all__) == {"QuestionKind", "Plan", "parse_question", "split_options", "check_question",
                                 "MAX_QUESTION_CHARS"}
    assert set(recall.__all__) == {"RecallConfig", "Recaller", "recall", "TIMELINE_KINDS"}
    assert set(lm_plan.__all__) == {"plan_prompt", "plan_with_lm"}
    assert set(follow_up.__all__) == {"Previous", "rewrite_follow_up", "is_follow_up"}
    assert {"VerifyConfig", "verify_claims", "LookedFrame", "Look"} <= set(verify.__all__)
    assert set(compose.__all__) == {"AnswerConfig", "compose_answer", "combine_cues", "grounded"}
    assert {"Record", "MemoryReader", "TimelineReader", "Hit", "Span", "merge_hits"} == set(evidence.__all__)
    assert {"match_concept", "match_text", "match_label", "records_near"} <= set(match.__all__)
