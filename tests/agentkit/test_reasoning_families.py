"""Counting, first/last, order, between and state questions on the short composed video."""
from __future__ import annotations

from agentkit.controller.plan import QuestionKind, parse_question
from agentkit.controller.compose import compose_answer
from agentkit.controller.findings import CueFinding, Findings
from agentkit.schemas import Evidence

CAT_LABELS = {"Egyptian Mau", "tabby cat", "tiger cat", "lynx", "Persian cat"}


def test_reasoning_questions_are_recognised():
    cases = {
        "How many times does the cheetah appear?": (QuestionKind.COUNT, "cheetah"),
        "When does the cheetah appear for the last time?": (QuestionKind.LAST, "cheetah"),
        "When is the lion shown for the first time?": (QuestionKind.FIRST, "lion"),
        "Is gate 3 open or closed at the end of the video?": (QuestionKind.STATE, "gate 3"),
    }
    for question, (kind, subject) in cases.items():
        cues = parse_question(question)
        assert (cues.kind, cues.subject) == (kind, subject), question
    order = parse_question("In what order do a bus, a lion and a cheetah first appear?")
    assert order.kind is QuestionKind.ORDER and order.items == ("bus", "lion", "cheetah")
    between = parse_question("What appears between the KIWI sign and the MANGO sign?")
    assert between.kind is QuestionKind.BETWEEN and between.items == ("KIWI sign", "MANGO sign")
    state = parse_question("Is gate 3 open or closed at the end of the video?")
    assert state.options == ("open", "closed")
    after = parse_question("What appears right after the GATE 3 OPEN sign?")
    assert after.kind is QuestionKind.AFTER and after.text_cues == ("GATE 3 OPEN",)


def test_count_first_last_order_between(agent, short_source):
    count = agent.ask("How many times does the cat appear?", source=short_source)
    assert count.value.count == 1, count
    last = agent.ask("When does the cat appear for the last time?", source=short_source)
    assert last.evidence and last.evidence[0].t0 <= 28 and last.evidence[0].t1 >= 26, last
    order = agent.ask("In what order do the cat and the cup of coffee first appear?", source=short_source)
    assert order.value.order == ["cup of coffee", "cat"], order
    between = agent.ask("What appears between the NO PARKING sign and the KUMQUAT sign?", source=short_source)
    assert set(between.value.labels[:3]) & CAT_LABELS, between  # the cat stands out among 16 s of scenes


def test_state_reads_the_latest_sign_before_the_time():
    def reading(t0, text):
        return Evidence(t0=t0, t1=t0 + 2, score=0.9, text=text)

    findings = Findings(question="Is gate 3 open or closed at the end?", kind="state", subject="gate 3",
                        options=["open", "closed"], n_records=10, context=[reading(50, "GATE3CLOSED")])
    answer = compose_answer(findings)
    assert answer.value.option == 1 and "closed" in answer.text
    unclear = compose_answer(findings.model_copy(update={"context": [reading(50, "GATE 3")]}))
    assert unclear.raw_score < answer.raw_score


def test_a_weak_best_match_is_not_answered_as_a_time_or_a_count():
    """A live stream that never showed a cat: its best "cat" match is weak (p 0.2). "When", "how
    many", "first" and "how long" must say it is not there, as "does a cat appear?" does, not
    name the weak match's time with the confidence of a found thing."""
    weak = CueFinding(cue="cat", kind="concept", confidence=0.2, spans=[Evidence(t0=6, t1=8, score=0.14)])
    strong = weak.model_copy(update={"confidence": 0.9})
    base = {"subject": "cat", "n_records": 20, "cues": [weak]}
    verdicts = {}
    for kind, question in [("when", "When does the cat appear?"), ("count", "How many times does the cat appear?"),
                           ("first", "When does the cat appear for the first time?"),
                           ("duration", "How long is the cat on screen?"), ("whether", "Does a cat appear?")]:
        answer = compose_answer(Findings(question=question, kind=kind, **base))
        assert answer.value.yes is False and "00:06" not in answer.text.split("closest")[0], (kind, answer.text)
        if kind == "count":
            assert answer.value.count == 0
        verdicts[kind] = (answer.raw_score, answer.features)
        found = compose_answer(Findings(question=question, kind=kind, **{**base, "cues": [strong]}))
        assert found.value.yes is not False and "00:06" in found.text, (kind, found.text)
    # one verdict, one confidence and one set of features, whichever way the question was put
    assert len({repr(v) for v in verdicts.values()}) == 1


def test_a_question_no_operator_answers_is_declined_not_answered_no():
    """"What colour is the car?" is read as "when does the car appear?"; a "no" to that is no answer
    to the colour, so when nothing matches the answer declines and names what it cannot do."""
    plan = parse_question("What colour is the car?")
    assert plan.kind is QuestionKind.WHEN and plan.unsupported == "what colour" and plan.notes
    assert parse_question("When does the car appear?").unsupported == ""
    weak = CueFinding(cue="colour car", kind="concept", confidence=0.1, spans=[Evidence(t0=6, t1=8, score=0.1)])
    base = {"question": plan.question, "kind": "when", "subject": plan.subject, "n_records": 20, "unsupported": "what colour"}
    answer = compose_answer(Findings(cues=[weak], **base))
    assert answer.value.declined == "unsupported" and answer.value.yes is None and answer.abstained
    assert 'cannot answer "what colour"' in answer.text
    found = compose_answer(Findings(cues=[weak.model_copy(update={"confidence": 0.9})], **base))
    assert "00:06" in found.text and found.text.startswith('I cannot answer "what colour"')
