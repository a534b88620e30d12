"""The controller loop: plans, the language-model planner's fallback, conversations and verification.

Conversations run on the short composed video of the session fixtures (coffee at 00:06-00:08, a
NO PARKING sign at 00:16-00:18, a cat at 00:26-00:28, a KUMQUAT sign at 00:34-00:36).
"""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agentkit import Agent
from agentkit.controller.lm_plan import plan_with_lm
from agentkit.controller.plan import MAX_QUESTION_CHARS, Plan, QuestionKind, parse_question
from agentkit.graph.builder import CHECKPOINT_FILE

COFFEE, SIGN, CAT, CODE = (6, 8), (16, 18), (26, 28), (34, 36)


def _overlaps(answer, span, slack=1.5) -> bool:
    return bool(answer.evidence) and answer.evidence[0].t0 <= span[1] + slack and answer.evidence[0].t1 >= span[0] - slack


# ---- plans ------------------------------------------------------------------------------
@pytest.mark.parametrize("question, kind, subject, extra", [
    ("When does the cat appear for the second time?", QuestionKind.NTH, "cat", {"n": 2}),
    ("When is the bus shown for the 3rd time?", QuestionKind.NTH, "bus", {"n": 3}),
    ("How long is the cat on screen?", QuestionKind.DURATION, "cat", {}),
    ("What appears right before the lion?", QuestionKind.BEFORE, "lion", {}),
    ("Does a cat appear between 00:10 and 00:30?", QuestionKind.WHETHER, "cat", {"window": (10.0, 30.0)}),
    ("How many times does the dog appear in the first 2 minutes?", QuestionKind.COUNT, "dog", {"window": (0.0, 120.0)}),
    ("When does the cat appear after 01:00?", QuestionKind.WHEN, "cat", {"window": (60.0, 1e9)}),
    ("What happens after 00:28?", QuestionKind.AFTER, "", {"times": (28.0,)}),
    ("What is shown at 00:58?", QuestionKind.AROUND, "", {"times": (58.0,)}),
])
def test_grammar_plans_the_operators(question, kind, subject, extra):
    plan = parse_question(question)
    assert (plan.kind, plan.subject) == (kind, subject), plan.describe()
    for key, value in extra.items():
        assert getattr(plan, key) == value, plan.describe()
    assert plan.origin == "grammar" and Plan.model_validate_json(plan.model_dump_json()) == plan


@pytest.mark.parametrize("bad, error, match", [
    ("", ValueError, "must not be empty"),
    ("   ", ValueError, "must not be empty"),
    ("why " * 600, ValueError, "limit is 2000"),
    (42, TypeError, "must be text"),
    (None, TypeError, "must be text"),
])
def test_bad_questions_get_clear_errors(agent, bad, error, match):
    with pytest.raises(error, match=match):
        agent.ask(bad)


def test_plans_refuse_missing_operands():
    with pytest.raises(ValidationError, match="at least two items"):
        Plan(question="in what order?", kind="order", items=("cat",))
    with pytest.raises(ValidationError, match="needs n"):
        Plan(question="the nth cat?", kind="nth", subject="cat")
    with pytest.raises(ValidationError, match="window"):
        Plan(question="cats?", kind="whether", subject="cat", window=(30, 10))
    assert len("x" * MAX_QUESTION_CHARS) == MAX_QUESTION_CHARS


class _ScriptedLM:
    """Replies with a fixed text: exercises our parsing and validation of what a model writes."""

    def __init__(self, reply: str):
        self.reply, self.prompts = reply, []

    def generate(self, prompt, max_new_tokens=32, *, stop=None):
        self.prompts.append(prompt)
        return self.reply


def test_a_language_model_plan_is_validated_and_else_the_grammar_is_used():
    q = "Which shows up first, the cat or the bus?"
    good = _ScriptedLM(json.dumps({"kind": "order", "items": ["cat", "bus"]}) + "\nQuestion: ...")
    plan = plan_with_lm(q, good)
    assert plan.origin == "language model" and plan.kind is QuestionKind.ORDER and plan.items == ("cat", "bus")
    assert json.dumps(q) in good.prompts[0]  # the question reaches the model quoted, as data
    for reply, why in [("the cat, I think", "no JSON object"),
                       (json.dumps({"kind": "order", "items": ["cat"]}), "at least two items"),
                       (json.dumps({"kind": "teleport", "subject": "cat"}), "kind"),
                       (json.dumps({"kind": "when", "subject": "giraffe"}), "does not")]:
        fallback = plan_with_lm(q, _ScriptedLM(reply))
        assert fallback.origin == "grammar" and fallback.kind == parse_question(q).kind
        assert any("rejected" in n and why in n for n in fallback.notes), (reply, fallback.notes)


def test_the_verbose_json_answer_carries_plan_steps_and_checks(agent, short_source):
    steps = []
    answer = agent.ask("How many times does the cat appear?", source=short_source,
                       on_step=lambda node, line: steps.append(node))
    assert answer.plan["kind"] == "count" and answer.plan["subject"] == "cat"
    assert [s.split(":")[0] for s in answer.steps] == ["plan", "recall #1", "verify", "decide", "compose"]
    assert steps[:4] == ["plan", "recall", "verify", "decide"]
    assert answer.checks and all(c.action in ("kept", "moved", "dropped") for c in answer.checks)
    assert json.loads(answer.model_dump_json())["checks"][0]["frames"] >= 1


def test_what_is_shown_at_a_time_answers_from_that_moment(agent, short_source):
    answer = agent.ask("What is shown at 00:27?", source=short_source)
    assert answer.evidence and any(e.why.startswith("the frame at the asked time") for e in answer.evidence)
    assert {"Egyptian Mau", "tabby cat", "tiger cat"} & set(answer.value.labels), answer


