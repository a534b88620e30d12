"""Latent slot memory at 1 h, 10 h and 100 h: build time, bytes per hour, coarse-to-fine reads.

Simulated long sources repeat the real segments of a one-hour store (their real visual and concept
embeddings, labels and text) with new times, hour after hour. Into each, ``--needles`` real
segments of *other* stores (other videos) are planted, one at a time, at random times; the query
for a needle is its own concept vector plus noise (cosine ~0.9 to it). For each needle the
coarse-to-fine path (`memory.slot_recall.locate`, then the segments inside the chosen scenes) is
compared with a full scan over every segment: whether it finds a segment as similar to the query
as the full scan's best (the videos reuse clips, so a needle's content can recur; "as good as" is
the fair test), and how many segments it reads. Both ways of opening chapters are measured: every
chapter (all scenes ranked) and only the ``--chapters`` best by the chapters' own vectors.

    python benchmarks/slot_memory.py --store ~/.cache/agentkit/eval/work/stores/fit-11-... \\
        --needle-stores ~/.cache/agentkit/eval/work/stores/test-0* --hours 1 10 100 --json out.json

The one-hour case is also run through the store itself (`load_slots`: build, save, then a cache
hit; `coarse_to_fine` reading segments back from SQLite).

``--stream-hours`` runs the online builder (`memory.slot_stream.SlotStream`, what a live stream
keeps) over the same simulated sources one segment at a time: µs per `add`, the state's bytes as
it goes, a `snapshot`'s cost, and its agreement with build_slots on the same segments (scene
boundary F1, label names and first times, and the same needle test on the snapshot).
``--hours`` with no value skips the batch rows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HOUR = 3600.0


@dataclass
class Seg:
    """A simulated segment, as the slot builder and the store read it (vectors shared between
    repeats, not copied)."""

    id: int
    t0: float
    t1: float
    vectors: dict[str, np.ndarray]
    labels: dict[str, float]
    text: str = ""
    source: str = "sim"
    modality: str = "video"
    kind: str = "segment"
    meta: dict[str, Any] = field(default_factory=dict)


def read_store(store_path: str) -> list[Any]:
    """Every segment of a store (all sources), with its vectors."""
    from memory.store import EpisodicStore

    with EpisodicStore.open(Path(store_path).expanduser(), read_only=True) as store:
        out = []
        for source in store.sources():
            out += store.get([s.id for s in store.segments(source)], vectors=True)
        return out


def simulate(base: list[Any], hours: int, needles: list[Any], rng: np.random.Generator
             ) -> tuple[list[Seg], list[int]]:
    """``hours`` repeats of ``base`` (times shifted by one hour each) with ``needles`` planted at
    random times (each replaces the segment there); returns the segments and the needles' indices."""
    span = HOUR
    segs = [Seg(h * len(base) + i, s.t0 + h * span, s.t1 + h * span, s.vectors, s.labels, s.text)
            for h in range(hours) for i, s in enumerate(base)]
    where = sorted(rng.choice(len(segs), size=len(needles), replace=False).tolist())
    for idx, needle in zip(where, needles):
        old = segs[idx]
        segs[idx] = Seg(old.id, old.t0, old.t1, needle.vectors, needle.labels, needle.text)
    return segs, where


