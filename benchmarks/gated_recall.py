"""Gated recall against the full scan on a real store: segments read, answers side by side, latency.

Asks the whether / first / last questions of a cases file (the evaluation harness's format) about
one store, opened read-only, twice per question: with the gated path (`RecallConfig.gated`) and
with the full scan. Prints one row per question and a summary; ``--json`` writes every row.

    python benchmarks/gated_recall.py --store ~/.cache/agentkit/eval/work/stores/fit-11-... \\
        --cases ~/.cache/agentkit/eval/set-2026-12/cases.jsonl --video videos/fit-11.mp4

Segments read are the distinct segments the recall step read from the store (the step line's
count); latency is the whole `Agent.ask` (plan to compose, verify step included).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_READ = re.compile(r"read (\d+) (?:of (?:about )?\d+ )?segments")
FAMILIES = ("whether", "first_last")


def _segments_read(answer) -> int | None:
    for step in answer.steps:
        if step.startswith("recall #"):
            m = _READ.search(step)
            if m:
                return int(m.group(1))
    return None


def _same(a: dict, b: dict) -> bool:
    """The same answer: the same yes/no and the same span answered with (within a second)."""
    if a["yes"] != b["yes"] or (a["span"] is None) != (b["span"] is None):
        return False
    return a["span"] is None or all(abs(x - y) <= 1.0 for x, y in zip(a["span"], b["span"]))


def recall_seconds(toolkit, question: str, source: str) -> float:
    """The recall step alone (plan, read, match), as the graph's recall node calls it."""
    from agentkit.controller.plan import CONCEPT_KINDS, parse_question
    from agentkit.controller.recall import recall

    plan = parse_question(question)
    vocabulary = toolkit.vocabulary if plan.kind in CONCEPT_KINDS else None
    started = time.perf_counter()
    recall(plan, toolkit.memory.reader(), toolkit.embed_text, source=source, centroid=toolkit.concept_centroid,
           config=toolkit.recall_config, vocabulary=vocabulary)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="store folder (opened read-only)")
    parser.add_argument("--cases", required=True, help="cases.jsonl of the evaluation harness")
    parser.add_argument("--video", required=True, help='the cases\' "video" value whose questions to ask')
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--json", default=None, help="write the rows here")
    parser.add_argument("--min-segments", type=int, default=None,
                        help="override RecallConfig.gated_min_segments (e.g. to try a shorter store)")
    args = parser.parse_args(argv)

    from agentkit import Agent
    from agentkit.evaluation.cases import Case
    from agentkit.evaluation.judge import judge

    families = set(args.families.split(","))
    cases = [json.loads(line) for line in Path(args.cases).expanduser().read_text().splitlines() if line.strip()]
    cases = [c for c in cases if c.get("video") == args.video and c["family"] in families]
    agent = Agent.default(store=Path(args.store).expanduser(), read_only=True, calibrator=False)
    agent.toolkit.answer_config = replace(agent.toolkit.answer_config, use_lm_phrasing=False)
    sources = agent.toolkit.memory.store.sources()
    if len(sources) != 1:
        print(f"expected one source in {args.store}, found {sources}", file=sys.stderr)
        return 2
    source = sources[0]
    base = agent.toolkit.recall_config
    if args.min_segments is not None:
        base = replace(base, gated_min_segments=args.min_segments)
    rows = []
    with agent:
        agent.ask("Does a cat appear?", source=source)  # warm the models before timing
        for c in cases:
            case = Case.model_validate({k: v for k, v in c.items() if k != "video"} | {"store": args.store})
            row = {"id": c["id"], "question": c["question"], "family": c["family"]}
            for name, gated in (("gated", True), ("full", False)):
                agent.toolkit.recall_config = replace(base, gated=gated)
                started = time.perf_counter()
                answer = agent.ask(c["question"], source=source)
                main = answer.evidence[0] if answer.evidence and answer.value.yes is not False else None
                recall_s = recall_seconds(agent.toolkit, c["question"], source)
                row[name] = {"answer": answer.text, "read": _segments_read(answer), "raw": answer.raw_score,
                             "recall_seconds": round(recall_s, 4),
                             "yes": answer.value.yes, "span": [main.t0, main.t1] if main is not None else None,
                             "seconds": round(time.perf_counter() - started, 3),
                             "correct": bool(judge(case.family, case.truth, answer)),
                             "recall_step": next((s for s in answer.steps if s.startswith("recall #")), "")}
            row["same_text"] = row["gated"]["answer"] == row["full"]["answer"]
            row["same"] = _same(row["gated"], row["full"])
            rows.append(row)
            g, f = row["gated"], row["full"]
            print(f"{c['id']:<22} read {g['read']:>5} vs {f['read']:>5}  {g['seconds']:6.2f}s vs {f['seconds']:6.2f}s  "
                  f"ok {int(g['correct'])}/{int(f['correct'])}  {'same' if row['same'] else 'DIFF'}  {c['question']}")
            if not row["same"]:
                print(f"    gated: {g['answer'][:150]}\n    full:  {f['answer'][:150]}")
    agent.toolkit.recall_config = base
    if rows:
        g_read = [r["gated"]["read"] for r in rows if r["gated"]["read"]]
        f_read = [r["full"]["read"] for r in rows if r["full"]["read"]]
        print(f"\n{len(rows)} questions; segments read: gated {sum(g_read)} vs full {sum(f_read)} "
              f"({sum(f_read) / max(1, sum(g_read)):.2f}x fewer); same answer {sum(r['same'] for r in rows)}/{len(rows)} "
              f"(same text {sum(r['same_text'] for r in rows)}); "
              f"correct gated {sum(r['gated']['correct'] for r in rows)} vs full {sum(r['full']['correct'] for r in rows)}; "
              f"median ask latency gated {statistics.median(r['gated']['seconds'] for r in rows):.2f}s "
              f"vs full {statistics.median(r['full']['seconds'] for r in rows):.2f}s; median recall step "
              f"gated {statistics.median(r['gated']['recall_seconds'] for r in rows) * 1000:.0f} ms "
              f"vs full {statistics.median(r['full']['recall_seconds'] for r in rows) * 1000:.0f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
