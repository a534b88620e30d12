"""accel.ops on CPU: the PyTorch paths held to the references beside the kernels, launch settings.

The kernels themselves are held to the same references under Triton's interpreter
(test_attention_triton.py, test_tokens_triton.py) and on the GPU by benchmarks/attention.py.
"""

from __future__ import annotations

import os

import pytest
import torch

from accel.attention.int8 import quantise_blocks
from accel.ops import LaunchSettings
from accel.ops.merge.naive import merge_weighted_reference
from accel.ops.quantise.kernel import fp8_channel_scales
from accel.ops.quantise.naive import fp8_channel_reference, quantise_rows
from accel.tokens.merge import bipartite_soft_matching, merge_weighted


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(int(os.environ["AGENTKIT_TEST_SEED"]))


@pytest.mark.parametrize("n, r, protect", [(17, 5, True), (2, 1, False), (10, 0, False), (9, 5, False)])
def test_merge_weighted_matches_its_reference(n, r, protect):
    gen = _gen()
    x = torch.randn(3, n, 6, generator=gen, dtype=torch.float64)
    plan = bipartite_soft_matching(torch.randn(3, n, 4, generator=gen), r, protect_first=protect)
    for size in (None, torch.randint(1, 9, (3, n, 1), generator=gen).double()):
        got_x, got_s = merge_weighted(plan, x, size, use_triton=False)
        want_x, want_s = merge_weighted_reference(x, size, plan.kept_a, plan.merged_a, plan.dst_b)
        assert torch.allclose(got_x, want_x, rtol=1e-12, atol=1e-12), "x"
        assert torch.equal(got_s, want_s), "size"


def test_quantisers_match_their_references():
    gen = _gen()
    x = torch.randn(2, 3, 70, 24, generator=gen, dtype=torch.float64) * 3
    vals, scales = quantise_blocks(x, 32)
    rvals, rscales = quantise_rows(x, 32)
    assert torch.allclose(scales.double(), rscales[..., 0], rtol=1e-6), "scales"
    assert (vals.double() - rvals).abs().max() <= 1  # float32 against float64 rounding at .5 only
    v = torch.randn(2, 2, 50, 16, generator=gen)
    v[:, :, :, 3] = 0  # an all-zero channel gets scale 1
    _, ref_scales = fp8_channel_reference(v)
    assert torch.allclose(fp8_channel_scales(v).double(), ref_scales, rtol=1e-6)
    assert torch.all(ref_scales[..., 3] == 1)


def test_launch_settings_are_checked():
    assert LaunchSettings() == LaunchSettings(warps=None, stages=None, hopper=True)
    with pytest.raises(ValueError, match="warps"):
        LaunchSettings(warps=3)
    with pytest.raises(ValueError, match="stages"):
        LaunchSettings(stages=0)
    with pytest.raises(TypeError, match="hopper"):
        LaunchSettings(hopper="no")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sparsity, mass", [(0.5, None), (0.75, 0.9), (None, 0.6)])
def test_block_mask_prediction_and_layout_match_their_references(causal, sparsity, mass):
    from accel.attention.block_mask import block_layout, predict_block_mask
    from accel.ops.block_mask.naive import block_layout_reference, predict_block_mask_reference

    # a fixed seed, not the run's: the reference works in float64 and the path in float32, so
    # only a probability tie within float32 rounding could part them, and these inputs have none
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 150, 16, generator=gen)  # GQA (4 heads over 2), ragged last blocks
    k = torch.randn(2, 2, 150, 16, generator=gen)
    kw = dict(block_q=32, block_k=16, causal=causal)
    opts = dict(scale=0.25, sparsity=sparsity, mass=mass, keep_sink=True)
    mask = predict_block_mask(q, k, **kw, **opts)
    assert torch.equal(mask, predict_block_mask_reference(q, k, **kw, **opts))
    assert 0 < int(mask.sum()) < mask.numel()  # some blocks skipped: not a vacuous match
    layout = block_layout(mask, sq=150, sk=150, **kw)
    idx, cnt, full = block_layout_reference(mask, sq=150, sk=150, **kw)
    assert layout.kv_cnt.tolist() == cnt and layout.kv_full.tolist() == full
    for row, want in zip(layout.kv_idx.flatten(0, 2).tolist(), (r for b in idx for h in b for r in h)):
        assert row[:len(want)] == want and not any(row[len(want):])
