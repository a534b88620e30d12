"""BIDS input through mne-bids: find one EEG recording by subject/session/task/run, with its events.

`find_bids_recording` resolves the entities to the single EEG data file under a BIDS root (EDF,
BDF, BrainVision or FIF, which `open_recording` reads in bounded memory) and its
`*_events.tsv`; `bids_events` turns that table into `Annotation`s with mne-bids' own reader;
`bids_trials` cuts labelled trials around the events (labels from `trial_type`) for training.
Event text is data from the dataset: quoted in reports, never followed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from perception.eeg.recording import Annotation
from perception.errors import InputError

DATA_EXTENSIONS = (".edf", ".bdf", ".vhdr", ".fif")
"""EEG data files the readers here open (EEGLAB .set is not one)."""


@dataclass
class BIDSRecording:
    """One EEG run found in a BIDS dataset."""

    root: Path
    data: Path
    """The data file (EDF, BDF, BrainVision .vhdr or FIF)."""
    events: Path | None = None
    """Its `*_events.tsv`, when there is one."""
    entities: dict[str, str] = field(default_factory=dict)
    """subject, session, task, run as given (None left out)."""


def find_bids_recording(root: str | Path, subject: str, *, session: str | None = None, task: str | None = None,
                        run: str | None = None) -> BIDSRecording:
    """The one EEG recording under `root` that the entities select.

    Raises:
        InputError: the root is missing or not a BIDS dataset, nothing matches, or several
            recordings match (the message lists them, so one more entity can be given).
    """
    from mne_bids import BIDSPath

    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "no such BIDS folder" if not root.exists() else "not a folder (give the BIDS root)")
    if not (root / "dataset_description.json").exists():
        raise InputError(root, "not a BIDS root: dataset_description.json is missing")
    entities = {k: v for k, v in (("subject", subject), ("session", session), ("task", task), ("run", run)) if v}
    if not (root / f"sub-{subject}").is_dir():
        subjects = sorted(p.name[4:] for p in root.glob("sub-*") if p.is_dir())
        raise InputError(root, f"no subject {subject!r}; subjects here: {subjects}")
    query = BIDSPath(root=root, datatype="eeg", suffix="eeg", **entities)
    found = sorted({Path(p.fpath) for p in query.match(ignore_json=True) if Path(p.fpath).suffix.lower() in DATA_EXTENSIONS})
    if not found:
        raise InputError(root, f"no EEG recording ({', '.join(DATA_EXTENSIONS)}) for {_describe(entities)}")
    if len(found) > 1:
        names = [p.name for p in found]
        raise InputError(root, f"{len(found)} EEG recordings match {_describe(entities)}: {names}; "
                               "give --session, --task or --run to pick one")
    data = found[0]
    stem = data.name[: data.name.rindex("_eeg")]
    events = data.with_name(f"{stem}_events.tsv")
    return BIDSRecording(root=root, data=data, events=events if events.exists() else None, entities=entities)


def bids_events(events_tsv: str | Path) -> list[Annotation]:
    """Annotations from a BIDS `*_events.tsv` (onset and duration in seconds; `trial_type`, or
    `value`, as the text), read by mne-bids.

    Raises:
        InputError: the table lacks the onset/duration columns or holds non-numeric times.
    """
    from mne_bids import events_file_to_annotation_kwargs

    path = Path(events_tsv)
    try:
        kw = events_file_to_annotation_kwargs(path, verbose="error")
    except (KeyError, ValueError) as err:
        raise InputError(path, f"not a BIDS events table: {err}") from None
    out = []
    for onset, duration, text in zip(kw["onset"], kw["duration"], kw["description"]):
        try:
            out.append(Annotation(float(onset), float(duration) if duration == duration else 0.0, str(text)))
        except (TypeError, ValueError):
            raise InputError(path, f"onset {onset!r} or duration {duration!r} is not a number") from None
    return out


def _describe(entities: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in entities.items())


def bids_trials(root: str | Path, subject: str, *, session: str | None = None, task: str | None = None,
                run: str | None = None, tmin: float = 0.0, tmax: float = 1.0,
                event_types: Sequence[str] | None = None, units: str | None = None):
    """Labelled trials cut from a BIDS recording around its events, labels from the events'
    `trial_type`: what `agentkit eeg train ROOT --subject ...` trains on.

    Returns:
        (a `TrialSet`, the EEG channel names in its row order).

    Each kept event gives the EEG channels from onset + tmin to onset + tmax (µV, unfiltered);
    events whose window runs past either end of the recording are skipped (the count is logged).

    Args:
        root, subject, session, task, run: as for `find_bids_recording`.
        tmin, tmax: the trial window in seconds relative to each event's onset.
        event_types: the event texts to keep, which become the classes (default: every text
            other than "n/a").
        units: override the data file's units (see `open_recording`).

    Raises:
        InputError: no events table, no event of the asked types, or a window that holds no
            sample (both naming the file).
    """
    import logging

    import numpy as np

    from perception.eeg.recording import open_recording
    from perception.eeg.uea import TrialSet

    ref = find_bids_recording(root, subject, session=session, task=task, run=run)
    if ref.events is None:
        raise InputError(ref.data, "no *_events.tsv beside it: nothing to label trials with")
    if not tmax > tmin:
        raise InputError(ref.events, f"empty trial window: tmax ({tmax}) must be above tmin ({tmin})")
    events = [e for e in bids_events(ref.events) if e.description != "n/a"]
    if event_types is not None:
        wanted = [str(t) for t in event_types]
        missing = [t for t in wanted if t not in {e.description for e in events}]
        if missing:
            raise InputError(ref.events, f"no events of type {missing}; types here: "
                                         f"{sorted({e.description for e in events})}")
        events = [e for e in events if e.description in wanted]
    classes = sorted({e.description for e in events}) if event_types is None else list(wanted)
    if not events:
        raise InputError(ref.events, "no events with a trial_type to use as labels")
    rec = open_recording(ref.data, units=units)
    picks = rec.eeg_picks or list(range(len(rec.ch_names)))
    n = int(round((tmax - tmin) * rec.sfreq))
    X, y, skipped = [], [], 0
    for e in events:
        start = int(round((e.onset + tmin) * rec.sfreq))
        if start < 0 or start + n > rec.n_samples:
            skipped += 1
            continue
        X.append(rec.read(start, start + n)[picks])
        y.append(classes.index(e.description))
    if skipped:
        logging.getLogger(__name__).info("%s: %d of %d events skipped (window outside the recording)", ref.data,
                                         skipped, len(events))
    if not X:
        raise InputError(ref.data, f"every event's window [{tmin:g}, {tmax:g}] s runs outside the recording")
    return TrialSet(X=np.stack(X).astype(np.float32), y=np.array(y), classes=classes, sfreq=rec.sfreq,
                    name=ref.data.stem, path=ref.data), [rec.ch_names[i] for i in picks]