def test_a_near_miss_is_not_a_sighting(agent, short_source):
    """The cat picture's labels sit beside the big cats in the hierarchy: no tiger, no lion."""
    for animal in ("tiger", "lion", "leopard"):
        answer = agent.ask(f"Does a {animal} appear?", source=short_source)
        assert answer.value.yes is not True or answer.abstained, answer


# ---- conversations ----------------------------------------------------------------------
CONVERSATIONS = [
    ("When does the cat appear?", "and the cup of coffee?", lambda a: _overlaps(a, COFFEE)),
    ("When does the cup of coffee appear?", "and the cat?", lambda a: _overlaps(a, CAT)),
    ("When does the cup of coffee appear?", "what about the cat?", lambda a: _overlaps(a, CAT)),
    ("When does the cat appear?", "how long was it on screen?", lambda a: 1.0 <= (a.value.seconds or 0) <= 5.0),
    ("When does the cat appear?", "and how long?", lambda a: 1.0 <= (a.value.seconds or 0) <= 5.0),
    ("When does the cat appear?", "how many times?", lambda a: a.value.count == 1),
    ("When does the cup of coffee appear?", "how many times does it appear?", lambda a: a.value.count == 1),
    ("How many times does the cat appear?", "and the coffee?", lambda a: a.value.count == 1 and _overlaps(a, COFFEE)),
    ("When does the cat appear for the first time?", "and for the last time?", lambda a: _overlaps(a, CAT)),
    ("When does the cup of coffee appear?", "when does it appear for the last time?", lambda a: _overlaps(a, COFFEE)),
    ("Does a cup of coffee appear?", "when?", lambda a: _overlaps(a, COFFEE)),
    ("Does a cat appear?", "and a giraffe?", lambda a: a.value.yes is not True or a.abstained),
    ("When does the cup of coffee appear?", "and after that?", lambda a: a.evidence[0].t0 >= COFFEE[1] - 1.5),
    ("When does the cat appear?", "what happens right after that?", lambda a: a.evidence[0].t0 >= CAT[1] - 1.5),
    ("When does the cat appear?", "and before that?", lambda a: a.evidence[0].t1 <= CAT[0] + 1.5),
    ("When is the code word KUMQUAT shown?", "what happens next?", lambda a: a.evidence[0].t0 >= CODE[1] - 1.5),
    ("When is the code word KUMQUAT shown?", "and before that?", lambda a: a.evidence[0].t1 <= CODE[0] + 1.5),
    ("When is the code word KUMQUAT shown?", "what about NO PARKING?", lambda a: _overlaps(a, SIGN)),
    ("When is the NO PARKING sign shown?", "and after that?", lambda a: a.evidence[0].t0 >= SIGN[1] - 1.5),
    ("How long is the cat on screen?", "and the coffee?", lambda a: (a.value.seconds or 0) > 0 and _overlaps(a, COFFEE)),
    ("When does the coffee appear for the first time?", "and the cat?", lambda a: _overlaps(a, CAT)),
]


@pytest.mark.parametrize("i", range(len(CONVERSATIONS)))
def test_follow_ups_resolve_against_the_previous_turn(agent, short_source, i):
    first, second, check = CONVERSATIONS[i]
    thread = f"conversation-{i}"
    agent.ask(first, source=short_source, thread=thread)
    answer = agent.ask(second, source=short_source, thread=thread)
    assert answer.plan["origin"] == "follow-up", answer.plan
    assert check(answer), (first, second, answer.text, answer.plan)


def test_a_follow_up_in_an_unknown_thread_starts_a_new_one_with_a_notice(agent, short_source):
    answer = agent.ask("and the cat?", source=short_source, thread="never-seen-before")
    assert any("new conversation" in n for n in answer.notices), answer.notices
    assert _overlaps(answer, CAT)


def test_threads_persist_in_the_store_folder(agent, workdir, short_source):
    agent.ask("When does the cat appear?", source=short_source, thread="kept")
    assert (workdir / "store" / CHECKPOINT_FILE).is_file()
    agent.toolkit.close()  # release the writer lock; the fixture's agent reopens on next use
    agent.rebuild()
    with Agent.default(store=workdir / "store", read_only=True) as again:
        answer = again.ask("how many times?", source=short_source, thread="kept")
        assert "kept" in again.threads()
    assert answer.value.count == 1 and answer.plan["subject"] == "cat"


def test_it_still_names_the_subject_after_a_turn_without_one(agent, short_source):
    thread = "three-turns"
    agent.ask("When does the cat appear?", source=short_source, thread=thread)
    after = agent.ask("and after that?", source=short_source, thread=thread)
    assert after.evidence[0].source == short_source  # the time anchor belongs to the source asked about
    answer = agent.ask("how long was it on screen?", source=short_source, thread=thread)
    assert answer.plan["subject"] == "cat" and 1.0 <= (answer.value.seconds or 0) <= 5.0, answer.plan


def test_a_budget_too_small_for_verification_skips_it_and_says_so(agent, short_source):
    question = "When does the cat appear?"
    full = agent.ask(question, source=short_source)
    assert any(s.startswith("verify:") and "skipped" not in s for s in full.steps), full.steps
    rushed = agent.ask(question, source=short_source, budget_ms=1)
    assert any(s.startswith("verify: skipped") and "budget" in s for s in rushed.steps), rushed.steps
    assert any("not verified" in n for n in rushed.notices) and any("over the budget" in n for n in rushed.notices)
    assert rushed.evidence and rushed.evidence[0].t0 == pytest.approx(full.evidence[0].t0, abs=2.0)
    roomy = agent.ask(question, source=short_source, budget_ms=60_000)
    assert not any("not verified" in n for n in roomy.notices) and roomy.text == full.text
