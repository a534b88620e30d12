"""Summary questions on the real short composed video (the shared session fixtures), and the
summary operator's grammar and composer on hand-made findings."""
from __future__ import annotations

import pytest

from agentkit.controller.plan import QuestionKind, parse_question


@pytest.mark.parametrize("question, subject", [
    ("What happens in this video?", ""),
    ("Summarize the video", ""),
    ("Give me a summary of the video.", ""),
    ("Which animals appear?", "animal"),
    ("What objects are shown?", "object"),
    ("What vehicles can you see?", "vehicle"),
    ("What people are in the video?", "person"),
])
def test_summary_questions_plan_as_summary(question, subject):
    plan = parse_question(question)
    assert plan.kind is QuestionKind.SUMMARY and plan.subject == subject


@pytest.mark.parametrize("question, kind", [
    ("What happens after the cat?", QuestionKind.AFTER),
    ("What text appears on screen?", QuestionKind.TEXT),
    ("How many animals appear?", QuestionKind.COUNT),
    ("Which animal appears at 00:30?", QuestionKind.AROUND),
    ("What is shown around 00:42?", QuestionKind.AROUND),
])
def test_other_questions_keep_their_operator(question, kind):
    assert parse_question(question).kind is kind


def test_outline_of_the_short_video(agent, short_source, short_video):
    a = agent.ask("What happens in this video?", source=short_source)
    assert a.kind == "summary" and not a.value.declined
    assert a.evidence and all(e.source == short_source for e in a.evidence)
    spans = sorted((e.t0, e.t1) for e in a.evidence)
    assert spans[0][0] <= 1.0 and spans[-1][1] >= 38.0  # the chapters cover the video
    assert all(b[0] >= a_[1] - 1e-6 for a_, b in zip(spans, spans[1:]))  # and do not overlap
    assert a.value.labels and a.value.labels[0] in a.text
    assert "00:00-" in a.text
    # the code-word sign is read and quoted in the outline
    assert any("KUMQUAT" in t for t in a.value.texts) and "KUMQUAT" in a.text
    assert 0.0 < a.confidence < 1.0 and 0.0 <= a.raw_score <= 1.0
    assert a.features["n_chapters"] == len(a.evidence)


def test_which_animals_appear_names_the_cat_with_its_time(agent, short_source):
    a = agent.ask("Which animals appear?", source=short_source)
    assert a.kind == "summary"
    hierarchy = agent.toolkit.vocabulary("animal")
    assert a.value.labels and set(a.value.labels) <= set(hierarchy.names)
    cats = [n for n in a.value.labels if n in agent.toolkit.vocabulary("cat").names]
    assert cats, a.text  # the cat picture at 00:26-00:28
    assert f"{cats[0]} (first at 00:26)" in a.text
    assert "espresso" not in a.value.labels and "match" not in a.value.labels  # not animals
    assert 0.0 < a.confidence < 1.0


def test_objects_and_a_kind_not_shown(agent, short_source):
    objects = agent.ask("What objects are shown?", source=short_source)
    assert objects.kind == "summary" and len(objects.value.labels) >= 2
    birds = agent.ask("Which birds appear?", source=short_source)
    assert birds.kind == "summary"
    assert all(n in agent.toolkit.vocabulary("bird").names for n in birds.value.labels)


class _Reader:
    """Records only (no store, no vectors), as the EEG command line hands memory to the controller."""

    def __init__(self, records):
        self._records = records

    def records(self, source=None):
        return [r for r in self._records if source in (None, r.source)]

    def sources(self):
        return sorted({r.source for r in self._records})


def test_summary_from_records_only_and_the_composer():
    from agentkit.controller.compose import compose_answer
    from agentkit.controller.evidence import Record
    from agentkit.controller.summary import recall_summary

    records = [Record(i, "s", float(t), t + 2.0, {name: 0.8, "noise": 0.1}, text)
               for i, (t, name, text) in enumerate([(0, "tabby cat", ""), (2, "tabby cat", ""), (4, "espresso", "OPEN"),
                                                    (6, "espresso", ""), (8, "tabby cat", "")])]
    outline = recall_summary(parse_question("What happens in this video?"), reader=_Reader(records), source="s")
    assert outline.kind == "summary" and outline.n_records == 5
    a = compose_answer(outline)
    assert a.kind == "summary" and a.text.startswith("In ") and '"OPEN"' in a.text
    assert a.value.texts == ["OPEN"] and set(a.value.labels) >= {"tabby cat", "espresso"}
    assert a.evidence[0].t0 == 0.0 and max(e.t1 for e in a.evidence) == 10.0

    class Vocab:  # what the WordNet hierarchy would say "animal" covers
        def __call__(self, word):
            return type("E", (), {"names": ("tabby cat", "tiger") if word == "animal" else ()})()

    plan = parse_question("Which animals appear?")
    animals = compose_answer(recall_summary(plan, reader=_Reader(records), vocabulary=Vocab()))
    assert animals.value.labels == ["tabby cat"] and "tabby cat (first at 00:00)" in animals.text
    unknown = compose_answer(recall_summary(parse_question("Which colours appear?"), reader=_Reader(records),
                                            vocabulary=Vocab()))
    assert "no label names" in unknown.text or unknown.abstained
