"""One interface over every EEG source: sample ranges in microvolts, read on demand.

A `Recording` never holds the whole signal. EDF/BDF go through our bounded-memory reader
(`perception.eeg.edf`); FIF and BrainVision through MNE with `preload=False` and
`get_data(start, stop)`; plain arrays are wrapped as they are.
"""
from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from perception.errors import InputError
from perception.files import check_file
from perception.eeg.edf import EdfReader

logger = logging.getLogger(__name__)

SUFFIXES = {".edf": "edf", ".bdf": "bdf", ".fif": "fif", ".fif.gz": "fif", ".vhdr": "brainvision"}
UNIT_SCALE_TO_UV = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
"""Multiply by this to get microvolts. Keys are lower-cased unit labels."""

# Channel types from labels (EDF carries no types). Names of the 10-05 system count as EEG.
_TYPE_PATTERNS = (
    ("ecg", re.compile(r"^(ECG|EKG)", re.I)), ("eog", re.compile(r"^(EOG|HEOG|VEOG|LOC|ROC)", re.I)),
    ("emg", re.compile(r"^(EMG|CHIN|LEG)", re.I)), ("stim", re.compile(r"^(STI|STATUS|TRIG|EVENT|MARKER)", re.I)),
    ("misc", re.compile(r"^(RESP|SPO2|SAO2|PLETH|PULSE|HR|TEMP|POS|LIGHT|PHOTIC|IBI|BURSTS|SUPPR)", re.I)),
)
_PREFIX = re.compile(r"^(EEG|EEG-)\s*", re.I)
_SUFFIX = re.compile(r"[-_ ]?(REF|LE|AR|AVG|M1|M2|A1|A2)$", re.I)


class EEGWarning(UserWarning):
    """A problem with an EEG source that does not stop processing; the message names the file."""


def warn(path: str, problem: str) -> None:
    """One-line warning naming the file, also logged."""
    logger.warning("%s: %s", path, problem)
    warnings.warn(f"{path}: {problem}", EEGWarning, stacklevel=3)


def clean_channel_name(label: str) -> str:
    """'EEG Fp1-REF' -> 'Fp1' so that montages and frontal/posterior groups match."""
    name = _SUFFIX.sub("", _PREFIX.sub("", label.strip())).strip()
    return name or label.strip()


def channel_type(label: str) -> str:
    """Guess 'eeg', 'eog', 'ecg', 'emg', 'stim' or 'misc' from a channel label."""
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.match(label.strip()):
            return kind
    return "eeg"


@dataclass(frozen=True)
class Annotation:
    """A marker in the file: onset and duration in seconds of file time, and its (untrusted) text."""

    onset: float
    duration: float
    description: str


class Recording:
    """A multichannel recording read in sample ranges, values in microvolts.

    Attributes:
        path: file path or a name for arrays.
        sfreq: sampling rate in Hz.
        ch_names: cleaned channel names, in order.
        ch_types: 'eeg', 'eog', ... per channel.
        n_samples: samples per channel.
        unit_labels: units as the source stated them, per channel.
        annotations: markers in the file.
        clip_range: (n_channels, 2) physical values at the converter's rails (µV), or None.
        check: what `check_recording` found (bad channels), once it ran.
    """

    path: str
    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    n_samples: int
    unit_labels: list[str]
    annotations: list[Annotation]
    clip_range: np.ndarray | None = None
    check: "CheckResult | None" = None  # set by check_recording
    _scale: np.ndarray  # (n_channels, 1) factor to µV

    @property
    def duration(self) -> float:
        return self.n_samples / self.sfreq

    @property
    def eeg_picks(self) -> list[int]:
        return [i for i, t in enumerate(self.ch_types) if t == "eeg"]

    def _read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of every channel in µV: (n_channels, stop - start) float64."""
        start, stop = max(0, int(start)), min(self.n_samples, int(stop))
        if stop <= start:
            return np.zeros((len(self.ch_names), 0))
        return self._read(start, stop) * self._scale

    def iter_chunks(self, chunk_s: float = 60.0) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start sample, (n_channels, n) µV) over the whole recording."""
        if chunk_s <= 0:
            raise ValueError(f"chunk_s must be positive, got {chunk_s}")
        step = max(1, int(round(chunk_s * self.sfreq)))
        for start in range(0, self.n_samples, step):
            yield start, self.read(start, min(self.n_samples, start + step))

    def set_units(self, units: str) -> "Recording":
        """Override the units the source states (the documented fix for mislabelled files).

        Returns self, changed in place.
        """
        key = units.strip().lower()
        if key not in UNIT_SCALE_TO_UV:
            raise ValueError(f"units must be one of {sorted(UNIT_SCALE_TO_UV)}, got {units!r}")
        stated = np.array([UNIT_SCALE_TO_UV.get(u.strip().lower(), 1.0) for u in self.unit_labels])[:, None]
        factor = UNIT_SCALE_TO_UV[key] / stated
        self._scale = self._scale * factor
        if self.clip_range is not None:
            self.clip_range = self.clip_range * factor
        self.unit_labels = [units] * len(self.ch_names)
        logger.info("%s: units overridden to %s", self.path, units)
        return self


