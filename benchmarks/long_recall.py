"""Recall latency through `Agent.ask` on 1 h, 10 h and 100 h stores, and needle answers against a full scan.

A long store repeats the real segments of a one-hour store (their real visual and concept
vectors, labels and text) hour after hour with new times, written to a real store on disk
(SQLite + faiss). Into it ``--needles`` real *runs* of segments from other stores are planted at
random times: each run is where another video shows a picture whose top label never appears in
the base store, so the planted run is the only right answer. For each needle three questions are
asked through `Agent.ask` ("Does a X appear?", "When does a X appear for the first time?", "When
is a X shown?"), once on the default path and once with every long-store shortcut off (the full
scan), and the answers are judged against the planted span.

    python -m benchmarks.long_recall --store ~/.cache/agentkit/eval/work/stores/fit-11-... \\
        --needle-stores '~/.cache/agentkit/eval/work/stores/test-*' --hours 1 10 100 \\
        --work /tmp/long-stores --json benchmarks/results/long_recall_cpu.json

Stores are built once into ``--work`` and reused. Latency is the whole `ask` (plan to compose)
and the recall step alone, median per question family and store length.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.gated_recall import recall_seconds  # noqa: E402
from benchmarks.slot_memory import HOUR, Seg, read_store  # noqa: E402

QUESTIONS = {
    "whether": "Does {a} {x} appear?",
    "first": "When does {a} {x} appear for the first time?",
    "when": "When is {a} {x} shown?",
}


@dataclass
class Needle:
    label: str
    segments: list[Any]
    t0: float = 0.0
    t1: float = 0.0


def _top(seg: Any) -> str | None:
    return max(seg.labels, key=seg.labels.get) if seg.labels else None


def find_needles(base: list[Any], pool: list[list[Any]], n: int, rng: random.Random) -> list[Needle]:
    """Runs of segments in other stores whose top label (>= 0.5 somewhere in the run) the base
    never scores above ``0.2``: the base cannot answer for them, so the planted run is the truth."""
    seen = {name for s in base for name, p in s.labels.items() if p >= 0.2}
    runs: dict[str, list[Any]] = {}
    for segs in pool:
        i = 0
        while i < len(segs):
            label = _top(segs[i])
            j = i
            while j + 1 < len(segs) and _top(segs[j + 1]) == label and segs[j + 1].t0 - segs[j].t1 < 1.5:
                j += 1
            strong = max(s.labels[label] for s in segs[i:j + 1]) if label else 0.0
            if label and label not in seen and strong >= 0.5 and label not in runs:
                runs[label] = segs[i:j + 1]
            i = j + 1
    labels = sorted(runs)
    rng.shuffle(labels)
    return [Needle(label, runs[label]) for label in labels[:n]]


def place(needles: list[Needle], hours: int, rng: random.Random) -> None:
    """One needle per equal slice of the timeline, at a random time inside it."""
    span = HOUR * hours
    for k, nd in enumerate(needles):
        length = nd.segments[-1].t1 - nd.segments[0].t0
        lo = span * k / len(needles)
        nd.t0 = round(lo + rng.uniform(60.0, span / len(needles) - length - 60.0))
        nd.t1 = nd.t0 + length


def build(path: Path, base: list[Any], hours: int, needles: list[Needle], rng: random.Random) -> None:
    """Write ``hours`` repeats of ``base`` with the needles planted (each replaces what it overlaps)."""
    from memory.store import EpisodicStore

    source, span = f"sim-{hours}h", HOUR * hours
    place(needles, hours, rng)
    rows: list[Seg] = []
    for h in range(hours):
        for s in base:
            t0, t1 = s.t0 + h * HOUR, s.t1 + h * HOUR
            if not any(t1 > nd.t0 and t0 < nd.t1 for nd in needles):
                rows.append(Seg(0, t0, t1, s.vectors, s.labels, s.text, source=source, meta=dict(s.meta)))
    for nd in needles:
        shift = nd.t0 - nd.segments[0].t0
        rows += [Seg(0, s.t0 + shift, s.t1 + shift, s.vectors, s.labels, s.text, source=source, meta=dict(s.meta))
                 for s in nd.segments]
    rows.sort(key=lambda o: (o.t0, o.t1))  # written in time order, as indexing writes
    tmp = path.with_name(path.name + ".partial")
    with EpisodicStore.open(tmp, create=True) as store:
        for start in range(0, len(rows), 20000):
            store.add(rows[start:start + 20000])
        store.set_progress(source, duration=span, until=span, done=True)
    tmp.rename(path)


def _spans(answer: Any) -> list[tuple[float, float]]:
    if answer.value.yes is False:
        return []
    return [(e.t0, e.t1) for e in answer.evidence]


def _right(family: str, answer: Any, nd: Needle) -> bool:
    spans = _spans(answer)
    hit = any(t1 >= nd.t0 - 1 and t0 <= nd.t1 + 1 for t0, t1 in spans)
    if family == "whether":
        return answer.value.yes is True and hit
    if family == "first":
        return bool(spans) and spans[0][1] >= nd.t0 - 1 and spans[0][0] <= nd.t1 + 1
    return hit


def ask_all(path: Path, hours: int, needles: list[Needle], full: bool) -> list[dict[str, Any]]:
    from agentkit import Agent

    agent = Agent.default(store=path, read_only=True, calibrator=False)
    agent.toolkit.answer_config = replace(agent.toolkit.answer_config, use_lm_phrasing=False)
    source = f"sim-{hours}h"
    default = agent.toolkit.recall_config
    paths = [("default", default)] + ([("full", replace(default, gated=False))]
                                      if full else [])
    rows = []
    with agent:
        agent.ask("Does a cat appear?", source=source)  # warm models and the store's index
        for nd in needles:
            article = "an" if nd.label[0] in "aeiou" else "a"
            for family, template in QUESTIONS.items():
                q = template.format(a=article, x=nd.label)
                row: dict[str, Any] = {"hours": hours, "family": family, "question": q,
                                       "needle": [nd.t0, nd.t1]}
                for name, config in paths:
                    agent.toolkit.recall_config = config
                    started = time.perf_counter()
                    answer = agent.ask(q, source=source)
                    seconds = time.perf_counter() - started
                    row[name] = {"seconds": round(seconds, 3),
                                 "recall_seconds": round(recall_seconds(agent.toolkit, q, source), 4),
                                 "right": _right(family, answer, nd), "text": answer.text[:200],
                                 "spans": _spans(answer)[:5],
                                 "step": next((s for s in answer.steps if s.startswith("recall #")), "")}
                if full:
                    row["same"] = row["default"]["spans"][:1] == row["full"]["spans"][:1] and \
                        row["default"]["right"] == row["full"]["right"]
                rows.append(row)
                d = row["default"]
                print(f"{hours:>4} h {family:<8} {d['seconds']:6.2f}s recall {d['recall_seconds'] * 1e3:7.0f} ms "
                      f"right {int(d['right'])}" + (f" | full {row['full']['seconds']:6.2f}s right "
                                                    f"{int(row['full']['right'])} same {int(row['same'])}" if full else "")
                      + f"  {q}", flush=True)
        agent.toolkit.recall_config = default
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for hours in sorted({r["hours"] for r in rows}):
        for family in QUESTIONS:
            sel = [r for r in rows if r["hours"] == hours and r["family"] == family]
            if not sel:
                continue
            s = {"hours": hours, "family": family, "n": len(sel),
                 "ask_s_median": round(statistics.median(r["default"]["seconds"] for r in sel), 3),
                 "recall_ms_median": round(1e3 * statistics.median(r["default"]["recall_seconds"] for r in sel), 1),
                 "right": sum(r["default"]["right"] for r in sel)}
            if "full" in sel[0]:
                s |= {"full_ask_s_median": round(statistics.median(r["full"]["seconds"] for r in sel), 3),
                      "full_recall_ms_median": round(1e3 * statistics.median(r["full"]["recall_seconds"] for r in sel), 1),
                      "full_right": sum(r["full"]["right"] for r in sel), "same": sum(r["same"] for r in sel)}
            out.append(s)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a real one-hour store (one source)")
    parser.add_argument("--needle-stores", required=True, help="glob of other stores to take needles from")
    parser.add_argument("--hours", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--needles", type=int, default=6)
    parser.add_argument("--work", default="/tmp/long-recall-stores", help="where the long stores are built")
    parser.add_argument("--no-full", action="store_true", help="skip the full-scan comparison")
    parser.add_argument("--full-max-hours", type=int, default=100, help="full scan only up to this length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    base = read_store(args.store)
    pool = [read_store(p) for p in sorted(glob.glob(os.path.expanduser(args.needle_stores)))]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for hours in args.hours:
        rng = random.Random(args.seed + hours)
        needles = find_needles(base, pool, args.needles, rng)
        if not needles:
            print("no needle found: every label of the needle stores occurs in the base store", file=sys.stderr)
            return 2
        path = work / f"sim-{hours}h-seed{args.seed}"
        if not path.exists():
            started = time.perf_counter()
            build(path, base, hours, needles, rng)
            print(f"built {path} in {time.perf_counter() - started:.0f} s", flush=True)
        else:
            place(needles, hours, rng)
        rows += ask_all(path, hours, needles, full=not args.no_full and hours <= args.full_max_hours)
    summary = summarise(rows)
    for s in summary:
        print(json.dumps(s))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
