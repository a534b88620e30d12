"""Question parsing, time formats, span merging and fuzzy text matching: pure logic, no models."""
from __future__ import annotations

import pytest

from agentkit.controller.plan import QuestionKind, parse_question, split_options
from agentkit.controller.evidence import Hit, Record, merge_hits
from agentkit.controller.match import text_ratio
from agentkit.timefmt import find_times, format_span, format_time


@pytest.mark.parametrize(
    "question, kind, subject",
    [
        ("When does the cat appear?", QuestionKind.WHEN, "cat"),
        ("Does a red car appear in the video?", QuestionKind.WHETHER, "red car"),
        ("What is shown around 00:42?", QuestionKind.AROUND, ""),
        ("What text appears on screen?", QuestionKind.TEXT, ""),
        ("What happens after the rocket appears?", QuestionKind.AFTER, "rocket"),
        ("Which animal appears? (a) a cat (b) a dog", QuestionKind.CHOICE, "animal"),
        ("Is there a sign saying HELLO?", QuestionKind.WHETHER, ""),
    ],
)
def test_question_kinds(question, kind, subject):
    cues = parse_question(question)
    assert cues.kind is kind
    assert cues.subject == subject


def test_times_in_all_written_forms():
    assert [t for t, _ in find_times("at 00:42, 0:42, 42s, 42 seconds, 1:02:03 or 2 min")] == [42, 42, 42, 42, 3723, 120]
    assert parse_question("what is shown at 1:05?").times == (65.0,)
    assert find_times("version 3:99") == []


def test_code_words_and_quotes_become_text_cues():
    cues = parse_question('When is the code word ZX-41 shown next to "exit now"?')
    assert cues.code_words == ("ZX-41",)
    assert cues.quoted == ("exit now",)
    assert cues.text_cues == ("exit now", "ZX-41")
    assert cues.subject == "exit now"  # scaffold ("code word") removed


def test_options_in_question_and_given_apart():
    stem, options = split_options("Which one? (a) a cat, (b) a dog or (c) a rocket")
    assert stem == "Which one?"
    assert options == ("a cat", "a dog", "a rocket")
    assert split_options("Is (a) alone?") == ("Is (a) alone?", ())
    cues = parse_question("Which animal appears?", ["cat", " ", "dog"])
    assert cues.kind is QuestionKind.CHOICE and cues.options == ("cat", "dog")


def test_bad_questions_raise_with_argument_name():
    with pytest.raises(ValueError, match="question"):
        parse_question("   ")
    with pytest.raises(TypeError, match="question"):
        parse_question(42)  # type: ignore[arg-type]


def test_time_formatting():
    assert format_time(42.9) == "00:42"
    assert format_time(3723) == "1:02:03"
    assert format_span(40, 42) == "00:40-00:42"
    assert format_span(40.2, 40.7) == "00:40"
    with pytest.raises(ValueError, match="seconds"):
        format_time(-1)


def test_adjacent_hits_merge_into_spans_best_first():
    recs = [Record(i, "v", float(t), float(t + 1)) for i, t in enumerate([10, 11, 12, 30, 31])]
    hits = [Hit(r, s, "", "x") for r, s in zip(recs, [0.5, 0.9, 0.4, 0.6, 0.3])]
    spans = merge_hits(hits, gap=1.0)
    assert [(s.t0, s.t1, s.score) for s in spans] == [(10.0, 13.0, 0.9), (30.0, 32.0, 0.6)]
    other_source = merge_hits([Hit(Record(9, "w", 12.0, 13.0), 0.2, "", "x"), *hits[:1]])
    assert len(other_source) == 2


def test_fuzzy_text_survives_ocr_noise():
    assert text_ratio("ZX-41", "code: zx 41") == 1.0
    assert text_ratio("KUMQUAT", "CODE WORD: KUMOUAT") >= 0.8
    assert text_ratio("KUMQUAT", "BICYCLE PARKING") < 0.6
    assert text_ratio("ab", "xaby") == 1.0 and text_ratio("ab", "xy") == 0.0


def test_label_cue_matches_names_exactly():
    from agentkit.controller.match import match_label

    recs = [Record(0, "v", 0.0, 1.0, {"dark": 1.0}), Record(1, "v", 1.0, 2.0, {"Dark": 0.8}),
            Record(2, "v", 5.0, 6.0, {"tabby cat": 0.4}), Record(3, "v", 9.0, 10.0, {"darkness": 0.9})]
    dark = match_label(recs, "dark")
    assert [(s.t0, s.t1) for s in dark.spans] == [(0.0, 2.0)] and dark.confidence == 1.0
    assert match_label(recs, "tabby cats").spans[0].t0 == 5.0
    assert match_label(recs, "cat").spans == []  # "cat" is not the label "tabby cat": that is the concept cue's job


@pytest.mark.parametrize("question, items", [
    ("Which comes first: the zebra or the walrus?", ("zebra", "walrus")),
    ("Which appears first, a zebra, a lion or a walrus?", ("zebra", "lion", "walrus")),
    ("Which is shown first - the red car or the bus?", ("red car", "bus")),
])
def test_which_comes_first_names_its_options_as_items(question, items):
    plan = parse_question(question)
    assert plan.kind is QuestionKind.ORDER and plan.items == items


@pytest.mark.parametrize("question", ["Which comes first?", "In what order do cats appear?"])
def test_order_question_naming_fewer_than_two_things_is_read_as_when(question):
    plan = parse_question(question)
    assert plan.kind is QuestionKind.WHEN and plan.items == ()
    assert any("two or more things" in note for note in plan.notes)
