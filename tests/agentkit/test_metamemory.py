"""Metamemory: the agent says what part of a source it has seen, and what it cannot recognise."""
from __future__ import annotations

import pytest

from agentkit import Agent


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def half_indexed(workdir, short_video, one_thread):
    """The short video indexed up to about 20 s of its 40 s, as if indexing were cut off there."""
    agent = Agent.default(store=workdir / "half-store")
    agent.toolkit.chunk_size = 2

    def stop_at_half(t, *rest):
        if float(t) >= 20.0:
            raise _Stop

    with one_thread():
        with pytest.raises(_Stop):
            agent.index(short_video.path, progress=stop_at_half)
    yield agent, agent.toolkit.source_id(short_video.path)
    agent.close()


def test_a_partly_indexed_source_never_gets_a_plain_no(half_indexed, short_video):
    agent, source = half_indexed
    cover = agent.toolkit.memory.coverage(source)
    assert not cover.complete and cover.duration == pytest.approx(short_video.duration)
    until = cover.seen[-1][1]
    assert 10.0 <= until < 26.0  # the cat (26-28 s) is in the part not seen yet
    a = agent.ask("Does a cat appear?", source=source)
    assert not a.text.startswith("No"), a.text
    assert a.text.lower().startswith("seen 00:00-") and "of 00:40 so far" in a.text, a.text
    assert a.coverage and a.coverage[0].complete is False


def test_a_time_not_seen_yet_is_declined(half_indexed):
    agent, source = half_indexed
    a = agent.ask("What is shown around 00:35?", source=source)
    assert a.value.declined == "not_seen" and "have not seen 00:35 yet" in a.text, a.text
    assert not a.evidence


def test_a_time_past_the_end_is_declined(agent, short_source):
    a = agent.ask("What is shown at 05:00?", source=short_source)
    assert a.value.declined == "not_seen" and "ends at 00:40" in a.text, a.text


def test_a_concept_the_encoder_cannot_name_is_declined_with_its_nearest_names(agent, short_source):
    a = agent.ask("Does an astronaut appear?", source=short_source)
    assert a.value.declined == "unrecognised" and a.value.yes is None, a
    assert "cannot recognise" in a.text and "space shuttle" in a.text
    named = agent.ask("Does a cat appear?", source=short_source)
    assert not named.value.declined and named.value.yes is True