class EdfRecording(Recording):
    """EDF/EDF+/BDF through the bounded-memory reader."""

    def __init__(self, path: str | Path):
        self._reader = EdfReader(path)
        self.path = self._reader.path
        for message in self._reader.header.warnings:
            warn(self.path, message)
        self.sfreq = float(self._reader.sfreq)
        labels = self._reader.labels
        self.ch_names = [clean_channel_name(x) for x in labels]
        self.ch_types = [channel_type(x) for x in labels]
        self.n_samples = self._reader.n_samples
        self.unit_labels = self._reader.units
        scale = []
        for label, unit in zip(labels, self.unit_labels):
            key = unit.strip().lower()
            if key not in UNIT_SCALE_TO_UV:
                if key:
                    logger.info("%s: channel %s has unit %r; read as is", self.path, label, unit)
                scale.append(1.0)
            else:
                scale.append(UNIT_SCALE_TO_UV[key])
        self._scale = np.array(scale)[:, None]
        dig = self._reader.digital_range.astype(np.float64)
        self.clip_range = self._reader.to_physical(dig) * self._scale
        try:
            self.annotations = [Annotation(o, d, t) for o, d, t in self._reader.annotations()]
        except Exception as err:  # a malformed annotation channel must not lose the signal
            warn(self.path, f"annotations unreadable ({err}); ignored")
            self.annotations = []

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._reader.read(start, stop)


