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

from agentkit.console import err, fail, friendly, out, print_answer, print_eeg_eval, print_eval
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


def index_with_progress(agent, video: Path, *, fps: float, label: str | None = None, chunk_size: int | None = None):
    """Index ``video`` with a rich progress bar (frames, elapsed, rate, ETA) on stderr."""
    from perception.video import probe

    info = probe(video)
    # Load the models before the bar starts, so its rate and ETA measure indexing only.
    agent.load_models()
    duration = float(info.duration or 0.0)
    total = max(1, int(duration * fps))
    source = agent.source_id(video)
    until, done = agent.progress(source)
    with _progress_bar() as bar:
        task = bar.add_task(label or video.name, total=total, completed=min(total, int(until * fps)))

        def on_progress(t: float, *rest) -> None:
            bar.update(task, completed=min(total, int(round(float(t) * fps))))

        report = agent.index(video, source=source, fps=fps, progress=on_progress, chunk_size=chunk_size)
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
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Video files, or folders searched recursively for videos (.mp4, .mkv, .mov, ...).", show_default=False)],
    store: Annotated[Optional[Path], typer.Option(help="Store folder (default for one file: the per-file cache; needed for several).")] = None,
    fps: Annotated[float, typer.Option(help="Frames per second to sample.")] = 1.0,
    chunk: Annotated[int, typer.Option(help="Segments per store write; progress is saved after each.")] = 16,
    engine: Annotated[str, typer.Option(help="serial: the files one after another in this process; ray: on Ray workers.")] = "serial",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. auto, ray://head:10001); default: start one here.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Ray workers (default: one per CPU).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Index videos into a store; re-running after an interruption resumes where it stopped."""
    _setup_logging(verbose)
    from agentkit import Agent
    from agentkit.scale import ENGINES

    if not fps > 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if (address is not None or workers is not None) and engine != "ray":
        raise ValueError("--address and --workers go with --engine ray")
    if chunk < 1:
        raise ValueError(f"--chunk must be at least 1, got {chunk}")
    if len(paths) == 1 and engine == "serial" and not paths[0].is_dir():
        video = paths[0]
        _check_video_path(video)
        folder = _store_for(video, store)
        with Agent.default(store=folder, fps=fps) as agent:
            started = time.perf_counter()
            report = index_with_progress(agent, video, fps=fps, chunk_size=chunk)
            took = time.perf_counter() - started
        out.print(f"indexed [bold]{video.name}[/] as source {report.source}: {report.n_records} segments "
                  f"({report.n_new} new) up to {_mmss(report.indexed_until)} in {took:.1f} s -> {folder}")
        return
    _index_many(paths, store, fps=fps, engine=engine, address=address, workers=workers)


