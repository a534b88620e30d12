"""Long-video Q&A in a few lines: index a video, ask it questions, print spans and confidence.

Usage:
    python examples/long_video_qa.py [VIDEO] [--store DIR]

Without VIDEO, a 3-minute video is composed from the real clips shipped in PyPI packages, with a
coffee cup, a cat and a code-word sign inserted at known times.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from agentkit import Agent
from agentkit.timefmt import format_span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--store", type=Path, default=Path("example_store"))
    args = parser.parse_args()

    video = args.video
    if video is None:
        from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

        made = synthesize_video(args.store.parent / "example.mp4", 180, size=(640, 360), needles=[
            ImageNeedle("coffee", t0=40), ImageNeedle("chelsea", t0=125, name="cat"), TextNeedle("CODE WORD: KUMQUAT", t0=90)])
        video = made.path
        print("ground truth:", ", ".join(f"{n.payload} {format_span(n.t0, n.t1)}" for n in made.needles))

    with Agent.default(store=args.store) as agent:
        report = agent.index(video)  # resumable: run it again after Ctrl-C and it continues
        print(f"{report.n_records} segments in memory ({report.n_new} new)")
        for question in [
            "When does the coffee appear?",
            "Does a cat appear?",
            "When is the code word KUMQUAT shown?",
            "What is shown around 01:30?",
            "What happens after the cat appears?",
            "Which animal is shown? (a) a giraffe (b) a cat (c) a horse",
        ]:
            answer = agent.ask(question, source=report.source)
            flag = " (abstained)" if answer.abstained else ""
            print(f"\nQ: {question}\nA: {answer.text}\n   confidence {answer.confidence:.2f}{flag}")
            for e in answer.evidence[:3]:
                print(f"   {format_span(e.t0, e.t1)}  {e.score:.2f}  {', '.join(e.labels)}  {e.why}")


if __name__ == "__main__":
    main()
