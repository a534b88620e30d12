"""Step caching: exactness at threshold 0, report bookkeeping, apply/remove, refusals.

The models are our small DiT (benchmarks/dit/model.py) at a tiny size with random weights
(adaLN weights randomised so the blocks are not the identity) and, when diffusers is
installed, a tiny randomly initialised diffusers DiTTransformer2DModel.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

import accel.cache as sc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for benchmarks.dit
from benchmarks.dit.model import DiT, DiTConfig, sample  # noqa: E402

STEPS = 12



@pytest.fixture(scope="module")
def dit():
    """Tiny DiT, random weights, every adaLN projection randomised (not the zero init)."""
    torch.manual_seed(0)
    model = DiT(DiTConfig(image_size=8, patch_size=2, dim=32, depth=4, heads=2))
    with torch.no_grad():
        for blk in model.blocks:
            blk.ada[-1].weight.normal_(0, 0.02)
        model.ada_out[-1].weight.normal_(0, 0.02)
        model.out.weight.normal_(0, 0.02)
    return model.eval()


@pytest.fixture(scope="module")
def noise():
    return torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def reference(dit, noise):
    return sample(dit, noise, STEPS)


ZERO_CONFIGS = [sc.FBCacheConfig(threshold=0.0), sc.TeaCacheConfig(threshold=0.0), sc.SenCacheConfig(budget=0.0)]
# Random weights change a lot between steps, so "loose" means far above what a trained model needs.
LOOSE_CONFIGS = [sc.FBCacheConfig(threshold=10.0), sc.TeaCacheConfig(threshold=0.5), sc.SenCacheConfig(budget=5.0)]


def _sample_cached(dit, noise, config):
    """One full sampling run with ``config`` applied: the samples and the cache's report."""
    sc.apply(dit, config)
    try:
        sc.reset(dit)
        return sample(dit, noise, STEPS), sc.report(dit)
    finally:
        sc.remove(dit)


@pytest.mark.parametrize("config", ZERO_CONFIGS, ids=lambda c: type(c).__name__)
def test_threshold_zero_computes_every_step_bit_identical(dit, noise, reference, config):
    out, rep = _sample_cached(dit, noise, config)
    assert torch.equal(out, reference)
    assert (rep.steps, rep.computed, rep.reused) == (STEPS, STEPS, 0)


@pytest.mark.parametrize("config", LOOSE_CONFIGS, ids=lambda c: type(c).__name__)
def test_loose_threshold_reuses_and_report_adds_up(dit, noise, reference, config):
    out, rep = _sample_cached(dit, noise, config)
    assert rep.steps == STEPS == rep.computed + rep.reused
    assert rep.reused > 0 and len(rep.predicted_error) == len(rep.reused_steps) == rep.reused
    assert rep.computed >= config.warmup_steps
    assert not torch.equal(out, reference)
    assert (out - reference).abs().mean() < 0.5 * reference.abs().mean()  # an approximation, not garbage


@pytest.mark.parametrize("loose", LOOSE_CONFIGS, ids=lambda c: type(c).__name__)
def test_measure_error_keeps_the_cached_trajectory_and_measures(dit, noise, loose):
    outs, reports = [], []
    for measure in (False, True):
        sc.apply(dit, dataclasses.replace(loose, measure_error=measure))
        try:
            sc.reset(dit)
            outs.append(sample(dit, noise, STEPS))
            reports.append(sc.report(dit))
        finally:
            sc.remove(dit)
    torch.testing.assert_close(outs[1], outs[0])
    plain, measured = reports
    assert measured.reused_steps == plain.reused_steps
    assert len(measured.measured_error) == measured.reused > 0
    assert all(e > 0 for e in measured.measured_error)


