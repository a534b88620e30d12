"""The cases file format, the judge's rules and the generated plan (no video needed)."""
from __future__ import annotations

import json

import pytest

from agentkit.evaluation import FAMILIES, RULES, CaseError, judge, read_cases
from agentkit.evaluation.generate import DEFAULT_LENGTHS, plan_video
from agentkit.schemas import Answer, AnswerValue, Evidence


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


GOOD = {"video": "clip.mp4", "question": "How many times does the dog appear?", "family": "count", "truth": {"count": 2}}


@pytest.mark.parametrize("bad, problem", [
    ({**GOOD, "family": "vibes"}, "unknown family 'vibes'"),
    ({**GOOD, "truth": {}}, "needs truth.count"),
    ({k: v for k, v in GOOD.items() if k != "video"}, "exactly one of 'video' or 'store'"),
    ("{oops", "not JSON"),
    ({**GOOD, "family": "choice", "truth": {"option": 1}}, "needs options"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path, bad, problem):
    path = _write(tmp_path / "mine.jsonl", [GOOD, bad, GOOD])
    with pytest.raises(CaseError) as info:
        read_cases(path)
    assert str(info.value).startswith(f"{path}:2:") and problem in str(info.value)
    cases, errors = read_cases(path, keep_going=True)
    assert len(cases) == 2 and len(errors) == 1 and errors[0].line == 2
    assert cases[0].video == str((tmp_path / "clip.mp4").resolve())  # relative to the cases file


def _answer(**kw) -> Answer:
    evidence = [Evidence(t0=a, t1=b, score=1.0) for a, b in kw.pop("spans", [])]
    return Answer(question="q", text="t", confidence=0.5, evidence=evidence, value=AnswerValue(**kw))


def test_every_family_has_a_rule_and_judges_by_value():
    assert set(RULES) == set(FAMILIES)
    assert judge("when", {"spans": [[10, 12]]}, _answer(spans=[(12.5, 14)]))
    assert not judge("when", {"spans": [[10, 12]]}, _answer(spans=[(20, 22), (10, 12)]))  # the best span decides
    assert judge("count", {"count": 2}, _answer(count=2)) and not judge("count", {"count": 2}, _answer(count=3))
    assert not judge("count", {"count": 2}, _answer(spans=[(1, 2), (5, 6)]))  # spans are not a count
    assert judge("text", {"text": "GATE 3 OPEN"}, _answer(texts=["gate3open"]))
    assert judge("around", {"labels": ["tabby cat"]}, _answer(labels=["Egyptian Mau", "tabby cat"]))
    assert not judge("around", {"labels": ["tabby cat"]}, _answer(labels=["Egyptian Mau", "lynx", "tabby cat"]))
    assert judge("order", {"order": ["cat", "bus"]}, _answer(order=["Cat", "bus"]))
    assert judge("whether", {"yes": False}, _answer(yes=False)) and not judge("whether", {"yes": False}, _answer())
    assert judge("unanswerable", {"decline": True}, _answer(declined="unrecognised"))
    assert not judge("whether", {"yes": False}, _answer(yes=False, declined="not_seen"))
    # never shown: a "when" is right only when it says so, whatever its closest match
    assert judge("when", {"spans": []}, _answer(yes=False, spans=[(3, 4)]))
    assert not judge("when", {"spans": []}, _answer(spans=[(3, 4)]))
    assert not judge("when", {"spans": [[3, 4]]}, _answer(yes=False, spans=[(3, 4)]))
    assert judge("first_last", {"spans": []}, _answer(yes=False)) and judge("count", {"count": 0}, _answer(yes=False, count=0))


def test_generated_plan_is_seeded_and_covers_every_family():
    a, b = plan_video("test-00", 180, 99, "test"), plan_video("test-00", 180, 99, "test")
    assert [c.model_dump() for c in a.cases] == [c.model_dump() for c in b.cases]
    assert {c.family for c in a.cases} == set(FAMILIES)
    assert plan_video("test-00", 180, 100, "test").cases != a.cases
    spans = sorted(n.span for n in a.needles)
    assert all(x[1] <= y[0] for x, y in zip(spans, spans[1:])) and spans[-1][1] <= 180
    for case in a.cases:  # every positive "when" span is a needle of the plan
        if case.family == "when":
            assert all(tuple(s) in spans for s in case.truth["spans"])
    never = []
    for video in (plan_video(f"test-{i:02d}", 600, i, "test") for i in range(4)):
        shown = {n.key for n in video.needles if n.kind == "picture"}
        for c in video.cases:
            if c.family in ("when", "count", "first_last") and c.negative:
                never.append(c)
                assert not any(f" {k} " in c.question for k in shown), c.question  # truly never shown there
    assert {c.family for c in never} == {"when", "count", "first_last"} and {c.negative for c in never} == {"near", "far"}
    assert all(c.truth in ({"spans": []}, {"count": 0}) for c in never)
    assert DEFAULT_LENGTHS[0] == 60 and DEFAULT_LENGTHS[-1] == 3600


def test_an_unreadable_video_names_its_line_and_keep_going_skips_it(tmp_path):
    from agentkit.evaluation.run import run_cases

    path = _write(tmp_path / "mine.jsonl", [{**GOOD, "video": "gone.mp4"}])
    cases, _ = read_cases(path)
    with pytest.raises(CaseError, match=r"mine.jsonl:1: .*gone.mp4: no such file"):
        run_cases(cases, tmp_path / "work")
    records = run_cases(cases, tmp_path / "work", keep_going=True)
    assert len(records) == 1 and "no such file" in records[0]["error"] and "answer" not in records[0]
