"""Reading real and generated files: our EDF/BDF reader against pyedflib and MNE, FIF and BrainVision through MNE."""
from __future__ import annotations

import warnings

import mne
import numpy as np
import pytest

from perception.eeg import from_array, open_recording
from perception.eeg.edf import EdfReader, write_edf

from .conftest import NAMES_12, synth


def test_pyedflib_test_generator_matches_pyedflib(pyedflib_edf):
    import pyedflib

    with pytest.warns(UserWarning, match=r"test_generator\.edf: clipped \(saturated\) channels squarewave;"):
        rec = open_recording(pyedflib_edf)  # a square wave sits on its extremes: flagged, not dropped
    assert rec.sfreq == 200.0 and rec.n_samples == 120000 and len(rec.ch_names) == 11
    f = pyedflib.EdfReader(str(pyedflib_edf))
    try:
        for i in (0, 3, 10):
            ref = f.readSignal(i)
            assert np.allclose(rec.read(0, rec.n_samples)[i], ref, atol=1e-9), rec.ch_names[i]
        # a range that starts and ends inside records
        assert np.allclose(rec.read(12345, 23456)[5], f.readSignal(5)[12345:23456])
    finally:
        f.close()
    assert [a.description for a in rec.annotations] == ["Recording starts", "Recording ends"]
    assert rec.annotations[1].onset == 600.0


def test_spkit_eeg_as_mne_raw_to_edf_and_back(spkit_eeg, eeg_dir):
    x, fs, names = spkit_eeg
    raw = mne.io.RawArray(x * 1e-6, mne.create_info(names, fs, "eeg"), verbose="error")
    path = eeg_dir / "spkit.edf"
    write_edf(path, raw.get_data() * 1e6, fs, raw.ch_names, annotations=[(4.0, 0.0, "marker")])
    rec = open_recording(path)
    assert rec.ch_names == names and rec.sfreq == fs and rec.duration == 16.0
    assert rec.ch_types == ["eeg"] * 14
    back = rec.read(0, rec.n_samples)
    assert np.abs(back - x).max() <= 0.06  # int16 quantisation at 0.1 µV
    mne_back = mne.io.read_raw_edf(path, verbose="error")
    assert np.abs(mne_back.get_data() * 1e6 - back).max() < 1e-6
    assert rec.annotations[0].description == "marker" and rec.annotations[0].onset == 4.0


def test_bdf_and_fif_and_brainvision(eeg_dir):
    x = synth(seconds=10, flat=False, clipped=False)
    bdf = write_edf(eeg_dir / "s.bdf", x, 256.0, NAMES_12, bdf=True)
    rec = open_recording(bdf)
    assert np.abs(rec.read(0, rec.n_samples) - x).max() < 1e-3  # 24-bit
    raw = mne.io.RawArray(x * 1e-6, mne.create_info(NAMES_12, 256.0, "eeg"), verbose="error")
    raw.save(eeg_dir / "s_raw.fif", overwrite=True, verbose="error")
    fif = open_recording(eeg_dir / "s_raw.fif")
    assert fif.ch_names == NAMES_12 and np.abs(fif.read(100, 900) - x[:, 100:900]).max() < 1e-3
    # BrainVision written by hand: header, marker file, float32 multiplexed binary
    vhdr, eeg, vmrk = eeg_dir / "s.vhdr", eeg_dir / "s.eeg", eeg_dir / "s.vmrk"
    x.T.astype("<f4").tofile(eeg)
    chans = "\n".join(f"Ch{i + 1}={c},,1,µV" for i, c in enumerate(NAMES_12))
    vhdr.write_text("Brain Vision Data Exchange Header File Version 1.0\n[Common Infos]\nCodepage=UTF-8\n"
                    f"DataFile=s.eeg\nMarkerFile=s.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
                    f"NumberOfChannels=12\nSamplingInterval=3906.25\n[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n"
                    f"[Channel Infos]\n{chans}\n", encoding="utf-8")
    vmrk.write_text("Brain Vision Data Exchange Marker File, Version 1.0\n[Common Infos]\nCodepage=UTF-8\nDataFile=s.eeg\n"
                    "[Marker Infos]\nMk1=New Segment,,1,1,0\nMk2=Stimulus,S  1,513,1,0\n", encoding="utf-8")
    bv = open_recording(vhdr)
    assert bv.sfreq == 256.0 and np.abs(bv.read(0, bv.n_samples) - x).max() < 1e-3
    assert any(a.description.endswith("S  1") and abs(a.onset - 2.0) < 0.01 for a in bv.annotations)


def test_chunked_reads_equal_whole(synth_edf):
    rec = open_recording(synth_edf, check=False)
    whole = rec.read(0, rec.n_samples)
    parts = np.concatenate([c for _, c in rec.iter_chunks(7.3)], axis=1)
    assert np.array_equal(whole, parts)
    reader = EdfReader(synth_edf)
    assert reader.read_digital(0, 10).dtype == np.int32


def test_plain_array_and_channel_types():
    x = np.random.default_rng(0).normal(0, 10, (4, 1000))
    rec = from_array(x, 250, ["EEG Fp1-REF", "EEG O1-REF", "ECG", "EOG left"])
    assert rec.ch_names[:2] == ["Fp1", "O1"]
    assert rec.ch_types == ["eeg", "eeg", "ecg", "eog"]
    assert rec.eeg_picks == [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_array(x, 250, ["Fp1", "Fp2", "O1", "O2"])  # clean input: no warning


@pytest.mark.parametrize("units,scale", [("uV", 1.0), ("mV", 1e3), ("V", 1e6)])
def test_units_convert_to_microvolts(units, scale):
    x = np.random.default_rng(0).normal(0, 10, (2, 500)) / scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = from_array(x, 100, ["C3", "C4"], units=units)
    assert np.allclose(rec.read(0, 500), x * scale)


def test_pyedflib_written_edf_with_mixed_rates_and_annotation(tmp_path):
    from pyedflib import highlevel

    rng = np.random.default_rng(0)
    sig = [rng.normal(0, 10, 2560), rng.normal(0, 10, 2560), rng.normal(0, 10, 1280)]
    headers = highlevel.make_signal_headers(["EEG Fp1", "EEG O1", "Resp"], sample_frequency=256,
                                            physical_min=-500, physical_max=500, dimension="uV")
    headers[2]["sample_frequency"] = 128
    header = highlevel.make_header()
    header["annotations"] = [[2.0, -1, "eyes closed"]]
    path = tmp_path / "mixed.edf"
    highlevel.write_edf(str(path), sig, headers, header=header)
    with pytest.warns(UserWarning, match=r"mixed\.edf: channels at another sampling rate are skipped: Resp"):
        rec = open_recording(path)
    assert rec.ch_names == ["Fp1", "O1"] and rec.sfreq == 256.0
    assert np.abs(rec.read(0, 2560)[1] - sig[1]).max() < 0.02  # 16-bit over +-500 µV
    assert [(a.onset, a.description) for a in rec.annotations] == [(2.0, "eyes closed")]
