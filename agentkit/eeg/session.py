"""Open, analyse and remember one EEG file; the glue the CLI and Python callers share."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from perception.eeg import ArtifactConfig, EEGAnalysis, Recipe, analyze, observations, open_recording
from perception.files import file_sha256

logger = logging.getLogger(__name__)


def file_source_id(path: str | Path) -> str:
    """'eeg:' + the first 16 hex digits of the file's sha256 (read in 1 MB blocks)."""
    return "eeg:" + file_sha256(path)[:16]


@dataclass
class EEGSession:
    """A file's analysis and the memory it was written to."""

    analysis: EEGAnalysis
    source: str
    offset: float
    reader: Any  # a controller MemoryReader


def analyze_file(path: str | Path, *, units: str | None = None, recipe: Recipe | None = None, ica: bool = False,
                 window_s: float = 2.0, step_s: float = 1.0, progress: Callable[[float, float], None] | None = None,
                 events: list | None = None) -> EEGAnalysis:
    """Open (with checks) and analyse an EEG file in chunks.

    Args:
        progress: called as progress(fraction done, recording seconds) after each chunk.
        events: more `Annotation`s of this recording (e.g. a BIDS events.tsv); one with the
            onset (to 1 ms) and text of a file annotation is not added twice.
    """
    rec = open_recording(path, units=units)
    if events:
        have = {(round(a.onset, 3), a.description) for a in rec.annotations}
        rec.annotations = rec.annotations + [a for a in events if (round(a.onset, 3), a.description) not in have]
    report = (lambda f: progress(f, rec.duration)) if progress else None
    return analyze(rec, recipe, window_s=window_s, step_s=step_s, artifacts=ArtifactConfig(), ica=ica,
                   progress=report)


def remember(analysis: EEGAnalysis, *, source: str, offset: float = 0.0, store: str | Path | None = None,
             extra: list | None = None) -> Any:
    """Write the analysis' observations to memory and return a reader over it.

    With `store` (a folder), they go to the shared `memory.EpisodicStore` through
    `agentkit.memory_view.MemoryView` (video and EEG on one time axis: pass the EEG start's
    `offset` in seconds on the video's clock). A source already complete in the store is not
    written twice. Without `store`, an in-process reader holds them. `extra`: more observations
    of the same source (e.g. `transformer_observations`).
    """
    obs = list(observations(analysis, source=source, offset=offset)) + list(extra or [])
    if store is None:
        from agentkit.eeg.ask import ListReader

        return ListReader(obs)
    from agentkit.memory_view import MemoryView

    view = MemoryView.open(store)
    until, done = view.progress(source)
    if not done:
        view.write_chunk(source, obs)
        view.mark_done(source, max(o.t1 for o in obs), path=analysis.path)
    else:
        logger.info("%s already in %s; not written again", source, store)
    return view.reader()


def open_session(path: str | Path, *, store: str | Path | None = None, source: str | None = None,
                 offset: float = 0.0, units: str | None = None, ica: bool = False,
                 progress: Callable[[float, float], None] | None = None, model: str | Path | None = None,
                 events: list | None = None) -> EEGSession:
    """Analyse `path` and remember it; the source id defaults to the file's content hash.

    Args:
        model: folder of a saved `TrialEncoder` (`agentkit eeg train`) or `EEGTransformer`; its
            windows (calibrated class probabilities) are remembered too, so questions naming its
            classes use it.
    """
    analysis = analyze_file(path, units=units, ica=ica, progress=progress, events=events)
    source = source or file_source_id(path)
    extra = []
    if model is not None and (Path(model) / "encoder.json").exists():
        from perception.eeg.encode import encoder_observations
        from perception.eeg.encoders import load_encoder

        extra = list(encoder_observations(open_recording(path, units=units, check=False), load_encoder(model),
                                          source=source, offset=offset))
    elif model is not None:
        from perception.eeg.encode import transformer_observations
        from perception.eeg.transformer import load

        extra = list(transformer_observations(open_recording(path, units=units, check=False), load(model),
                                              source=source, offset=offset))
    return EEGSession(analysis, source, offset, remember(analysis, source=source, offset=offset, store=store,
                                                         extra=extra))
