"""EDF/EDF+/BDF read in bounded memory, and an EDF+ writer.

Why our own reader: MNE's EDF reader holds the whole recording (and a copy) when preloading,
2-4x the file size (mne#12386). EDF is a fixed 256-byte header, 256 bytes per signal, then
fixed-size data records of little-endian int16 (BDF: int24), so any sample range can be read
by seeking to whole records. Nothing here loads more than the records a call asks for.
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from perception.errors import InputError
from perception.files import atomic_path

logger = logging.getLogger(__name__)

ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_FIELDS = (  # per-signal header fields and their widths, in file order
    ("label", 16), ("transducer", 80), ("unit", 8), ("phys_min", 8), ("phys_max", 8),
    ("dig_min", 8), ("dig_max", 8), ("prefilter", 80), ("n_samples", 8), ("reserved", 32),
)


@dataclass
class EdfSignal:
    """Header of one signal, with the scaling from digital to physical units."""

    label: str
    unit: str
    phys_min: float
    phys_max: float
    dig_min: int
    dig_max: int
    prefilter: str
    n_samples: int  # per data record
    offset: int  # first sample of this signal inside a record (in samples)

    @property
    def gain(self) -> float:
        return (self.phys_max - self.phys_min) / (self.dig_max - self.dig_min)

    @property
    def is_annotation(self) -> bool:
        return self.label.strip() in ANNOTATION_LABELS


@dataclass
class EdfHeader:
    """What the header says, checked against the file's size."""

    path: str
    bdf: bool
    edf_plus: str  # "", "EDF+C", "EDF+D", "BDF+C", ...
    start: str  # "dd.mm.yy hh.mm.ss" as written
    header_bytes: int
    n_records: int  # complete records present in the file
    record_duration: float
    signals: list[EdfSignal]
    record_samples: int = 0  # samples of all signals in one record
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def sample_bytes(self) -> int:
        return 3 if self.bdf else 2

    @property
    def record_bytes(self) -> int:
        return self.record_samples * self.sample_bytes


