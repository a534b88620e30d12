"""The transformer encoder's `merge` option: token merging as a fraction of the tokens.

Small generated trials (a 10 Hz source on two channels for class "rhythm"), a few epochs: each
test takes about a second.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from perception.eeg.encoders import TransformerEncoderConfig, load_encoder, make_encoder

from .test_encoders import make_trials

SMALL = {"epochs": 4, "d_model": 16, "depth": 2, "heads": 2, "patch": 16}  # 4 channels x 8 patches = 32 tokens


@pytest.fixture(scope="module")
def trials():
    return make_trials(60, 0), make_trials(20, 1)


def _tokens_into_last_block(enc, X) -> list[int]:
    seen = []
    hook = enc.model.blocks[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    try:
        enc.predict_proba(X)
    finally:
        hook.remove()
    return seen


def test_merge_trains_predicts_processes_fewer_tokens_and_round_trips(trials, tmp_path):
    (X, y), (Xt, _) = trials
    merged = make_encoder("transformer", seed=0, **SMALL).fit(X, y, classes=["noise", "rhythm"])  # default 0.4
    plain = make_encoder("transformer", seed=0, merge=0.0, **SMALL).fit(X, y, classes=["noise", "rhythm"])
    assert merged.config.merge == 0.4
    assert merged.model.cfg.merge_r == round(0.4 * 32) == 13 and plain.model.cfg.merge_r == 0
    p = merged.predict_proba(Xt)
    assert p.shape == (20, 2) and np.allclose(p.sum(1), 1.0)
    assert _tokens_into_last_block(merged, Xt) == [1 + 32 - 13]   # class token + what is left
    assert _tokens_into_last_block(plain, Xt) == [1 + 32]

    folder = merged.save(tmp_path / "m")
    assert json.loads((folder / "encoder.json").read_text())["config"]["merge"] == 0.4
    again = load_encoder(folder)
    assert again.config.merge == 0.4 and again.model.cfg.merge_r == 13
    np.testing.assert_array_equal(again.predict_proba(Xt), p)


def test_encoder_saved_without_the_merge_field_loads_without_merging(trials, tmp_path):
    (X, y), (Xt, _) = trials
    enc = make_encoder("transformer", seed=0, merge=0.0, **SMALL).fit(X, y, classes=["noise", "rhythm"])
    p = enc.predict_proba(Xt)
    folder = enc.save(tmp_path / "old")
    # what a save from before the option looked like: no config field, no merge_r array
    meta = json.loads((folder / "encoder.json").read_text())
    del meta["config"]["merge"]
    (folder / "encoder.json").write_text(json.dumps(meta))
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(folder / "arrays.safetensors"))
    del arrays["merge_r"]
    save_file(arrays, str(folder / "arrays.safetensors"))
    again = load_encoder(folder)
    assert again.config.merge == 0.0 and again.model.cfg.merge_r == 0
    np.testing.assert_array_equal(again.predict_proba(Xt), p)


@pytest.mark.parametrize("bad", [-0.1, 0.6, 1.0, float("nan"), "0.4", True, None])
def test_bad_merge_value_is_refused_with_the_rule(bad):
    with pytest.raises(ValueError, match=r"merge must be a fraction of the tokens in \[0, 0.5\].*got"):
        TransformerEncoderConfig(merge=bad)
    with pytest.raises(ValueError, match="merge must be"):
        make_encoder("transformer", merge=bad)


def test_merge_r_from_the_fraction():
    assert TransformerEncoderConfig().merge == 0.4                        # the default
    assert TransformerEncoderConfig(merge=0.4).merge_r(64) == 26          # Blink: 26 of its 64 tokens
    assert TransformerEncoderConfig(merge=0.4, depth=3).merge_r(64) == 13  # split over the two merging blocks
    assert TransformerEncoderConfig(merge=0.01).merge_r(32) == 1          # at least one when asked for
    assert TransformerEncoderConfig(merge=0.0).merge_r(64) == 0
    assert TransformerEncoderConfig(merge=0.4, depth=1).merge_r(64) == 0  # no block to merge after
