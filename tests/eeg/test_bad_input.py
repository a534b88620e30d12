"""Every bad input gives one clear InputError or EEGWarning that names the file and the problem."""
from __future__ import annotations

import numpy as np
import pytest

from perception.eeg import EEGWarning, analyze, from_array, open_recording
from perception.eeg.edf import write_edf
from perception.errors import InputError

from .conftest import NAMES_12, synth


@pytest.fixture(scope="module")
def good_edf(eeg_dir):
    return write_edf(eeg_dir / "good.edf", synth(seconds=10, flat=False, clipped=False), 256.0, NAMES_12)


def _copy(src, dst, data: bytes):
    dst.write_bytes(data)
    return dst


def _one_line(err):
    assert "\n" not in str(err)
    return str(err)


def test_truncated_edf_warns_and_reads_complete_records(good_edf, tmp_path):
    data = good_edf.read_bytes()
    path = _copy(good_edf, tmp_path / "trunc.edf", data[: len(data) - 3000])
    with pytest.warns(EEGWarning, match=r"trunc\.edf: truncated EDF"):
        rec = open_recording(path)
    assert 0 < rec.duration < 10 and rec.duration == int(rec.duration)
    assert np.isfinite(rec.read(0, rec.n_samples)).all()


def test_truncated_header(good_edf, tmp_path):
    path = _copy(good_edf, tmp_path / "head.edf", good_edf.read_bytes()[:600])
    with pytest.raises(InputError, match=r"head\.edf: EDF header truncated") as e:
        open_recording(path)
    _one_line(e.value)
    path = _copy(good_edf, tmp_path / "tiny.edf", good_edf.read_bytes()[:100])
    with pytest.raises(InputError, match="fixed header alone"):
        open_recording(path)


def test_header_truncated_before_first_record(good_edf, tmp_path):
    header_len = 256 * 14
    path = _copy(good_edf, tmp_path / "norec.edf", good_edf.read_bytes()[: header_len + 10])
    with pytest.raises(InputError, match="not hold even one"):
        open_recording(path)


def test_wrong_header_length(good_edf, tmp_path):
    data = bytearray(good_edf.read_bytes())
    data[184:192] = b"4000    "
    path = _copy(good_edf, tmp_path / "hdr.edf", bytes(data))
    with pytest.raises(InputError, match=r"hdr\.edf: wrong EDF header length: the header says 4000 bytes"):
        open_recording(path)


def test_zero_record_duration_is_a_bad_sampling_rate(good_edf, tmp_path):
    data = bytearray(good_edf.read_bytes())
    data[244:252] = b"0       "
    path = _copy(good_edf, tmp_path / "rate.edf", bytes(data))
    with pytest.raises(InputError, match="sampling rate is not positive"):
        open_recording(path)


def test_zero_second_edf(good_edf, tmp_path):
    data = bytearray(good_edf.read_bytes())
    data[236:244] = b"0       "
    path = _copy(good_edf, tmp_path / "zero.edf", bytes(data[: 256 * 14]))
    with pytest.raises(InputError, match=r"zero\.edf: 0-second recording"):
        open_recording(path)


def test_not_a_number_in_header(good_edf, tmp_path):
    data = bytearray(good_edf.read_bytes())
    data[236:244] = b"abc     "
    path = _copy(good_edf, tmp_path / "nan.edf", bytes(data))
    with pytest.raises(InputError, match="number of data records"):
        open_recording(path)


@pytest.mark.parametrize("name,content,message", [
    ("notes.txt", b"hello world, not EEG", "unknown EEG format '.txt'"),
    ("random.edf", bytes(range(256)) * 8, "not an EDF/BDF file"),
    ("empty.edf", b"", "empty file"),
    ("broken.fif", b"\x00" * 2000, "MNE cannot read it"),
])
def test_unknown_or_corrupt_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as e:
        open_recording(path)
    assert name in _one_line(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_recording(tmp_path / "nope.edf")


@pytest.mark.parametrize("sfreq", [0, -256, float("nan"), "fast"])
def test_array_sampling_rate(sfreq):
    with pytest.raises(InputError, match="sampling rate"):
        from_array(np.zeros((2, 100)), sfreq, ["C3", "C4"], name="arr")


def test_array_mismatched_channel_counts_and_zero_seconds():
    with pytest.raises(InputError, match=r"arr: mismatched channel counts: 3 channel names for 2 data rows"):
        from_array(np.zeros((2, 100)), 100, ["C3", "C4", "Cz"], name="arr")
    with pytest.raises(InputError, match="0-second"):
        from_array(np.zeros((2, 0)), 100, ["C3", "C4"], name="arr")


def test_nan_and_constant_channels_warn_and_become_bad():
    x = synth(seconds=20, flat=False, clipped=False, mains=None)
    x[2, 1000:2000] = np.nan
    x[7] = 3.0
    with pytest.warns(EEGWarning) as record:
        rec = from_array(x, 256, NAMES_12, name="gappy")
    messages = " | ".join(str(w.message) for w in record)
    assert "gappy: NaN or infinite samples in channels F3" in messages
    assert "constant (flat) channels P4" in messages
    a = analyze(rec)
    assert set(a.bad_channels) >= {"P4"}
    missing = [s for s in a.artifacts if s.kind == "missing"]
    assert missing and missing[0].channels == ["F3"] and missing[0].t0 <= 1000 / 256 <= missing[0].t1
    assert np.isfinite(a.features[:, [i for i, c in enumerate(a.ch_names) if c != "P4"]]).all()


def test_units_mislabelled_warns_with_the_fix(eeg_dir):
    x = synth(seconds=10, flat=False, clipped=False)
    path = write_edf(eeg_dir / "volts.edf", x, 256.0, NAMES_12, unit="V", phys_range=(-3276.8, 3276.7))
    with pytest.warns(EEGWarning, match=r"volts\.edf: amplitudes look like µV labelled as 'V'.*units='uV'"):
        open_recording(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", EEGWarning)
        rec = open_recording(path, units="uV")  # the documented fix: no warning, right scale
    assert 3 < rec.check.median_std_uv < 100
    with pytest.warns(EEGWarning, match="look like volts labelled as 'uV'.*units='V'"):
        from_array(x * 1e-6, 256, NAMES_12, name="tiny")


def test_too_short_for_a_window():
    with pytest.raises(InputError, match="too short"):
        analyze(from_array(np.random.default_rng(0).normal(0, 10, (2, 100)), 100, ["C3", "C4"]), window_s=2.0)


def test_clipped_channel_found_by_the_input_check_and_left_out_of_the_reference():
    from perception.eeg import Recipe
    from perception.eeg.recipe import Preprocessor

    x = synth(seconds=30, flat=False, clipped=True)
    with pytest.warns(EEGWarning, match=r"sat: clipped \(saturated\) channels C4; treated as bad"):
        rec = from_array(x, 256, NAMES_12, name="sat")
    pre = Preprocessor(Recipe().resolve(rec), rec)
    assert "C4" not in [pre.ch_names[i] for i in pre._ref] and len(pre._ref) == 11