def _query(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = v / np.linalg.norm(v)
    noise = rng.standard_normal(v.shape[0])
    noise -= (noise @ v) * v
    q = v + 0.48 * noise / np.linalg.norm(noise)  # cosine 0.9 to the needle
    return (q / np.linalg.norm(q)).astype(np.float32)


def run_hours(base: list[Any], needle_pool: list[Any], hours: int, args: argparse.Namespace) -> dict[str, Any]:
    from memory.slot_recall import locate
    from memory.slots import SlotConfig, build_slots

    rng = np.random.default_rng(hours)
    picks = rng.choice(len(needle_pool), size=min(args.needles, len(needle_pool)), replace=False)
    segs, where = simulate(base, hours, [needle_pool[i] for i in picks], rng)
    t = time.perf_counter()
    slots = build_slots(segs, SlotConfig())
    build_s = time.perf_counter() - t
    concept = np.stack([s.vectors["concept"] for s in segs]).astype(np.float32)
    concept /= np.linalg.norm(concept, axis=1, keepdims=True)
    starts = np.array([s.t0 for s in segs])
    variants = {"chapters_all": None, f"chapters_{args.chapters}": args.chapters}
    found = {v: [] for v in variants}
    full_ms, c2f_ms = [], {v: [] for v in variants}
    for idx in where:
        q = _query(segs[idx].vectors["concept"], rng)
        t = time.perf_counter()
        sims = concept @ q
        full_best = float(sims.max())
        full_ms.append(1e3 * (time.perf_counter() - t))
        for name, chapters in variants.items():
            t = time.perf_counter()
            cands = locate(slots, "concept", q, chapters=chapters, scenes=args.scenes)
            rows = np.unique(np.concatenate([np.arange(np.searchsorted(starts, c.t0, "left"),
                                                       np.searchsorted(starts, c.t1, "left")) for c in cands]))
            best = float((concept[rows] @ q).max()) if rows.size else -1.0
            c2f_ms[name].append(1e3 * (time.perf_counter() - t))
            found[name].append((best >= full_best - 1e-6, int(rows.size)))
    row = {"hours": hours, "segments": len(segs), "scenes": len(slots.scenes), "chapters": len(slots.chapters),
           "build_s": round(build_s, 2), "bytes": slots.nbytes(), "bytes_per_hour": round(slots.bytes_per_hour()),
           "needles": len(where), "full_scan_ms_median": round(float(np.median(full_ms)), 2)}
    for name in variants:
        reads = [n for _, n in found[name]]
        row[name] = {"as_good_as_full_scan": sum(ok for ok, _ in found[name]),
                     "segments_read_median": int(np.median(reads)),
                     "read_share_median": round(float(np.median(reads)) / len(segs), 4),
                     "locate_and_read_ms_median": round(float(np.median(c2f_ms[name])), 2)}
    return row


def _f1(a: set[int], b: set[int]) -> float:
    return 2 * len(a & b) / max(1, len(a) + len(b))


def _near(a: set[int], b: set[int], tol: int) -> int:
    """Members of ``a`` within ``tol`` of some member of ``b``."""
    sb = np.array(sorted(b))
    return sum(int(np.abs(sb - x).min() <= tol) for x in a) if sb.size else 0


def _first_seen(slots: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in slots.scenes.first:
        for name, t in d.items():
            out[name] = min(out.get(name, np.inf), t)
    return out


def run_stream(base: list[Any], needle_pool: list[Any], hours: int, args: argparse.Namespace) -> dict[str, Any]:
    """The online builder over the same simulated source as `run_hours` (same seed and needles)."""
    from memory.slot_recall import locate
    from memory.slot_stream import SlotStream
    from memory.slots import SlotConfig, build_slots

    rng = np.random.default_rng(hours)
    picks = rng.choice(len(needle_pool), size=min(args.needles, len(needle_pool)), replace=False)
    segs, where = simulate(base, hours, [needle_pool[i] for i in picks], rng)
    stream = SlotStream(SlotConfig(), source="sim")
    times, peak = np.empty(len(segs)), 0
    for i, seg in enumerate(segs):
        t = time.perf_counter()
        stream.add(seg)
        times[i] = time.perf_counter() - t
        if i % 500 == 0:
            peak = max(peak, stream.nbytes())
    state = stream.nbytes()
    peak = max(peak, state)
    t = time.perf_counter()
    snap = stream.snapshot()
    snap_s = time.perf_counter() - t
    t = time.perf_counter()
    ref = build_slots(segs, SlotConfig())
    build_s = time.perf_counter() - t
    got_b, ref_b = set(snap.scenes.children[1:, 0].tolist()), set(ref.scenes.children[1:, 0].tolist())
    got_l, ref_l = {n for d in snap.scenes.labels for n in d}, {n for d in ref.scenes.labels for n in d}
    fs, fr = _first_seen(snap), _first_seen(ref)
    common = sorted(set(fs) & set(fr))
    # the needle test of run_hours, on the snapshot and on build_slots's slots
    concept = np.stack([s.vectors["concept"] for s in segs]).astype(np.float32)
    concept /= np.linalg.norm(concept, axis=1, keepdims=True)
    starts = np.array([s.t0 for s in segs])
    good = {"stream": 0, "build_slots": 0}
    for idx in where:
        q = _query(segs[idx].vectors["concept"], rng)
        full_best = float((concept @ q).max())
        for name, slots in (("stream", snap), ("build_slots", ref)):
            cands = locate(slots, "concept", q, scenes=args.scenes)
            rows = np.unique(np.concatenate([np.arange(np.searchsorted(starts, c.t0, "left"),
                                                       np.searchsorted(starts, c.t1, "left")) for c in cands]))
            good[name] += bool(rows.size and float((concept[rows] @ q).max()) >= full_best - 1e-6)
    raw = sum(sum(v.nbytes for v in s.vectors.values()) for s in segs)

    def coherence(slots: Any) -> float:
        """Segment-weighted mean over scenes of |sum of members' unit concept vectors|² / count²
        (an estimate of the mean pairwise cosine inside a scene: how alike each scene's members are)."""
        starts_, counts_ = slots.scenes.children[:, 0], slots.scenes.count.astype(np.float64)
        sums = np.add.reduceat(concept, starts_, axis=0, dtype=np.float64)
        return float(((np.einsum("ij,ij->i", sums, sums) / counts_ ** 2) * counts_).sum() / counts_.sum())

    return {"hours": hours, "segments": len(segs), "add_us_mean": round(1e6 * float(times.mean()), 1),
            "add_us_p50": round(1e6 * float(np.median(times)), 1),
            "add_us_p99": round(1e6 * float(np.quantile(times, 0.99)), 1),
            "add_us_max": round(1e6 * float(times.max()), 1), "state_bytes": state, "state_bytes_peak": peak,
            "raw_vector_bytes": raw, "bound_merges": stream.merges, "snapshot_s": round(snap_s, 3),
            "build_slots_s": round(build_s, 2), "scenes": len(snap.scenes), "chapters": len(snap.chapters),
            "scenes_build_slots": len(ref.scenes), "threshold": round(stream.threshold, 4),
            "threshold_build_slots": round(ref.threshold, 4),
            "boundary_f1": round(_f1(got_b, ref_b), 3),
            "boundary_f1_within_1": round((_near(got_b, ref_b, 1) + _near(ref_b, got_b, 1))
                                          / max(1, len(got_b) + len(ref_b)), 3),
            "boundary_f1_within_8": round((_near(got_b, ref_b, 8) + _near(ref_b, got_b, 8))
                                          / max(1, len(got_b) + len(ref_b)), 3),
            "labels_stream_only": len(got_l - ref_l), "labels_build_only": len(ref_l - got_l),
            "labels_common": len(got_l & ref_l),
            "first_time_equal_share": round(sum(fs[n] == fr[n] for n in common) / max(1, len(common)), 3),
            "first_time_abs_diff_s_median": round(float(np.median([abs(fs[n] - fr[n]) for n in common])), 1)
            if common else None,
            "scene_coherence": round(coherence(snap), 4), "scene_coherence_build_slots": round(coherence(ref), 4),
            "needles": len(where), "as_good_as_full_scan": good}


def store_round_trip(store_path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build + save, then a cache hit, then coarse-to-fine reads through a copy of the real store."""
    import shutil

    from memory.slot_files import load_slots
    from memory.slot_recall import coarse_to_fine
    from memory.store import EpisodicStore

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store"
        shutil.copytree(Path(store_path).expanduser(), copy, ignore=shutil.ignore_patterns("slots", "*.lock"))
        with EpisodicStore.open(copy) as store:
            source = store.sources()[0]
            t = time.perf_counter()
            slots = load_slots(store, source)
            first_s = time.perf_counter() - t
            t = time.perf_counter()
            again = load_slots(store, source)
            hit_s = time.perf_counter() - t
            seg = store.get([store.segments(source)[len(store.segments(source)) // 2].id], vectors=True)[0]
            q = _query(seg.vectors["concept"], np.random.default_rng(0))
            t = time.perf_counter()
            found = coarse_to_fine(store, source, "concept", q, slots=again, scenes=args.scenes)
            c2f_s = time.perf_counter() - t
            full = store.search("concept", q, k=1, source=source)[0]
        return {"segments": slots.n_segments, "build_and_save_s": round(first_s, 2), "cache_hit_s": round(hit_s, 3),
                "rebuilt_on_hit": again.stats["rebuilt"], "coarse_to_fine_s": round(c2f_s, 3), "read": found.read,
                "as_good_as_full_scan": bool(found.hits and found.hits[0].score >= full.score - 1e-4),
                "slot_files_bytes": sum(p.stat().st_size for p in (copy / "slots").iterdir())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a one-hour store (read-only) whose segments are repeated")
    parser.add_argument("--needle-stores", nargs="+", required=True, help="stores of other videos: needles")
    parser.add_argument("--hours", nargs="*", type=int, default=[1, 10, 100])
    parser.add_argument("--stream-hours", nargs="*", type=int, default=[1, 10],
                        help="hours the online builder (SlotStream) is run over (none: skipped)")
    parser.add_argument("--needles", type=int, default=20)
    parser.add_argument("--chapters", type=int, default=3, help="chapters opened (the all-chapters row is run too)")
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    base = read_store(args.store)
    pool = [s for p in args.needle_stores for s in read_store(p)]
    if not base or not pool:
        print("no segments in --store or --needle-stores", file=sys.stderr)
        return 2
    out = {"machine": "2 CPU cores", "load_average": os.getloadavg(), "base_segments": len(base),
           "needle_pool": len(pool), "rows": [], "stream": []}
    if args.hours:
        out["store"] = store_round_trip(args.store, args)
        print(json.dumps(out["store"]))
    for h in args.hours:
        row = run_hours(base, pool, h, args)
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
    for h in args.stream_hours:
        row = run_stream(base, pool, h, args)
        out["stream"].append(row)
        print(json.dumps(row), flush=True)
    out["load_average_after"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
