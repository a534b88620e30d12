"""A plugged causal LM as the planner: a tiny randomly initialised one (built from a config here,
no weights on this machine) writes no valid plan, so the grammar's plan is used and says why."""
from __future__ import annotations

from agentkit import models
from agentkit.controller.lm_plan import plan_with_lm
from agentkit.controller.plan import parse_question


def test_a_random_language_model_falls_back_to_the_grammar(tiny_causal_lm):
    lm = models.load_language_model(tiny_causal_lm)
    question = "How many times does the red car appear before 02:00?"
    plan = plan_with_lm(question, lm, max_new_tokens=8)
    grammar = parse_question(question)
    assert plan.origin == "grammar" and (plan.kind, plan.subject, plan.window) == (grammar.kind, grammar.subject,
                                                                                     grammar.window)
    assert plan.notes and ("rejected" in plan.notes[0] or "failed" in plan.notes[0]), plan.notes
