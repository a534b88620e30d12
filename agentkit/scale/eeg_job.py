"""`agentkit eeg report FOLDER --out DIR [--engine ray]`: one JSON report per recording, plus an index.

Workers (Ray actors, or this process) analyse recordings; the driver alone writes files, each
atomically: ``<out>/<path below the folder>.report.json`` as soon as its report arrives, and
``<out>/index.json`` (every recording: path, content hash, report file or error) after each. A
rerun skips recordings whose report is listed in the index with the same content hash, so an
interrupted job resumes with no report lost or written twice.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from agentkit.cache import file_hash
from agentkit.scale.files import EEG_EXTENSIONS, find_files
from perception.errors import InputError
from perception.files import write_bytes_atomic

__all__ = ["INDEX_FILE", "EegReporter", "report_recordings"]

logger = logging.getLogger(__name__)

INDEX_FILE = "index.json"


@dataclass(frozen=True)
class EegReporter:
    """Analyse one recording and build its report (`agentkit eeg report FILE --json`), as JSON text.

    Kept as an object so a Ray actor holds it (the shipped calibrator is read once per worker).
    """

    units: str | None = None
    ica: bool = False

    def report(self, path: str) -> tuple[str, str | None, str | None]:
        """(path, the report as JSON text, None), or (path, None, why it failed) for a recording
        that cannot be read or checked (the reason travels as text, named by the path)."""
        import warnings

        from agentkit.eeg.report import build_report
        from agentkit.eeg.session import analyze_file

        with warnings.catch_warnings():  # the report's quality section says what the checks found
            warnings.simplefilter("ignore")
            try:
                analysis = analyze_file(path, units=self.units, ica=self.ica)
                return path, build_report(analysis).model_dump_json(indent=2), None
            except (InputError, ValueError, OSError) as err:
                return path, None, " ".join(str(err).split())

    def pid(self) -> int:
        return os.getpid()


def _report_name(path: Path, roots: Sequence[Path]) -> str:
    """``<path below the folder it was found in>.report.json`` (the file name for a file given alone)."""
    for root in roots:
        try:
            rel = path.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        if str(rel) != ".":
            return rel.as_posix() + ".report.json"
    return path.name + ".report.json"


def report_recordings(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, pool=None,
                      units: str | None = None, ica: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Report on every EEG recording named by ``paths`` (folders searched by extension).

    Args:
        paths: Files and folders.
        out: Folder for the reports and ``index.json``.
        pool: A list of Ray actor handles of `EegReporter` (see ``agentkit eeg report --engine ray``);
            None works in this process.
        units, ica: As for one report.
        progress: ``progress(recordings_done, recordings_total)``.

    Returns:
        The index (also written to ``<out>/index.json``): ``{"recordings": [{"path", "source",
        "report" or "error"}], "done", "failed"}``.

    Raises:
        perception.errors.InputError: A path is missing, or a folder holds no recording (named).
    """
    files = find_files(paths, EEG_EXTENSIONS, what="EEG")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    previous = _read_index(out)
    entries: dict[str, dict] = {}
    todo: list[str] = []
    for f in files:
        source = file_hash(f)
        name = _report_name(f, roots)
        old = previous.get(str(f))
        entry = {"path": str(f), "source": source, "report": name}
        if old and old.get("source") == source and old.get("report") == name and (out / name).is_file():
            entries[str(f)] = old
        else:
            entries[str(f)] = entry | {"pending": True}
            todo.append(str(f))
    bar = progress or (lambda done, total: None)
    done = [len(files) - len(todo)]
    bar(done[0], len(files))

    def write(path: str, report_json: str | None, error: str | None) -> None:
        e = entries[path]
        e.pop("pending", None)
        if error is None:
            write_bytes_atomic(out / e["report"], (report_json + "\n").encode())
            e.pop("error", None)
        else:
            e.pop("report", None)
            e["error"] = error
        _write_index(out, entries)
        done[0] += 1
        bar(done[0], len(files))

    out.mkdir(parents=True, exist_ok=True)
    if pool is None:
        reporter = EegReporter(units=units, ica=ica)
        for path in todo:
            write(*reporter.report(path))
    else:
        _on_actors(pool, deque(todo), write)
    return _write_index(out, entries)


def _on_actors(actors, todo: deque, write) -> None:
    import ray

    inflight: dict[Any, tuple[Any, str]] = {}
    free = list(actors)
    while todo or inflight:
        while todo and free:
            actor, path = free.pop(), todo.popleft()
            inflight[actor.report.remote(path)] = (actor, path)
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        for ref in ready:
            actor, path = inflight.pop(ref)
            free.append(actor)
            try:
                write(*ray.get(ref))
            except ray.exceptions.RayError as err:  # a bug in the analysis, or a worker that kept dying
                write(path, None, f"{path}: {' '.join(str(err).split())[:300]}")


def _read_index(out: Path) -> dict[str, dict]:
    try:
        data = json.loads((out / INDEX_FILE).read_text())
        return {e["path"]: e for e in data.get("recordings", []) if isinstance(e, dict) and "path" in e}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _write_index(out: Path, entries: dict[str, dict]) -> dict[str, Any]:
    rows = [dict(e) for e in entries.values() if not e.get("pending")]
    index = {"recordings": rows, "done": sum("report" in e for e in rows), "failed": sum("error" in e for e in rows),
             "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_bytes_atomic(out / INDEX_FILE, (json.dumps(index, indent=2) + "\n").encode())
    return index


def eeg_actors(workers: int | None, *, address: str | None = None, units: str | None = None, ica: bool = False):
    """``workers`` Ray actors holding an `EegReporter` (Ray started here when not running), and
    whether this call started Ray (then the caller shuts it down)."""
    from agentkit.scale.pool import RESTARTS, require_ray, warn_if_short

    ray = require_ray()
    owns = not ray.is_initialized()
    if owns:
        ray.init(address=address, num_cpus=workers if address is None else None, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    warn_if_short(ray, n)
    actor = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(EegReporter)
    return [actor.remote(units=units, ica=ica) for _ in range(n)], owns