def test_max_consecutive_reuse_is_honoured(dit, noise):
    sc.apply(dit, sc.FBCacheConfig(threshold=10.0, max_consecutive_reuse=2))
    try:
        sc.reset(dit)
        sample(dit, noise, STEPS)
        steps = sc.report(dit).reused_steps
    finally:
        sc.remove(dit)
    runs = [b - a for a, b in zip(steps, steps[1:])]
    assert steps and not any(steps[i + 2] == steps[i] + 2 for i in range(len(steps) - 2)), runs


def test_apply_remove_restores_exact_module_and_refuses_twice(dit, noise, reference):
    keys = list(dit.state_dict())
    sc.apply(dit, sc.FBCacheConfig(threshold=0.3))
    with pytest.raises(RuntimeError, match="already applied"):
        sc.apply(dit, sc.TeaCacheConfig())
    sc.reset(dit)
    sample(dit, noise, STEPS)
    sc.remove(dit)
    assert type(dit) is DiT and list(dit.state_dict()) == keys
    assert not any("forward" in m.__dict__ for m in dit.modules())
    assert torch.equal(sample(dit, noise, STEPS), reference)
    assert sc.remove(dit) is dit  # removing from an unpatched model does nothing
    with pytest.raises(RuntimeError, match="not applied"):
        sc.report(dit)


def test_reset_starts_a_new_report(dit, noise):
    sc.apply(dit, sc.FBCacheConfig(threshold=0.0))
    try:
        sc.reset(dit)
        sample(dit, noise, 4)
        sc.reset(dit)
        sample(dit, noise, 3)
        assert sc.report(dit).steps == 3
        assert [r.steps for r in sc.state(dit).runs] == [4]
    finally:
        sc.remove(dit)


def test_bad_configs_raise_clear_errors(dit):
    with pytest.raises(ValueError, match="threshold"):
        sc.FBCacheConfig(threshold=-1)
    with pytest.raises(ValueError, match="budget"):
        sc.SenCacheConfig(budget="x")
    with pytest.raises(ValueError, match="max_consecutive_reuse"):
        sc.TeaCacheConfig(max_consecutive_reuse=0)
    with pytest.raises(ValueError, match="history"):
        sc.SenCacheConfig(history=1)
    with pytest.raises(TypeError, match="config must be"):
        sc.apply(dit, {"threshold": 0.1})
    with pytest.raises(ValueError, match="no attribute"):
        sc.apply(dit, sc.FBCacheConfig(blocks="nope"))
    cfg = sc.FBCacheConfig()
    with pytest.raises(AttributeError):
        cfg.threshold = 0.5  # frozen


def test_diffusers_transformer_model():
    """Tiny randomly initialised diffusers DiT (diffusers is in the dev extra, optional for users)."""
    import diffusers

    torch.manual_seed(0)
    model = diffusers.DiTTransformer2DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4, num_layers=3,
        sample_size=8, patch_size=2, num_embeds_ada_norm=1000, norm_num_groups=1,
    ).eval()
    x = torch.randn(2, 4, 8, 8)
    labels = torch.tensor([1, 2])

    def run(steps=6):
        outs = []
        for i in range(steps):
            t = torch.full((2,), 900 - 150 * i)
            with torch.no_grad():
                outs.append(model(x + 0.01 * i, timestep=t, class_labels=labels).sample)
        return torch.stack(outs)

    ref = run()
    for zero, loose in zip(ZERO_CONFIGS, [sc.FBCacheConfig(threshold=10.0), sc.TeaCacheConfig(threshold=5.0), sc.SenCacheConfig(budget=50.0)]):
        sc.apply(model, zero)
        sc.reset(model)
        assert torch.equal(run(), ref), type(zero).__name__
        assert sc.report(model).computed == 6
        sc.remove(model)
        sc.apply(model, loose)
        sc.reset(model)
        approx = run()
        rep = sc.report(model)
        sc.remove(model)
        assert rep.reused > 0 and rep.steps == 6 == rep.computed + rep.reused, rep
        assert not torch.equal(approx, ref)
    assert torch.equal(run(), ref)