class MneRecording(Recording):
    """FIF, BrainVision (and anything else `mne.io.read_raw` opens) without preloading."""

    def __init__(self, path: str | Path):
        import mne  # heavy: only when such a file is opened

        self.path = str(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = mne.io.read_raw(self.path, preload=False, verbose="error")
        except Exception as err:
            raise InputError(self.path, f"MNE cannot read it: {str(err).splitlines()[0][:200]}") from None
        self._raw = raw
        self.sfreq = float(raw.info["sfreq"])
        if not self.sfreq > 0:
            raise InputError(self.path, f"sampling rate is not positive: {self.sfreq}")
        self.n_samples = int(raw.n_times)
        if self.n_samples == 0:
            raise InputError(self.path, "0-second recording: no samples")
        self.ch_names = [clean_channel_name(x) for x in raw.ch_names]
        types = raw.get_channel_types()
        self.ch_types = [t if t in ("eeg", "eog", "ecg", "emg", "stim") else "misc" for t in types]
        units = {107: "V", 201: "T", 112: "T/m", -1: ""}
        self.unit_labels = [units.get(int(ch["unit"]), "?") for ch in raw.info["chs"]]
        self._scale = np.array([1e6 if t in ("eeg", "eog", "ecg", "emg") else 1.0 for t in types])[:, None]
        self.annotations = [Annotation(float(a["onset"] - raw.first_time), float(a["duration"]), str(a["description"]))
                            for a in raw.annotations]

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._raw.get_data(start=start, stop=stop)


class ArrayRecording(Recording):
    """A plain (n_channels, n_samples) array with a sampling rate and channel names."""

    def __init__(self, data: np.ndarray, sfreq: float, ch_names: Sequence[str], *, units: str = "uV",
                 name: str = "<array>", ch_types: Sequence[str] | None = None,
                 annotations: Sequence[Annotation] = ()):
        self.path = name
        data = np.asarray(data)
        if data.ndim != 2:
            raise InputError(name, f"data must be 2-D (channels, samples), got shape {data.shape}")
        if not np.issubdtype(data.dtype, np.number):
            raise InputError(name, f"data must be numeric, got dtype {data.dtype}")
        if len(ch_names) != data.shape[0]:
            raise InputError(name, f"mismatched channel counts: {len(ch_names)} channel names for "
                                   f"{data.shape[0]} data rows")
        try:
            sfreq = float(sfreq)
        except (TypeError, ValueError):
            raise InputError(name, f"sampling rate is not a number: {sfreq!r}") from None
        if not np.isfinite(sfreq) or sfreq <= 0:
            raise InputError(name, f"sampling rate must be positive, got {sfreq}")
        if data.shape[1] == 0:
            raise InputError(name, "0-second recording: no samples")
        key = units.strip().lower()
        if key not in UNIT_SCALE_TO_UV:
            raise ValueError(f"units must be one of {sorted(UNIT_SCALE_TO_UV)}, got {units!r}")
        self._data = data
        self.sfreq = sfreq
        self.ch_names = [clean_channel_name(str(c)) for c in ch_names]
        self.ch_types = list(ch_types) if ch_types is not None else [channel_type(str(c)) for c in ch_names]
        self.n_samples = data.shape[1]
        self.unit_labels = [units] * data.shape[0]
        self._scale = np.full((data.shape[0], 1), UNIT_SCALE_TO_UV[key])
        self.annotations = list(annotations)

    def _read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self._data[:, start:stop], dtype=np.float64)


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    with open(path, "rb") as fh:  # no known suffix: sniff the first bytes
        head = fh.read(8)
    if head == b"0       ":
        return "edf"
    if head[:1] == b"\xff" and head[1:8] == b"BIOSEMI":
        return "bdf"
    return None


def open_recording(path: str | Path, *, units: str | None = None, check: bool = True) -> Recording:
    """Open an EEG file for chunked reading and check it.

    Args:
        path: .edf, .bdf, .fif, .fif.gz or .vhdr (BrainVision header).
        units: override the units the file states ("uV", "mV", "V"), the fix the unit check
            suggests for mislabelled files.
        check: run `check_recording` (units, NaN, constant channels, channel types).

    Raises:
        InputError: missing or unknown file format, or a file that cannot be read.
    """
    path = check_file(path, "EEG file")
    fmt = _format_of(path)
    if fmt is None:
        raise InputError(path, f"unknown EEG format {path.suffix or '(no suffix)'!r}; "
                               f"expected one of {', '.join(SUFFIXES)} or plain arrays")
    rec: Recording = EdfRecording(path) if fmt in ("edf", "bdf") else MneRecording(path)
    if units is not None:
        rec.set_units(units)
    if check:
        check_recording(rec)
    return rec


def from_array(data: np.ndarray, sfreq: float, ch_names: Sequence[str], *, units: str = "uV",
               name: str = "<array>", check: bool = True, **kwargs) -> Recording:
    """Wrap a plain (n_channels, n_samples) array; see `ArrayRecording`."""
    rec = ArrayRecording(data, sfreq, ch_names, units=units, name=name, **kwargs)
    if check:
        check_recording(rec)
    return rec


@dataclass
class CheckResult:
    """What `check_recording` found; bad channels are excluded from re-referencing."""

    median_std_uv: float
    nan_channels: list[str]
    constant_channels: list[str]
    unit_problem: str = ""
    clipped_channels: list[str] = field(default_factory=list)

    @property
    def bad_channels(self) -> list[str]:
        return sorted(set(self.nan_channels) | set(self.constant_channels) | set(self.clipped_channels))


