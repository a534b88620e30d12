"""The gated reader: answers equal to a full scan, far fewer segments read where the exit gate can
close early, a state that does not grow, and the store's own segments as input."""
from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import pytest

from memory.gated import Cue, GateConfig, GatedReader

DIM = 256
HOUR = 3600


@dataclass
class Seg:
    t0: float
    t1: float
    vectors: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    source: str = "s"
    modality: str = "video"
    kind: str = "segment"
    text: str = ""
    meta: dict = field(default_factory=dict)


def _unit(v):
    return v / np.linalg.norm(v)


def _hour(needles: dict[str, list[tuple[int, int]]], seed: int = 0, flicker: int | None = None):
    """One hour of 1 s segments with random vectors; each needle's spans carry its own direction
    (plus noise) and its label. ``flicker``: one segment inside the first span loses the needle."""
    rng = np.random.default_rng(seed)
    dirs = {name: _unit(rng.standard_normal(DIM)) for name in needles}
    segs = []
    for t in range(HOUR):
        v = _unit(rng.standard_normal(DIM))
        labels = {"street": 0.6}
        for name, spans in needles.items():
            if any(a <= t < b for a, b in spans) and t != flicker:
                v = _unit(dirs[name] + 0.3 * _unit(rng.standard_normal(DIM)))
                labels = {name: 0.8}
        segs.append(Seg(float(t), float(t + 1), {"concept": v.astype(np.float32)}, labels))
    return segs, dirs


def _full_scan(segs, cue: Cue, config: GateConfig):
    """Reference: every segment's gate, runs joined as the reader joins them."""
    spans = []
    for s in segs:
        if config.gate(cue.score(s)) >= 0.5:
            if spans and s.t0 - spans[-1][1] <= config.join_gap:
                spans[-1][1] = s.t1
            else:
                spans.append([s.t0, s.t1])
    return [tuple(x) for x in spans]


CAT = [(600, 604), (1500, 1502), (3000, 3005)]


@pytest.fixture(scope="module")
def hour():
    return _hour({"cat": CAT, "dog": [(2000, 2003)], "bus": [(500, 501)]})


@pytest.mark.parametrize("by", ["vector", "labels"])
def test_answers_match_a_full_scan_and_the_exit_gate_reads_less(hour, by):
    segs, dirs = hour
    cue = Cue("cat", vector=dirs["cat"]) if by == "vector" else Cue("cat", labels={"cat", "tabby"})
    cfg = GateConfig()
    truth = _full_scan(segs, cue, cfg)
    assert truth == [(600.0, 604.0), (1500.0, 1502.0), (3000.0, 3005.0)]

    first = GatedReader("first", [cue], cfg).read(segs)
    assert (first.first["cat"].t0, first.first["cat"].t1) == truth[0]
    assert first.exited and HOUR / first.read >= 3  # about 6x fewer here

    exists = GatedReader("exists", [cue], cfg).read(segs)
    assert exists.found and exists.read == 601 and HOUR / exists.read >= 3

    last = GatedReader("last", [cue], cfg).read(segs)  # backwards from the end
    assert (last.first["cat"].t0, last.first["cat"].t1) == truth[-1]
    assert last.exited and HOUR / last.read >= 3

    second = GatedReader("nth", [cue], cfg, n=2).read(segs)
    assert (second.nth.t0, second.nth.t1) == truth[1] and second.read < 1510

    count = GatedReader("count", [cue], cfg).read(segs)
    assert count.count["cat"] == 3 and count.read == HOUR and not count.exited
    assert count.seconds["cat"] == pytest.approx(4 + 2 + 5)
    assert [(o.t0, o.t1) for o in count.best][:3] and len(count.best) == 3


def test_absent_subject_reads_everything_and_finds_nothing(hour):
    segs, _ = hour
    rng = np.random.default_rng(5)
    result = GatedReader("exists", [Cue("zebra", vector=rng.standard_normal(DIM), labels={"zebra"})]).read(segs)
    assert not result.found and result.read == HOUR and not result.exited


def test_order_exits_once_every_cue_was_seen(hour):
    segs, dirs = hour
    cues = [Cue(n, vector=dirs[n]) for n in ("dog", "cat", "bus")]
    result = GatedReader("order", cues).read(segs)
    assert result.order == ["bus", "cat", "dog"]
    assert result.exited and result.read < 2010


def test_a_flicker_does_not_split_a_sighting():
    segs, dirs = _hour({"cat": CAT}, seed=3, flicker=602)
    cue = Cue("cat", vector=dirs["cat"])
    assert GatedReader("count", [cue]).read(segs).count["cat"] == 3
    assert GatedReader("count", [cue], GateConfig(join_gap=0.0)).read(segs).count["cat"] == 4


def test_online_steps_keep_a_fixed_size_state():
    """A live stream: one step per observation, O(1) memory whatever the length."""
    rng = np.random.default_rng(1)
    target = _unit(rng.standard_normal(DIM))
    reader = GatedReader("count", [Cue("cat", vector=target)], GateConfig(best=4))

    def feed(a, b):
        for t in range(a, b):
            v = target if t % 10 == 0 else _unit(rng.standard_normal(DIM))
            assert reader.step(Seg(float(t), t + 1.0, {"concept": v}))

    feed(0, 2_000)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    feed(2_000, 22_000)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename")
                if s.traceback[0].filename.endswith("gated.py"))
    tracemalloc.stop()
    assert grown < 4_000  # bytes, after 20,000 more steps and 2,000 more sightings
    assert reader.result().count["cat"] == 2_200 and len(reader.result().best) == 4
    reader.step(Seg(22_000.0, 22_001.0, {"concept": target}))
    assert reader.result().count["cat"] == 2_200  # the newest sighting is still open
    assert reader.finish().count["cat"] == 2_201


def test_reads_store_segments_with_vectors(tmp_path, hour):
    from memory.store import EpisodicStore

    segs, dirs = hour
    with EpisodicStore.open(tmp_path / "store") as store:
        ids = store.add(segs[:900])
        stored = store.get(ids, vectors=True)
    result = GatedReader("first", [Cue("cat", vector=dirs["cat"])]).read(stored)
    assert (result.first["cat"].t0, result.first["cat"].t1) == (600.0, 604.0)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="goal must be one of exists, first"):
        GatedReader("most", [Cue("a", labels={"a"})])
    with pytest.raises(ValueError, match="needs a vector or label names"):
        Cue("a")
    with pytest.raises(ValueError, match="goal 'order' needs at least two cues"):
        GatedReader("order", [Cue("a", labels={"a"})])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        GateConfig(temperature=0)
    reader = GatedReader("count", [Cue("a", labels={"a"})])
    reader.step(Seg(5.0, 6.0))
    with pytest.raises(ValueError, match="segments must come in time order: 1-2 s after 5 s"):
        reader.step(Seg(1.0, 2.0))
