"""Latent slot memory on generated stores: bounded slots, deterministic rebuilds from the store,
and coarse-to-fine recall that finds a needle reading a small share of the segments.

All data here is generated (no video): each planted scene has its own random direction, and its
segments are that direction plus noise; one short needle scene has a direction of its own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from memory.slot_files import load_slots, read_slots, slot_paths
from memory.slot_recall import coarse_to_fine, locate
from memory.slots import SlotConfig, build_slots, merge_neighbours
from memory.store import EpisodicStore

DIM = 48
NEEDLE = "needle label"


@dataclass
class Obs:
    source: str
    t0: float
    t1: float
    vectors: dict[str, np.ndarray]
    labels: dict[str, float]
    text: str = ""
    modality: str = "video"
    kind: str = "segment"
    meta: dict[str, Any] = field(default_factory=dict)
    id: int = 0


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def planted(seconds: int, *, seed: int = 0, step: float = 2.0, needle_at: float | None = None,
            needle_s: float = 6.0, source: str = "long") -> tuple[list[Obs], np.ndarray]:
    """Segments every ``step`` s: scenes of 1-6 min drawn from 30 recurring directions (noise 0.5),
    and optionally a needle of ``needle_s`` s with its own direction. Returns (segments, needle dir)."""
    rng = np.random.default_rng(seed)
    dirs = [_unit(rng.standard_normal(DIM)) for _ in range(30)]
    needle = _unit(rng.standard_normal(DIM))
    out, t, i = [], 0.0, 0
    while t < seconds:
        k = int(rng.integers(len(dirs)))
        end = t + float(rng.integers(60, 360))
        while t < min(end, seconds):
            in_needle = needle_at is not None and needle_at <= t < needle_at + needle_s
            base = needle if in_needle else dirs[k]
            v = _unit(base + 0.5 * _unit(rng.standard_normal(DIM)))
            labels = {NEEDLE: 0.7} if in_needle else {f"scene {k}": 0.6, "background": 0.2}
            text = f"SIGN {k}" if rng.random() < 0.01 else ""
            out.append(Obs(source, t, t + step, {"visual": v, "concept": v[:24].copy()}, labels, text, id=i))
            t += step
            i += 1
    return out, needle


def test_bounded_slot_counts_and_bytes_per_hour():
    config = SlotConfig(max_scenes=16, max_chapters=4)  # an hour already holds ~17 planted scenes
    sizes = {}
    for hours in (1, 4):
        segs, _ = planted(hours * 3600, seed=hours)
        slots = build_slots(segs, config, source="s")
        assert 1 <= len(slots.chapters) <= 4 and len(slots.scenes) == 16
        assert slots.scenes.count.sum() == len(segs) == slots.chapters.count.sum()
        # chapters partition the scenes, scenes partition the segments, in time order
        assert slots.chapters.children[0, 0] == 0 and slots.chapters.children[-1, 1] == len(slots.scenes)
        assert np.all(slots.chapters.children[1:, 0] == slots.chapters.children[:-1, 1])
        assert np.all(np.diff(slots.scenes.t0) > 0)
        sizes[hours] = slots.nbytes()
    # the bound: (scenes + chapters) x (pooled + exemplars) x dims x 4 bytes, plus capped JSON
    arrays = (16 + 4) * (1 + config.exemplars) * (DIM + 24) * 4
    assert sizes[4] <= arrays + 20 * (config.max_labels * 60 + config.max_texts * 230) + 20 * 64
    assert sizes[4] < 1.3 * sizes[1]  # four times the hours, about the same bytes: per hour falls


def test_scene_boundaries_follow_planted_scenes():
    segs, _ = planted(1800, seed=3)
    slots = build_slots(segs, SlotConfig())
    planted_starts = [s.t0 for a, s in zip(segs, segs[1:]) if a.labels != s.labels]
    found = set(slots.scenes.t0.tolist())
    hit = sum(1 for t in planted_starts if t in found)
    assert hit >= 0.9 * len(planted_starts)
    assert len(slots.scenes) <= 1.5 * (len(planted_starts) + 1)
    top = max(slots.scenes.labels[0], key=slots.scenes.labels[0].get)
    assert top == max(segs[0].labels, key=segs[0].labels.get)


def test_merge_neighbours_keeps_contiguous_groups_and_bound():
    rng = np.random.default_rng(0)
    sums = rng.standard_normal((50, 8))
    starts = merge_neighbours(sums, np.ones(50), np.zeros(49, bool), keep=7, tau=2.0, balance=1.0)
    assert len(starts) == 7 and starts[0] == 0 and np.all(np.diff(starts) > 0)
    assert max(np.diff(np.append(starts, 50))) <= 20  # balanced: no group swallows the rest


def test_rebuild_is_deterministic_and_stale_cache_rebuilds(tmp_path):
    segs, _ = planted(3600, seed=5)
    with EpisodicStore.open(tmp_path / "store") as store:
        store.add(segs)
        first = load_slots(store, "long")
        assert first.stats["rebuilt"] == 1.0
        npz, meta = slot_paths(store.path, "long")
        assert npz.exists() and meta.exists()
        again = load_slots(store, "long")
        assert again.stats["rebuilt"] == 0.0
        fresh = build_slots(store.get([s.id for s in store.segments("long")], vectors=True), first.config)
        for lvl in ("scene", "chapter"):
            a, b, c = first.level(lvl), again.level(lvl), fresh.level(lvl)
            for name, arr in a.arrays().items():
                np.testing.assert_array_equal(arr, b.arrays()[name], err_msg=f"{lvl} {name} (cache)")
                np.testing.assert_array_equal(arr, c.arrays()[name], err_msg=f"{lvl} {name} (rebuild)")
            assert a.labels == b.labels == c.labels and a.texts == b.texts
        # the store changes: the cache is stale and rebuilds, covering the new segments
        more, _ = planted(600, seed=6)
        for o in more:
            o.t0, o.t1 = o.t0 + 3600, o.t1 + 3600
        store.add(more)
        grown = load_slots(store, "long")
        assert grown.stats["rebuilt"] == 1.0 and grown.n_segments == len(segs) + len(more)
        # another config is another cache
        assert load_slots(store, "long", SlotConfig(max_scenes=8)).stats["rebuilt"] == 1.0
        assert load_slots(store, "long", SlotConfig(max_scenes=8)).stats["rebuilt"] == 0.0
    # a damaged or tampered cache is never trusted
    npz.write_bytes(b"not a zip")
    assert read_slots(tmp_path / "store", "long") is None
    doc = json.loads(meta.read_text())
    assert doc["format"] and "pickle" not in meta.read_text()


def test_coarse_to_fine_finds_the_needle_reading_a_small_share(tmp_path):
    needle_at = 2 * 3600 + 1234.0
    segs, needle = planted(3 * 3600, seed=11, needle_at=needle_at)
    rng = np.random.default_rng(99)
    query = _unit(needle + 0.3 * _unit(rng.standard_normal(DIM)))
    with EpisodicStore.open(tmp_path / "store") as store:
        store.add(segs)
        config = SlotConfig(max_scenes=24, max_chapters=6)  # ~54 planted scenes: the bound merges them
        slots = load_slots(store, "long", config)
        home = next(i for i in range(len(slots.scenes)) if slots.scenes.t0[i] <= needle_at < slots.scenes.t1[i])
        assert slots.scenes.count[home] > 50  # the 3-segment needle sits inside a long merged scene
        found = coarse_to_fine(store, "long", "visual", query, slots=slots, chapters=2, scenes=3)
        assert found.read < found.total / 3, (found.read, found.total)
        best = found.hits[0]
        assert needle_at <= best.t0 < needle_at + 6 and best.labels == {NEEDLE: 0.7}
        # the same needle from a full scan, for comparison
        full = store.search("visual", query, k=1, source="long")[0]
        assert full.id == best.id
        cands = locate(slots, "visual", query, chapters=2, scenes=3)
        assert any(c.t0 <= needle_at < c.t1 for c in cands)
    with pytest.raises(ValueError, match="space 'nope'"):
        locate(slots, "nope", query)
    with pytest.raises(ValueError, match="dim 48"):
        locate(slots, "visual", query[:5])


def test_slots_without_vectors_and_empty_source():
    segs = [Obs("s", float(t), t + 1.0, {}, {"cat" if t < 10 else "dog": 0.8}) for t in range(20)]
    slots = build_slots(segs, SlotConfig())
    assert [max(d, key=d.get) for d in slots.scenes.labels] == ["cat", "dog"]
    assert slots.scenes.first[1] == {"dog": 10.0}
    empty = build_slots([], SlotConfig())
    assert len(empty.scenes) == len(empty.chapters) == 0 and locate(empty, "visual", np.ones(3)) == []
    with pytest.raises(ValueError, match="max_scenes"):
        SlotConfig(max_scenes=0)