def check_recording(rec: Recording, *, probe_s: float = 60.0, n_probes: int = 3) -> CheckResult:
    """Check units, NaN, constant and clipped channels on a few probes spread over the recording.

    Channels found bad here are left out of the average reference.

    Amplitude sanity: scalp EEG has a per-channel standard deviation of roughly 1-500 µV.
    A median far above that (> 1e4 µV) means values in µV labelled as V (or mV); far below
    (< 0.05 µV) means values in V labelled as µV. Either gives a warning naming the fix:
    `open_recording(path, units="uV")` (or "V"), or `--units` on the command line.
    """
    eeg = rec.eeg_picks or list(range(len(rec.ch_names)))
    if not eeg:
        raise InputError(rec.path, "no channels")
    if not rec.eeg_picks:
        warn(rec.path, "no channel looks like EEG by its name; treating all as EEG")
        rec.ch_types = ["eeg"] * len(rec.ch_names)
    n = min(rec.n_samples, max(1, int(probe_s * rec.sfreq)))
    starts = np.unique(np.linspace(0, rec.n_samples - n, n_probes).astype(int))
    stds, nan_any, const = [], np.zeros(len(rec.ch_names), bool), np.ones(len(rec.ch_names), bool)
    at_extreme = np.zeros(len(rec.ch_names))
    for s in starts:
        x = rec.read(s, s + n)
        nan = ~np.isfinite(x)
        nan_any |= nan.any(axis=1)
        xf = np.where(nan, 0.0, x)
        rail = (xf == xf.max(axis=1, keepdims=True)) | (xf == xf.min(axis=1, keepdims=True))
        if rec.clip_range is not None:
            tol = (rec.clip_range[:, 1:2] - rec.clip_range[:, 0:1]) * 1e-4
            rail |= (xf <= rec.clip_range[:, 0:1] + tol) | (xf >= rec.clip_range[:, 1:2] - tol)
        plateau = rail[:, 1:] & (xf[:, 1:] == xf[:, :-1])  # held on the extreme: not a sine's single peak sample
        at_extreme += plateau.mean(axis=1) / len(starts)
        x = np.where(nan, np.nan, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(x, axis=1)
        const &= ~(sd > 0)
        stds.append(sd)
    sd = np.nanmedian(np.array(stds), axis=0) if stds else np.zeros(len(rec.ch_names))
    nan_ch = [rec.ch_names[i] for i in eeg if nan_any[i]]
    const_ch = [rec.ch_names[i] for i in eeg if const[i] and not nan_any[i]]
    # clipped: a tenth of the probed samples sit on the channel's extremes (a saturated amplifier)
    clip_ch = [rec.ch_names[i] for i in eeg if at_extreme[i] >= 0.1 and not const[i] and not nan_any[i]]
    if nan_ch:
        warn(rec.path, f"NaN or infinite samples in channels {', '.join(nan_ch)}; "
                       "they are treated as bad (excluded from the reference, zero-filled)")
    if const_ch:
        warn(rec.path, f"constant (flat) channels {', '.join(const_ch)}; treated as bad")
    if clip_ch:
        warn(rec.path, f"clipped (saturated) channels {', '.join(clip_ch)}; treated as bad")
    good = [i for i in eeg if rec.ch_names[i] not in nan_ch + const_ch + clip_ch]
    med = float(np.median(sd[good])) if good else float("nan")
    problem = ""
    if good and med > 1e4:
        problem = (f"amplitudes look like µV labelled as {rec.unit_labels[good[0]]!r} "
                   f"(median channel SD {med:.3g} µV after conversion); if so, open with units='uV'")
    elif good and med < 0.05:
        problem = (f"amplitudes look like volts labelled as {rec.unit_labels[good[0]]!r} "
                   f"(median channel SD {med:.3g} µV); if so, open with units='V'")
    if problem:
        warn(rec.path, problem)
    result = CheckResult(median_std_uv=med, nan_channels=nan_ch, constant_channels=const_ch, unit_problem=problem,
                         clipped_channels=clip_ch)
    rec.check = result
    return result
