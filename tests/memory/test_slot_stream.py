"""Latent slots built online (`memory.slot_stream`): the one-step linear-attention recurrence, scene
cuts found as segments arrive, bounded state, and snapshots that agree with build_slots.

All data is generated: each planted scene has its own random direction and labels.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from accel.attention.linear import linear_attention, linear_read, linear_update
from memory.slot_recall import locate
from memory.slot_stream import SlotStream, StreamConfig
from memory.slots import SlotConfig, build_slots

sys.path.insert(0, str(Path(__file__).parent))
from test_slots import DIM, NEEDLE, Obs, _unit, planted  # noqa: E402


@pytest.mark.parametrize("decay", [1.0, 0.9])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_step_recurrence_equals_causal_linear_attention(decay, dtype):
    g = torch.Generator().manual_seed(7)
    b, h, s, d, dv = 2, 3, 37, 12, 9
    q, k = (torch.randn(b, h, s, d, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(b, h, s, dv, generator=g, dtype=dtype)
    ref = linear_attention(q, k, v, causal=True, decay=decay, chunk=8)
    state, z = torch.zeros(b, h, d, dv, dtype=dtype), torch.zeros(b, h, d, dtype=dtype)
    steps = []
    for t in range(s):
        linear_update(state, z, k[:, :, t], v[:, :, t], decay=decay)
        steps.append(linear_read(state, z, q[:, :, t]))
    out = torch.stack(steps, dim=2)
    err = ((out - ref).abs().max() / ref.abs().max()).item()
    assert err < (1e-12 if dtype == torch.float64 else 1e-5), f"decay={decay} {dtype}: rel max err {err}"
    with pytest.raises(ValueError, match="decay"):
        linear_update(state, z, k[:, :, 0], v[:, :, 0], decay=0.0)


def _blocks(lengths, *, seed=0, noise=0.5, step=2.0, with_text=True):
    """Blocks of segments around distinct random directions, each with its own labels; a "bird"
    becomes the top label for one segment inside the second block. Returns (segments, cut indices)."""
    rng = np.random.default_rng(seed)
    out, t, cuts = [], 0.0, []
    for b, n in enumerate(lengths):
        base = _unit(rng.standard_normal(DIM))
        if b:
            cuts.append(len(out))
        for j in range(n):
            v = _unit(base + noise * _unit(rng.standard_normal(DIM)))
            labels = {f"thing {b}": 0.6, "background": 0.2}
            if b == 1 and j == 5:
                labels = {"bird": 0.7, f"thing {b}": 0.2}
            text = f"SIGN {b}" if with_text and j == 3 else ""
            out.append(Obs("s", t, t + step, {"visual": v, "concept": v[:24].copy()}, labels, text, id=len(out)))
            t += step
    return out, cuts


def test_stream_finds_planted_cuts_within_one_segment():
    segs, cuts = _blocks([23, 31, 17], seed=3)
    stream = SlotStream(SlotConfig(), source="s")
    for seg in segs:
        stream.add(seg)
    slots = stream.snapshot()
    starts = slots.scenes.children[:, 0].tolist()
    assert len(slots.scenes) == 3, starts  # one scene per block, the last one still open
    for cut in cuts:
        assert min(abs(s - cut) for s in starts) <= 1, (cut, starts)
    assert slots.n_segments == len(segs) == int(slots.scenes.count.sum()) == int(slots.chapters.count.sum())
    assert slots.stats["live"] == 1.0 and slots.stats["open_count"] == 17


def test_snapshot_labels_and_first_times_match_build_slots():
    segs, _ = _blocks([20, 25, 15], seed=5)
    stream = SlotStream(SlotConfig(), source="s")
    for seg in segs:
        stream.add(seg)
    got, ref = stream.snapshot(), build_slots(segs, SlotConfig(), source="s")

    def first_seen(slots):
        out = {}
        for i in range(len(slots.scenes)):
            for name, t in slots.scenes.first[i].items():
                out[name] = min(out.get(name, np.inf), t)
        return out

    assert first_seen(got) == first_seen(ref) and first_seen(got)["bird"] == segs[20 + 5].t0
    assert got.scenes.children.tolist() == ref.scenes.children.tolist()
    for i in range(len(ref.scenes)):
        # same names; shares within 0.01 (a scene cut early, while the threshold was still settling,
        # merged back from its parts' shares weighted by segments, as chapters are)
        assert got.scenes.labels[i] == pytest.approx(ref.scenes.labels[i], abs=0.01)
        assert got.scenes.first[i] == ref.scenes.first[i] and got.scenes.texts[i] == ref.scenes.texts[i]
    assert got.chapters.children.tolist() == ref.chapters.children.tolist()
    # the pooled vectors are a linear-attention pool (close to the decayed mean), not a softmax one
    cos = np.einsum("ij,ij->i", got.scenes.vectors["visual"], ref.scenes.vectors["visual"])
    assert cos.min() > 0.98, cos


def test_state_stays_bounded_when_ten_times_more_segments_arrive():
    config = SlotConfig(max_scenes=8, max_chapters=3, exemplars=4)
    segs, _ = planted(11 * 1500, seed=4, step=6.0)  # scenes of 1-6 min: ~80 of them
    n = len(segs) // 11
    stream = SlotStream(config, source="s")
    sizes, most = [], 8 + max(1, int(StreamConfig().slack * 8))
    for i, seg in enumerate(segs):
        stream.add(seg)
        assert len(stream._scenes) <= most
        if i % 25 == 0:
            sizes.append((i, stream.nbytes(), len(stream._scenes)))
    assert stream.merges >= 10  # the bound was met by merging, again and again
    assert max(k for i, _, k in sizes if i < n) >= 8  # already at the bound within the first n
    first = max(b for i, b, _ in sizes if n // 2 <= i < n)
    last = max(b for i, b, _ in sizes if i >= 10 * n)
    assert last <= 1.1 * first, (first, last)  # while the raw vectors held grew elevenfold
    slots = stream.snapshot()
    assert len(slots.scenes) <= 8 and len(slots.chapters) <= 3
    assert int(slots.scenes.count.sum()) == len(segs)
    assert np.all(slots.scenes.children[1:, 0] == slots.scenes.children[:-1, 1])


def test_snapshot_serves_coarse_to_fine_and_agrees_with_build_slots():
    segs, needle = planted(2 * 3600, seed=2, needle_at=2500.0)
    config = SlotConfig(max_scenes=64)
    stream = SlotStream(config, source="s")
    for seg in segs:
        stream.add(seg)
    got, ref = stream.snapshot(), build_slots(segs, config, source="s")
    a, b = set(got.scenes.children[:, 0].tolist()), set(ref.scenes.children[:, 0].tolist())
    f1 = 2 * len(a & b) / (len(a) + len(b))
    assert f1 >= 0.8, f1
    assert {n for d in got.scenes.labels for n in d} == {n for d in ref.scenes.labels for n in d}
    found = locate(got, "concept", needle[:24] / np.linalg.norm(needle[:24]), scenes=3)
    assert any(c.t0 <= 2500.0 < c.t1 for c in found), found
    assert NEEDLE in {n for d in got.scenes.labels for n in d}


def test_bad_segments_are_refused_by_name():
    segs, _ = _blocks([3, 3], seed=1)
    stream = SlotStream(SlotConfig(), source="s")
    stream.add(segs[2])
    with pytest.raises(ValueError, match="time order: t0=0 s after one at 4 s"):
        stream.add(segs[0])
    with pytest.raises(ValueError, match=r"vector spaces of the first \['concept', 'visual'\]"):
        stream.add(Obs("s", 9.0, 10.0, {"visual": segs[3].vectors["visual"]}, {}))
    with pytest.raises(ValueError, match="space 'visual': dimension 5"):
        stream.add(Obs("s", 9.0, 10.0, {"visual": np.ones(5), "concept": np.ones(24)}, {}))
    with pytest.raises(ValueError, match="half_life must be"):
        StreamConfig(half_life=0)


def test_segments_without_vectors_cut_on_the_top_label():
    labels = ["cat"] * 6 + ["dog"] * 5 + ["cat"] * 4
    stream = SlotStream(SlotConfig(), source="s")
    for i, name in enumerate(labels):
        stream.add(Obs("s", float(i), i + 1.0, {}, {name: 0.9}))
    slots = stream.snapshot()
    assert slots.scenes.children[:, 0].tolist() == [0, 6, 11]
    assert [max(d, key=d.get) for d in slots.scenes.labels] == ["cat", "dog", "cat"]