def _index_many(paths: list[Path], store: Optional[Path], *, fps: float, engine: str, address: Optional[str],
                workers: Optional[int]) -> None:
    """`agentkit index` over several files or folders (agentkit.scale), with one bar for the job."""
    from agentkit.scale import index_videos, plan_videos, require_ray

    if engine == "ray":
        require_ray()  # before any work: a missing Ray is one clear line
    files = plan_videos(paths)  # every path checked (and named when bad) before any work
    if store is None:
        raise ValueError("give --store DIR to index several files or a folder into one store")
    if store.exists() and not store.is_dir():
        raise StoreError(store, "is a file, not a store folder")
    pool = None
    with _progress_bar() as bar:
        task = bar.add_task(f"{len(files)} videos", total=None)
        if engine == "ray":
            from agentkit.scale import RayPool

            bar.update(task, description="starting workers")
            pool = RayPool(workers, address=address)
        try:
            if pool is not None:
                pool.ready()  # models loaded before the bar's rate and ETA start
            bar.update(task, description=f"{len(files)} videos")
            bar.reset(task)
            report = index_videos(files, store, fps=fps, pool=pool,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
        except RuntimeError as e:  # workers that keep dying: the job stops, the rerun resumes
            fail(" ".join(str(e).split()))
        finally:
            if pool is not None:
                pool.close()
    for f in report.files:
        out.print(f"{Path(f.path).name}: source {f.source}, {f.n_records} segments ({f.n_new} new) "
                  f"up to {_mmss(f.indexed_until)}")
    out.print(f"indexed {len(report.files)} videos ({report.segments} new segments) with {report.engine}"
              f"{f' on {report.workers} workers' if report.engine == 'ray' else ''} in {report.seconds:.1f} s -> {store}")


def _mmss(t: float) -> str:
    from agentkit.timefmt import format_time

    return format_time(max(0.0, t))


def _open_target(target: str, fps: float):
    """An agent over TARGET (a store folder, or a video indexed first into its per-file store), and
    the source to ask about (None for a store: every source)."""
    from agentkit import Agent
    from memory.store import META_FILE

    path = Path(target)
    if path.is_dir():
        if not (path / META_FILE).is_file():
            raise StoreError(path, "is a folder but not an agentkit store (index a video into it first)")
        return Agent.default(store=path, read_only=True), None
    _check_video_path(path)
    agent = Agent.default(store=_store_for(path, None), fps=fps)
    source = agent.source_id(path)
    _, done = agent.progress(source)
    if not done:
        index_with_progress(agent, path, fps=fps, label=f"indexing {path.name}")
    return agent, source


def _step_printer(verbose: bool):
    """Print the controller's steps on stderr as they happen (with -v)."""
    if not verbose:
        return None
    return lambda node, line: err.print(Text(f"  {line}", style="dim"), soft_wrap=True)


@app.command()
@friendly
def ask(
    target: Annotated[str, typer.Argument(help="A video file (indexed into the per-file cache first) or a store folder.")],
    question: Annotated[str, typer.Argument(help="The question, e.g. \"when does the cat appear?\".")],
    option: Annotated[Optional[list[str]], typer.Option("--option", "-o", help="A multiple-choice option (repeat).")] = None,
    thread: Annotated[Optional[str], typer.Option(help="Conversation name: follow-ups resolve against its earlier turns.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON (with its plan and checks).")] = False,
    fps: Annotated[float, typer.Option(help="Frames per second when a video must be indexed first.")] = 1.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the plan and each step of the controller.")] = False,
) -> None:
    """Answer QUESTION about TARGET (a video or a store folder)."""
    _setup_logging(verbose)
    from agentkit.controller.plan import check_question

    question = check_question(question)  # before indexing: a bad question costs nothing
    agent, source = _open_target(target, fps)
    with agent:
        answer = agent.ask(question, option or None, source=source, thread=thread, on_step=_step_printer(verbose))
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        print_answer(answer, verbose=verbose)


@app.command()
@friendly
def chat(
    target: Annotated[str, typer.Argument(help="A store folder, or a video file (indexed first).")],
    thread: Annotated[Optional[str], typer.Option(help="Conversation to continue (default: a new one).")] = None,
    fps: Annotated[float, typer.Option(help="Frames per second when a video must be indexed first.")] = 1.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the plan and each step of the controller.")] = False,
) -> None:
    """Ask TARGET questions one after another; follow-ups ("and after that?", "and the lion?")
    resolve against the earlier turns. An empty line, "exit" or Ctrl-D ends it."""
    _setup_logging(verbose)
    agent, source = _open_target(target, fps)
    name = thread or time.strftime("chat-%Y%m%d-%H%M%S")
    err.print(f"thread [bold]{name}[/] (continue it later with --thread {name}); an empty line ends")
    with agent:
        while True:
            try:
                line = input("> ").strip()
            except EOFError:
                break
            if not line or line.lower() in ("exit", "quit"):
                break
            try:
                answer = agent.ask(line, source=source, thread=name, on_step=_step_printer(verbose))
            except (ValueError, TypeError) as e:  # a bad question ends that turn, not the conversation
                err.print(Text(f"error: {e}", style="bold red"))
                continue
            print_answer(answer, verbose=verbose)


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


@app.command()
@friendly
def serve(
    store: Annotated[Path, typer.Option(help="Store folder to answer from (and index into).")],
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8750,
    allow: Annotated[Optional[list[Path]], typer.Option("--allow", help="A folder whose files may be indexed or reported on (repeat).")] = None,
    allow_upload: Annotated[bool, typer.Option("--allow-upload", help="Accept file uploads (saved under the cache).")] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="Answer only; another process writes the store.")] = False,
    token_file: Annotated[Optional[Path], typer.Option(help="Where a generated token is kept (mode 0600); default: the cache.")] = None,
    ask_workers: Annotated[Optional[int], typer.Option(help="Questions answered at the same time (default: one per core, up to 2).")] = None,
    cors_origin: Annotated[Optional[list[str]], typer.Option("--cors-origin", help="Allow browser pages of this origin to call the API (repeat); off by default.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens, and every request.")] = False,
) -> None:
    """Serve the agent over HTTP with models loaded once: an API (token needed) and a web page at /."""
    _setup_logging(verbose)
    try:
        import uvicorn

        from agentkit.server import ServerSettings, create_app, resolve_token
    except ImportError as exc:
        raise ValueError(f"the server needs FastAPI and uvicorn ({exc}): pip install 'agentkit[serve]'") from None
    from agentkit.cache import cache_root

    if not 0 < port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    settings = ServerSettings(store=store, allow=tuple(allow or ()), allow_upload=allow_upload, read_only=read_only,
                              cors_origins=tuple(cors_origin or ()),
                              **({"ask_workers": ask_workers} if ask_workers is not None else {}))
    found = resolve_token(token_file or cache_root() / "server" / "token")
    try:
        app_ = create_app(settings, token=found.token, warm=True)
    except StoreError as exc:
        if read_only or "writing elsewhere" not in str(exc):
            raise
        raise ValueError(f"{exc} (to answer from it while another process writes it, add --read-only)") from None
    say = {"soft_wrap": True, "markup": False, "highlight": False}  # a token must never wrap
    if found.origin == "generated":
        out.print(f"token (shown once; kept in {found.path}, mode 0600): {found.token}", **say)
    elif found.origin == "file":
        out.print(f"token: the one kept in {found.path}", **say)
    else:
        out.print("token: from $AGENTKIT_TOKEN", **say)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(Text(f"listening on {host}: other machines can reach this server; put TLS in front of it", style="yellow"))
    shown = f"[{host}]" if ":" in host else host
    out.print(f"page: http://{shown}:{port}/ (append #token=<token> or paste the token there); API docs at /docs", **say)
    uvicorn.run(app_, host=host, port=port, log_level="info" if verbose else "warning", access_log=verbose,
                server_header=False)


from agentkit.eeg.cli import eeg_app  # noqa: E402  (the EEG sub-commands: agentkit eeg ...)

app.add_typer(eeg_app, name="eeg")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
