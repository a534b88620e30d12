"""Question latency through `Agent` on the 1-hour store of the generated evaluation set.

Usage:
    python benchmarks/ask_latency.py                 # every question of the 1 h test video, 3 rounds
    python benchmarks/ask_latency.py --rounds 1 --out benchmarks/results/ask_latency.json

The agent is warm (models loaded, one question asked first); each question is timed end to end
(plan, recall, verify with re-decoding and re-encoding frames, decide, compose), and each node's
share is taken from the controller's step stream. In the same run the same questions are timed
with the verify node replaced by a pass-through: the baseline for the verification's cost.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _time(agent, cases, rounds: int) -> dict:
    per_question, per_node, by_family = [], {}, {}
    for _ in range(rounds):
        for case in cases:
            marks = [time.perf_counter()]
            nodes = []

            def on_step(node, line, marks=marks, nodes=nodes):
                marks.append(time.perf_counter())
                nodes.append(node)

            t0 = time.perf_counter()
            agent.ask(case.question, case.options or None, on_step=on_step)
            dt = time.perf_counter() - t0
            per_question.append(dt)
            by_family.setdefault(case.family, []).append(dt)
            for node, a, b in zip(nodes, marks, marks[1:]):
                per_node.setdefault(node, []).append(b - a)
    return {
        "n": len(per_question), "p50_s": statistics.median(per_question), "p95_s": _percentile(per_question, 0.95),
        "max_s": max(per_question), "mean_s": statistics.fmean(per_question),
        "families_p50_s": {f: statistics.median(v) for f, v in sorted(by_family.items())},
        "families_p95_s": {f: _percentile(v, 0.95) for f, v in sorted(by_family.items())},
        "nodes_mean_s": {n: statistics.fmean(v) for n, v in sorted(per_node.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--video", default="test-11", help="generated video name (test-11 is the 1 h one)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from agentkit import Agent
    from agentkit.cache import cache_root
    from agentkit.evaluation.cases import read_cases
    from agentkit.evaluation.main import default_set
    from agentkit.evaluation.run import store_for

    torch.set_num_threads(1)
    cases = [c for c in read_cases(default_set())[0] if c.group == args.video]
    if not cases:
        sys.exit(f"no questions for video {args.video!r} in the generated set")
    store = store_for(cache_root() / "eval" / "work", cases[0].video)
    if not store.is_dir():
        sys.exit(f"{store} is not indexed yet: run `agentkit eval` once first")
    results = {"machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, torch threads 1",
               "date": time.strftime("%Y-%m-%d"), "video": args.video, "questions": len(cases), "rounds": args.rounds}
    with Agent.default(store=store, read_only=True) as agent:
        agent.ask(cases[0].question)  # load the models and the label hierarchy
        results["with_verify"] = _time(agent, cases, args.rounds)
        agent.builder.replace_node("verify", lambda state: {})
        agent.rebuild()
        results["without_verify"] = _time(agent, cases, args.rounds)
    results["verify_cost_ratio_p50"] = results["with_verify"]["p50_s"] / results["without_verify"]["p50_s"]
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