def _ascii(raw: bytes, path: str, what: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _number(text: str, path: str, what: str, kind: Callable = float):
    try:
        value = kind(float(text.strip())) if kind is int else kind(text.strip())
    except ValueError:
        raise InputError(path, f"EDF header field {what!r} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise InputError(path, f"EDF header field {what!r} is not finite: {text.strip()!r}")
    return value


def _parse_signals(per_signal: bytes, n_signals: int, path: str) -> list[EdfSignal]:
    """The per-signal header block (fields stored column by column) -> checked `EdfSignal`s."""
    columns: dict[str, list[str]] = {}
    pos = 0
    for name, width in _FIELDS:
        columns[name] = [_ascii(per_signal[pos + i * width: pos + (i + 1) * width], path, name)
                         for i in range(n_signals)]
        pos += width * n_signals
    signals: list[EdfSignal] = []
    offset = 0
    for i in range(n_signals):
        label = columns["label"][i].strip()
        sig = EdfSignal(
            label=label,
            unit=columns["unit"][i].strip(),
            phys_min=_number(columns["phys_min"][i], path, f"physical minimum of {label!r}"),
            phys_max=_number(columns["phys_max"][i], path, f"physical maximum of {label!r}"),
            dig_min=_number(columns["dig_min"][i], path, f"digital minimum of {label!r}", int),
            dig_max=_number(columns["dig_max"][i], path, f"digital maximum of {label!r}", int),
            prefilter=columns["prefilter"][i].strip(),
            n_samples=_number(columns["n_samples"][i], path, f"samples per record of {label!r}", int),
            offset=offset,
        )
        if sig.n_samples <= 0:
            raise InputError(path, f"signal {label!r} has {sig.n_samples} samples per record")
        if sig.dig_max <= sig.dig_min and not sig.is_annotation:
            raise InputError(path, f"signal {label!r}: digital maximum {sig.dig_max} <= minimum {sig.dig_min}")
        offset += sig.n_samples
        signals.append(sig)
    return signals


def read_header(path: str | Path) -> EdfHeader:
    """Parse and check an EDF/EDF+/BDF header.

    Raises:
        InputError: not an EDF/BDF file, a header length that disagrees with the number of
            signals, a non-positive sampling rate, no data records (a 0-second file), or a
            file too short to hold even one record.
    """
    path = str(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        fixed = fh.read(256)
        if len(fixed) < 256:
            raise InputError(path, f"EDF header truncated: file has {size} bytes, the fixed header alone needs 256")
        bdf = fixed[:1] == b"\xff" and fixed[1:8] == b"BIOSEMI"
        if not bdf and fixed[:8] != b"0       ":
            raise InputError(path, "not an EDF/BDF file (the version field must be '0' or '\\xffBIOSEMI')")
        start = f"{_ascii(fixed[168:176], path, 'startdate').strip()} {_ascii(fixed[176:184], path, 'starttime').strip()}"
        header_bytes = _number(_ascii(fixed[184:192], path, ""), path, "header bytes", int)
        reserved = _ascii(fixed[192:236], path, "reserved").strip()
        n_records = _number(_ascii(fixed[236:244], path, ""), path, "number of data records", int)
        duration = _number(_ascii(fixed[244:252], path, ""), path, "duration of a data record", float)
        n_signals = _number(_ascii(fixed[252:256], path, ""), path, "number of signals", int)
        if n_signals <= 0:
            raise InputError(path, f"EDF header declares {n_signals} signals")
        expected = 256 * (n_signals + 1)
        if header_bytes != expected:
            raise InputError(
                path, f"wrong EDF header length: the header says {header_bytes} bytes but {n_signals} "
                f"signals need {expected}")
        if size < expected:
            raise InputError(path, f"EDF header truncated: {size} bytes, the header needs {expected}")
        per_signal = fh.read(expected - 256)
    signals = _parse_signals(per_signal, n_signals, path)
    offset = sum(sig.n_samples for sig in signals)
    header = EdfHeader(path=path, bdf=bdf, edf_plus=reserved[:5] if reserved[:4] in ("EDF+", "BDF+") else "",
                       start=start, header_bytes=header_bytes, n_records=n_records,
                       record_duration=duration, signals=signals, record_samples=offset)
    if header.edf_plus.endswith("+D"):
        header.warnings.append(f"{header.edf_plus} (discontinuous): data records are read as one continuous "
                               "recording; gaps between records are not represented")
    data_signals = [s for s in signals if not s.is_annotation]
    if data_signals and duration <= 0:
        raise InputError(path, f"sampling rate is not positive: data record duration is {duration} s")
    available = (size - header_bytes) // header.record_bytes
    if n_records == 0 or (n_records < 0 and available == 0):
        raise InputError(path, "0-second recording: the file holds no data records")
    if n_records < 0:  # -1: still being recorded; trust the file size
        header.warnings.append(f"number of data records unknown (-1); using the {available} found in the file")
        n_records = available
    elif available < n_records:
        if available == 0:
            raise InputError(path, f"truncated EDF: the header announces {n_records} data records, "
                                   "the file does not hold even one")
        header.truncated = True
        header.warnings.append(
            f"truncated EDF: the header announces {n_records} data records ({n_records * duration:g} s) "
            f"but the file holds {available} complete ones; reading those ({available * duration:g} s)")
        n_records = available
    elif (size - header_bytes) > n_records * header.record_bytes:
        extra = size - header_bytes - n_records * header.record_bytes
        header.warnings.append(f"{extra} bytes after the last announced data record are ignored")
    header.n_records = n_records
    return header


class EdfReader:
    """Random access to sample ranges of an EDF/BDF file, one group of records at a time.

    Args:
        path: the .edf/.bdf file.
        picks: indices of data signals to read (default: every non-annotation signal that has
            the most common sampling rate; others are skipped with a warning).
    """

    def __init__(self, path: str | Path, picks: list[int] | None = None):
        self.header = read_header(path)
        self.path = self.header.path
        data = [i for i, s in enumerate(self.header.signals) if not s.is_annotation]
        if not data:
            raise InputError(self.path, "no data signals (only annotations)")
        if picks is None:
            rates = [self.header.signals[i].n_samples for i in data]
            common = max(set(rates), key=rates.count)
            picks = [i for i in data if self.header.signals[i].n_samples == common]
            skipped = [self.header.signals[i].label for i in data if i not in picks]
            if skipped:
                self.header.warnings.append(
                    f"channels at another sampling rate are skipped: {', '.join(skipped)}")
        self.picks = list(picks)
        self.n_per_record = self.header.signals[self.picks[0]].n_samples
        if any(self.header.signals[i].n_samples != self.n_per_record for i in self.picks):
            raise ValueError("picks: all picked signals must share one sampling rate")
        self.sfreq = self.n_per_record / self.header.record_duration
        self.n_samples = self.header.n_records * self.n_per_record
        sig = [self.header.signals[i] for i in self.picks]
        self._gain = np.array([s.gain for s in sig])[:, None]
        self._dmin = np.array([s.dig_min for s in sig], dtype=np.float64)[:, None]
        self._pmin = np.array([s.phys_min for s in sig])[:, None]

    @property
    def labels(self) -> list[str]:
        return [self.header.signals[i].label for i in self.picks]

    @property
    def units(self) -> list[str]:
        return [self.header.signals[i].unit for i in self.picks]

    @property
    def digital_range(self) -> np.ndarray:
        """(n_picks, 2) digital min and max: samples at these values are clipped."""
        return np.array([[self.header.signals[i].dig_min, self.header.signals[i].dig_max] for i in self.picks])

    def _records(self, r0: int, r1: int) -> np.ndarray:
        """Raw integer samples of records [r0, r1): (r1 - r0, record_samples)."""
        h = self.header
        with open(self.path, "rb") as fh:
            fh.seek(h.header_bytes + r0 * h.record_bytes)
            raw = fh.read((r1 - r0) * h.record_bytes)
        if len(raw) != (r1 - r0) * h.record_bytes:
            raise InputError(self.path, f"file changed while reading: records {r0}-{r1} are incomplete")
        if not h.bdf:
            return np.frombuffer(raw, dtype="<i2").reshape(r1 - r0, h.record_samples)
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.reshape(r1 - r0, h.record_samples)

    def read_digital(self, start: int, stop: int) -> np.ndarray:
        """Digital samples [start, stop) of the picked signals: (n_picks, stop - start) int32."""
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(f"start/stop: need 0 <= start <= stop <= {self.n_samples}, got {start}, {stop}")
        n = self.n_per_record
        r0, r1 = start // n, -(-stop // n)
        out = np.empty((len(self.picks), stop - start), dtype=np.int32)
        if stop == start:
            return out
        rec = self._records(r0, r1)
        first = start - r0 * n
        for row, i in enumerate(self.picks):
            off = self.header.signals[i].offset
            out[row] = rec[:, off:off + n].reshape(-1)[first:first + stop - start]
        return out

    def to_physical(self, dig: np.ndarray) -> np.ndarray:
        """Digital values (n_picks, ...) -> the file's physical units."""
        return (dig - self._dmin) * self._gain + self._pmin

    def read(self, start: int, stop: int) -> np.ndarray:
        """Physical samples [start, stop) in the file's units: (n_picks, stop - start) float64."""
        return self.to_physical(self.read_digital(start, stop))

    def annotations(self) -> list[tuple[float, float, str]]:
        """EDF+ annotations as (onset s, duration s, text), time-keeping entries dropped."""
        ann = [i for i, s in enumerate(self.header.signals) if s.is_annotation]
        if not ann:
            return []
        h = self.header
        out: list[tuple[float, float, str]] = []
        step = max(1, 4_000_000 // max(1, h.record_bytes))  # ~4 MB per read
        for r0 in range(0, h.n_records, step):
            rec = self._records(r0, min(h.n_records, r0 + step))
            for row in rec:
                for i in ann:
                    s = h.signals[i]
                    chunk = row[s.offset:s.offset + s.n_samples]
                    raw = chunk.astype("<i2").tobytes() if not h.bdf else _int24_bytes(chunk)
                    out.extend(parse_tals(raw))
        return out


def _pack(values: np.ndarray, width: int) -> bytes:
    """Little-endian int16 or int24 bytes of integer samples."""
    if width == 2:
        return values.astype("<i2").tobytes()
    return _int24_bytes(values)


def _int24_bytes(values: np.ndarray) -> bytes:
    v = values.astype(np.int64) & 0xFFFFFF
    return np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()


_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.S)


def parse_tals(raw: bytes) -> list[tuple[float, float, str]]:
    """Time-stamped annotation lists of one record -> (onset, duration, text) items."""
    out = []
    for m in _TAL.finditer(raw):
        onset = float(m.group(1))
        duration = float(m.group(2)) if m.group(2) else 0.0
        for text in m.group(3).split(b"\x14"):
            text = text.decode("utf-8", "replace").strip()
            if text:
                out.append((onset, duration, text))
    return out


def _field(value, width: int) -> bytes:
    text = value if isinstance(value, str) else (f"{value:g}" if isinstance(value, float) else str(value))
    if len(text) > width and isinstance(value, float):
        text = f"{value:.{max(1, width - 6)}g}"
    data = text.encode("ascii", "replace")[:width]
    return data + b" " * (width - len(data))


def _header_bytes(bdf: bool, labels: list[str], unit: str, n_records: int, record_duration: float,
                  counts: list[int], phys: tuple[float, float], dig: tuple[int, int]) -> bytes:
    """The fixed and per-signal header of an EDF+C/BDF+C file whose last signal holds annotations."""
    ns, n_ch = len(labels), len(labels) - 1
    fixed = ((b"\xffBIOSEMI" if bdf else _field("0", 8)) + _field("X X X X", 80) + _field("Startdate X X X X", 80)
             + _field("01.01.00", 8) + _field("00.00.00", 8) + _field(256 * (ns + 1), 8)
             + _field("BDF+C" if bdf else "EDF+C", 44) + _field(n_records, 8) + _field(float(record_duration), 8)
             + _field(ns, 4))
    values = {
        "label": labels, "transducer": [""] * ns, "unit": [unit] * n_ch + [""],
        "phys_min": [float(phys[0])] * n_ch + [-1.0], "phys_max": [float(phys[1])] * n_ch + [1.0],
        "dig_min": [dig[0]] * ns, "dig_max": [dig[1]] * ns, "prefilter": [""] * ns,
        "n_samples": counts, "reserved": [""] * ns,
    }
    return fixed + b"".join(_field(v, width) for name, width in _FIELDS for v in values[name])


def write_edf(
    path: str | Path,
    chunks: Iterator[np.ndarray] | np.ndarray,
    sfreq: float,
    ch_names: list[str],
    *,
    unit: str = "uV",
    phys_range: tuple[float, float] = (-3276.8, 3276.7),
    annotations: list[tuple[float, float, str]] = (),
    record_duration: float = 1.0,
    bdf: bool = False,
) -> Path:
    """Write EDF+C (or 24-bit BDF+C with `bdf=True`) from an array or an iterator of (n_channels, n) chunks, in bounded memory.

    Values outside `phys_range` are clipped to it (as an amplifier would). The file is written
    to a temporary name beside `path` and renamed when complete.

    Args:
        path: output .edf file.
        chunks: (n_channels, n_samples) array, or an iterator of such arrays, in `unit`.
        sfreq: sampling rate; `sfreq * record_duration` must be a whole number.
        ch_names: one label per channel (at most 16 characters).
        unit: physical dimension written to the header ("uV", "mV", "V").
        phys_range: physical values mapped to the int16 range.
        annotations: (onset s, duration s, text) written as EDF+ annotations.
        record_duration: seconds per data record.
        bdf: write BDF (int24 samples, 'BIOSEMI' version field) instead of EDF.
    """
    if sfreq <= 0:
        raise ValueError(f"sfreq must be positive, got {sfreq}")
    n_rec_samples = sfreq * record_duration
    if abs(n_rec_samples - round(n_rec_samples)) > 1e-9:
        raise ValueError(f"sfreq * record_duration must be whole, got {n_rec_samples}")
    n_rec_samples = int(round(n_rec_samples))
    if isinstance(chunks, np.ndarray):
        chunks = iter([chunks])
    n_ch = len(ch_names)
    ann_by_record: dict[int, list[bytes]] = {}
    for onset, duration, text in annotations:
        tal = f"+{onset:g}" + (f"\x15{duration:g}" if duration else "") + f"\x14{text}\x14\x00"
        ann_by_record.setdefault(int(onset // record_duration), []).append(tal.encode("utf-8"))
    ann_samples = max(32, max((sum(len(t) for t in v) + 24 for v in ann_by_record.values()), default=0) // 2 + 1)
    labels = list(ch_names) + ["BDF Annotations" if bdf else "EDF Annotations"]
    ns = n_ch + 1
    dmin, dmax = (-8388608, 8388607) if bdf else (-32768, 32767)
    width = 3 if bdf else 2
    ann_samples = ann_samples * 2 // width + 1
    pmin, pmax = phys_range
    gain = (pmax - pmin) / (dmax - dmin)
    path = Path(path)
    n_records = 0
    buf = np.zeros((n_ch, 0))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(b"\0" * 256 * (ns + 1))  # header rewritten once the record count is known

        def flush(block: np.ndarray) -> None:
            nonlocal n_records
            n_blocks = block.shape[1] // n_rec_samples
            dig = np.clip(np.round((block - pmin) / gain + dmin), dmin, dmax).astype("<i4")
            dig = dig[:, : n_blocks * n_rec_samples].reshape(n_ch, n_blocks, n_rec_samples).transpose(1, 0, 2)
            for b in range(n_blocks):
                r = n_records + b
                tal = f"+{r * record_duration:g}\x14\x14\x00".encode() + b"".join(ann_by_record.get(r, []))
                fh.write(_pack(dig[b].reshape(-1), width))
                fh.write(tal[: width * ann_samples].ljust(width * ann_samples, b"\0"))
            n_records += n_blocks

        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float64)
            if chunk.ndim != 2 or chunk.shape[0] != n_ch:
                raise ValueError(f"chunks: each must be ({n_ch}, n), got {chunk.shape}")
            buf = np.concatenate([buf, chunk], axis=1) if buf.shape[1] else chunk
            whole = (buf.shape[1] // n_rec_samples) * n_rec_samples
            if whole:
                flush(buf[:, :whole])
                buf = buf[:, whole:]
        if buf.shape[1]:
            pad = np.zeros((n_ch, n_rec_samples - buf.shape[1]))
            flush(np.concatenate([buf, pad], axis=1))
        fh.seek(0)
        fh.write(_header_bytes(bdf, labels, unit, n_records, record_duration, [n_rec_samples] * n_ch + [ann_samples],
                               (pmin, pmax), (dmin, dmax)))
    return path
