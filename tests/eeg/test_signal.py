"""Preprocessing, features and artifacts on generated signals with known content."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from agentkit.eeg.report import alpha_episodes, build_report
from perception.eeg import Recipe, analyze, detect_mains, from_array, observations
from perception.eeg.features import FEATURE_NAMES, window_features
from perception.eeg.recipe import Preprocessor

from .conftest import NAMES_12, synth


def _rec(x, fs=256.0, names=NAMES_12):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_array(x, fs, names)


@pytest.mark.parametrize("mains", [50.0, 60.0, None])
def test_mains_detected_from_the_spectrum(mains):
    rec = _rec(synth(seconds=30, mains=mains, flat=False, clipped=False))
    assert detect_mains(rec) == mains
    assert Recipe().resolve(rec).mains == mains


@pytest.mark.parametrize("resample", [None, 128.0, 100.0])
def test_chunked_preprocessing_equals_whole(resample):
    rec = _rec(synth(seconds=200, flat=False, clipped=False))
    pre = Preprocessor(Recipe(resample=resample).resolve(rec), rec)
    whole = pre.run_whole()
    chunks = [c for _, c in pre.stream(chunk_s=25.0)]
    assert len(chunks) > 4
    chunked = np.concatenate(chunks, axis=1)
    assert chunked.shape == whole.shape
    assert np.abs(chunked - whole).max() < 1e-3 * np.abs(whole).max()
    if resample:
        assert pre.sfreq == resample


def test_recipe_hash_is_stable_and_recorded():
    r = Recipe(l_freq=1.0, h_freq=40.0, mains=50.0)
    assert r.hash == Recipe.from_json(r.to_json()).hash
    assert r.hash != Recipe(l_freq=1.0, h_freq=40.0, mains=60.0).hash
    assert json.loads(r.to_json())["mains"] == 50.0
    with pytest.raises(ValueError, match="l_freq"):
        Recipe(l_freq=50.0, h_freq=40.0)
    with pytest.raises(ValueError, match="mains"):
        Recipe(mains="sometimes")


def test_notch_removes_the_mains_line():
    rec = _rec(synth(seconds=30, mains=50.0, flat=False, clipped=False))
    out = Preprocessor(Recipe(h_freq=None).resolve(rec), rec).run_whole()
    freqs, psd = window_features(out[None, :, 2560:5120], 256.0)[1:3]
    at = psd[0, np.argmin(abs(freqs - 50))]
    near = np.median(psd[0, (abs(freqs - 50) > 3) & (abs(freqs - 50) < 7)])
    assert at < 3 * near


def test_band_features_of_a_pure_rhythm():
    t = np.arange(512) / 256.0
    w = (20 * np.sin(2 * np.pi * 10 * t))[None, None, :] + np.random.default_rng(0).normal(0, 0.5, (1, 1, 512))
    feats, *_ = window_features(w, 256.0, 45.0)
    named = dict(zip(FEATURE_NAMES, feats[0, 0]))
    assert named["rel_alpha"] > 0.9
    assert 9.0 <= named["sef95"] <= 13.0
    assert named["line_length"] == pytest.approx(np.abs(np.diff(w[0, 0])).mean() * 256.0)


def test_ten_hz_rhythm_found_at_its_onset(synth_analysis):
    a = synth_analysis
    clean = ~a.window_artifact_mask()
    episodes, _ = alpha_episodes(a, clean)
    assert len(episodes) == 1
    onset, offset, ratio = episodes[0]
    assert abs(onset - 47.0) <= 1.0 and offset >= 118.0 and ratio > 5
    report = build_report(a)
    rhythm = next(s for s in report.statements if s.section == "rhythms" and "Dominant" in s.text)
    assert abs(rhythm.data["peak_hz"] - 10.0) < 0.5


@pytest.mark.parametrize("onset", [23.0, 61.5])
def test_onset_found_wherever_it_is(onset):
    x = synth(seconds=100, onset=onset, flat=False, clipped=False, blinks=())
    a = analyze(_rec(x))
    episodes, _ = alpha_episodes(a, ~a.window_artifact_mask())
    assert len(episodes) == 1 and abs(episodes[0][0] - onset) <= 1.0


def test_flat_clipped_and_blinks_detected(synth_analysis):
    a = synth_analysis
    assert set(a.bad_channels) == {"F4", "C4"}
    kinds = {k: [x for x in a.artifacts if x.kind == k] for k in ("flat", "clipped", "blink")}
    assert kinds["flat"][0].channels == ["F4"] and kinds["clipped"][0].channels == ["C4"]
    blink_times = sorted((b.t0 + b.t1) / 2 for b in kinds["blink"])
    assert len(blink_times) == 3 and np.allclose(blink_times, [20.0, 35.0, 80.0], atol=0.15)
    assert a.recipe.mains == 60.0


def test_no_false_blinks_or_bursts_on_clean_noise():
    a = analyze(_rec(synth(seconds=60, onset=None, flat=False, clipped=False, blinks=())))
    assert [x for x in a.artifacts if x.kind in ("blink", "burst", "flat", "clipped")] == []


def test_observations_carry_recipe_hash_and_offset(synth_analysis):
    obs = list(observations(synth_analysis, source="s1", offset=100.0))
    kinds = {o.kind for o in obs}
    assert kinds == {"window", "artifact", "event"}
    assert all(o.modality == "eeg" and o.meta["recipe"] == synth_analysis.recipe_hash for o in obs)
    windows = [o for o in obs if o.kind == "window"]
    assert windows[0].t0 == 100.0 and windows[0].vectors["eeg_bands"].shape == (12,)
    assert windows[0].vectors["eeg_bands"].dtype == np.float32
    ann = [o for o in obs if o.labels.get("annotation")]
    assert [(o.t0, o.text) for o in ann] == [(130.0, "eyes closed cue"), (160.0, "stimulus")]
    json.dumps([o.meta for o in obs])  # JSON-able


def test_ica_iclabel_on_real_emotiv_eeg(spkit_eeg):
    x, fs, names = spkit_eeg
    a = analyze(_rec(x, fs, names), ica=True)
    assert a.notes and a.notes[0].startswith("ICA (13 components")
    assert "ICLabel:" in a.notes[0]
    for art in (s for s in a.artifacts if s.kind.startswith("ica:")):
        assert 0.0 < art.score <= 1.0 and art.t1 - art.t0 == pytest.approx(16.0)


def test_ica_skipped_without_a_montage():
    names = [f"X{i}" for i in range(12)]
    a = analyze(_rec(synth(seconds=20, flat=False, clipped=False), names=names), ica=True)
    assert a.notes == ["ICA skipped: 0 EEG channels with standard 10-05 positions (need 8)"]


def test_named_reference_channels():
    x = synth(seconds=20, flat=False, clipped=False, mains=None)
    rec = _rec(x)
    r = Recipe(l_freq=None, h_freq=None, mains=None, reference=("O1", "O2")).resolve(rec)
    out = Preprocessor(r, rec).run_whole()
    expected = x - x[[8, 9]].mean(axis=0, keepdims=True)
    assert np.allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"reference: channels \['Cz'\] are not in"):
        Preprocessor(Recipe(mains=None, reference=("Cz",)).resolve(rec), rec)


NAMES_19 = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8",
            "O1", "O2"]


def test_segments_without_a_rhythm_report_no_peak():
    """600 s, 19 channels, alpha only at 02:30-04:30 over a 1/f background: the 05:00-06:40 segment
    once printed a "4-13 Hz peak" at (or below) the band's lower edge, where the slope is highest."""
    fs, seconds = 128.0, 600.0
    rng = np.random.default_rng(7)
    n = int(fs * seconds)
    t = np.arange(n) / fs
    spec = np.fft.rfft(rng.normal(size=(19, n)), axis=-1) / np.maximum(np.fft.rfftfreq(n, 1 / fs), 0.3) ** 0.6
    x = 10 * np.fft.irfft(spec, n=n, axis=-1) / np.fft.irfft(spec, n=n, axis=-1).std(axis=1, keepdims=True)
    x[-7:] += 25 * np.sin(2 * np.pi * 10 * t) * ((t >= 150) & (t < 270))  # P7 ... O2
    report = build_report(analyze(_rec(x, fs, NAMES_19)))
    segments = {s.data["segment"]: s for s in report.statements if "segment" in s.data}
    assert len(segments) == 6
    for (s0, s1), s in segments.items():
        has_alpha = s0 < 270 and s1 > 150
        peak = s.data["peak_hz"]
        if has_alpha:
            assert peak is not None and abs(peak - 10.0) < 0.5, s.text
        else:
            assert peak is None and "peak" not in s.text, s.text
    quiet = segments[(300.0, 400.0)]
    assert quiet.text.startswith("05:00-06:40:") and "Hz peak" not in quiet.text


def test_spectral_peak_stays_in_its_band():
    from perception.eeg.rhythms import spectral_peak

    freqs = np.arange(0, 64, 0.5)
    slope = 1.0 / np.maximum(freqs, 0.5) ** 1.5
    peak = spectral_peak(freqs, slope)
    assert 4.0 <= peak.hz < 13.0 and peak.at_edge and not peak.clear
    rising = np.maximum(freqs, 0.5) ** 1.5  # maximum at the upper edge
    peak = spectral_peak(freqs, rising)
    assert 4.0 <= peak.hz < 13.0 and peak.at_edge
    bump = slope + 0.3 * np.exp(-((freqs - 10.0) / 0.7) ** 2)
    assert spectral_peak(freqs, bump).clear
