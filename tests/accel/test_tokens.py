"""Token merging: properties of the matching and of the model patches.

Models here are tiny, randomly initialised ViT / CLIP / SigLIP built from configs (no weights
can be downloaded); the properties tested do not depend on the weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import accel.tokens as tk



def _members_mean(source: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    return source @ x0 / source.sum(-1, keepdim=True)


@pytest.mark.parametrize("n,r", [(37, 5), (64, 31), (9, 4), (2, 1)])
def test_merge_conserves_mass_and_size(n, r):
    torch.manual_seed(n)
    x = torch.randn(3, n, 16, dtype=torch.float64)
    plan = tk.bipartite_soft_matching(x, r)
    y, size = tk.merge_weighted(plan, x)
    assert y.shape == (3, n - plan.r, 16) and plan.r == min(r, (n + 1) // 2)
    assert torch.equal(size.sum(1).flatten(), torch.full((3,), float(n), dtype=torch.float64))
    torch.testing.assert_close((y * size).sum(1), x.sum(1))


def test_repeated_merges_are_size_weighted_means_of_members():
    torch.manual_seed(0)
    x0 = torch.randn(2, 50, 8, dtype=torch.float64)
    x, size, source = x0, None, None
    for r in (7, 7, 6, 5):
        plan = tk.bipartite_soft_matching(x, r)
        source = tk.merge_source(plan, source, 50)
        x, size = tk.merge_weighted(plan, x, size)
    assert torch.equal(source.sum(1), torch.ones(2, 50, dtype=source.dtype))  # each token in one group
    torch.testing.assert_close(source.sum(-1, keepdim=True), size.to(source.dtype))
    torch.testing.assert_close(x, _members_mean(source.double(), x0))


def test_r_zero_is_identity_and_unmerge_spreads_group_values():
    torch.manual_seed(1)
    x = torch.randn(2, 11, 4)
    plan0 = tk.bipartite_soft_matching(x, 0)
    y0, s0 = tk.merge_weighted(plan0, x)
    assert torch.equal(y0, x) and torch.equal(s0, torch.ones(2, 11, 1))
    plan = tk.bipartite_soft_matching(x, 4)
    y, _ = tk.merge_weighted(plan, x)
    back = plan.unmerge(y)
    source = tk.merge_source(plan, None)
    torch.testing.assert_close(back, source.transpose(1, 2) @ y)


def test_protect_first_keeps_class_token_first_and_alone():
    torch.manual_seed(2)
    x = torch.randn(4, 21, 8)
    x[:, 0] = x[:, 2]  # the class token's best match is perfect: it must still not merge
    plan = tk.bipartite_soft_matching(x, 10, protect_first=True)
    y, size = tk.merge_weighted(plan, x)
    assert plan.r == 10
    assert torch.equal(y[:, 0], x[:, 0]) and torch.all(size[:, 0] == 1)


def test_regions_keep_merges_inside_regions_when_possible():
    torch.manual_seed(3)
    x = torch.randn(2, 40, 6)
    regions = torch.arange(40).div(10, rounding_mode="floor").expand(2, 40)  # 4 regions of 10
    plan = tk.bipartite_soft_matching(x, 12, regions=regions)
    src = tk.merge_source(plan, None)
    for b in range(2):
        for group in src[b]:
            labels = regions[b][group.bool()]
            assert labels.min() == labels.max()
    plain = tk.merge_source(tk.bipartite_soft_matching(x, 12), None)
    mixed = [(regions[b][g.bool()].unique().numel() > 1) for b in range(2) for g in plain[b]]
    assert any(mixed)  # random tokens: plain matching does cross regions, so the test can fail


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="metric"):
        tk.bipartite_soft_matching(torch.randn(4, 8), 2)
    with pytest.raises(ValueError, match="r must"):
        tk.bipartite_soft_matching(torch.randn(1, 8, 2), -1)
    with pytest.raises(ValueError, match="regions"):
        tk.bipartite_soft_matching(torch.randn(1, 8, 2), 2, regions=torch.zeros(1, 7))
    with pytest.raises(ValueError, match="x must be"):
        tk.bipartite_soft_matching(torch.randn(1, 8, 2), 2).merge(torch.randn(1, 9, 2))


def test_patch_regions_majority_and_slic_on_a_real_image():
    mask = np.zeros((1, 8, 8), dtype=np.int64)
    mask[0, :, 5:] = 3  # columns 5..7 -> patch (.,1) has 3 of 4 columns labelled 3
    labels = tk.patch_regions(mask, 4, num_prefix_tokens=1)
    assert labels.tolist() == [[-1, 0, 3, 0, 3]]
    from skimage import data

    img = data.astronaut()[::4, ::4]  # 128 x 128 real photograph
    regions = tk.slic_regions(img, 16, n_segments=20)
    assert regions.shape == (1, 64) and 3 <= regions.unique().numel() <= 64
    with pytest.raises(ValueError, match="divisible"):
        tk.patch_regions(np.zeros((10, 10)), 4)


def test_temporal_cache_reuses_unchanged_tokens_and_reports_error():
    torch.manual_seed(4)
    frame = torch.randn(30, 8)
    moved = frame.clone()
    moved[:5] += 10.0  # 5 tokens change a lot
    moved[5:10] += 0.001  # 5 change a little
    proj = torch.randn(8, 3)
    cache = tk.TemporalTokenCache(0.01, measure_error=True)
    out1 = cache.step(frame, lambda t: t @ proj)
    out2 = cache.step(moved, lambda t: t @ proj)
    assert torch.equal(out1, frame @ proj)
    torch.testing.assert_close(out2[:5], moved[:5] @ proj)  # recomputed
    assert torch.equal(out2[5:], out1[5:])  # reused (including the slightly moved ones)
    rep = cache.report
    assert (rep.frames, rep.tokens_total, rep.tokens_computed) == (2, 60, 35)
    assert rep.errors[0] == 0.0 and 0 < rep.errors[1] < 1e-3
    exact = tk.TemporalTokenCache(0.0)
    exact.step(frame, lambda t: t)
    assert torch.equal(exact.step(moved, lambda t: t), moved)


# ---------------------------------------------------------------------------- model patches
def _tiny_models():
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModel,
        SiglipVisionConfig,
        SiglipVisionModel,
        ViTConfig,
        ViTForImageClassification,
    )

    kw = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8)
    torch.manual_seed(0)
    return {
        "vit": ViTForImageClassification(ViTConfig(**kw, num_labels=5)),
        "clip": CLIPVisionModel(CLIPVisionConfig(**kw)),
        "siglip": SiglipVisionModel(SiglipVisionConfig(**kw)),
    }


@pytest.fixture(scope="module")
def tiny_models():
    """Tiny randomly initialised ViT / CLIP / SigLIP vision models (no pretrained weights)."""
    return {k: m.eval() for k, m in _tiny_models().items()}


def _out(model, x):
    out = model(pixel_values=x)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.mark.parametrize("name", ["vit", "clip", "siglip"])
def test_patch_r0_identical_and_unpatch_restores_exact_module(tiny_models, name):
    model = tiny_models[name]
    x = torch.randn(2, 3, 32, 32)
    keys = list(model.state_dict())
    cls = type(model)
    with torch.no_grad():
        ref = _out(model, x)
        tk.patch(model, r=0)
        assert torch.equal(_out(model, x), ref)
        tk.unpatch(model)
        tk.patch(model, r=3)
        merged = _out(model, x)
        tk.unpatch(model)
        after = _out(model, x)
    assert merged.shape != ref.shape or not torch.equal(merged, ref)
    assert torch.equal(after, ref)
    assert type(model) is cls and list(model.state_dict()) == keys
    assert not any("forward" in m.__dict__ for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name,prefix", [("clip", True), ("siglip", False)])
def test_patched_model_merges_tokens_and_tracks_sizes(tiny_models, name, prefix):
    model = tiny_models[name]
    x = torch.randn(2, 3, 32, 32)
    n0 = 16 + int(prefix)
    tk.patch(model, r=[2, 3, 1], trace_source=True)
    try:
        with torch.no_grad():
            hidden = model(pixel_values=x).last_hidden_state
        state = tk.merge_state(model)
        assert hidden.shape[1] == n0 - 6
        assert torch.equal(state.size.sum(1).flatten(), torch.full((2,), float(n0)))
        torch.testing.assert_close(state.source.sum(-1, keepdim=True), state.size)
        assert state.protect_first is prefix
        if prefix:
            assert torch.all(state.size[:, 0] == 1)
    finally:
        tk.unpatch(model)


def _mlp_token_counts(model, x, layers):
    """Tokens each layer's MLP sees, from the second forward on (the first also runs the check)."""
    with torch.no_grad():
        _out(model, x)
    seen = []
    hooks = [layer.mlp.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1])) for layer in layers]
    try:
        with torch.no_grad():
            out = _out(model, x)
    finally:
        for h in hooks:
            h.remove()
    return seen, out


@pytest.mark.parametrize("name", ["vit", "clip", "siglip"])
def test_merge_sits_between_attention_and_mlp(tiny_models, name, monkeypatch, caplog):
    """ToMe's placement: each layer's MLP already runs on the tokens merged after its attention."""
    from accel.tokens.patch import hf

    model = tiny_models[name]
    layers = [m for m in model.modules() if type(m).__name__ in hf._SPLITS]
    n0 = 16 + int(name != "siglip")
    x = torch.randn(2, 3, 32, 32)
    tk.patch(model, r=2)
    try:
        split_counts, split_out = _mlp_token_counts(model, x, layers)
    finally:
        tk.unpatch(model)
    assert "does not match" not in caplog.text
    assert split_counts == [n0 - 2, n0 - 4, n0 - 6]

    monkeypatch.setattr(hf, "_SPLITS", {})  # no known layout: merge after each whole layer
    tk.patch(model, r=2)
    try:
        after_counts, after_out = _mlp_token_counts(model, x, layers)
    finally:
        tk.unpatch(model)
    assert after_counts == [n0, n0 - 2, n0 - 4]
    assert split_out.shape == after_out.shape and not torch.allclose(split_out, after_out)


def test_split_that_disagrees_with_the_layer_falls_back_with_a_warning(caplog):
    model = _TimmLayoutViT().eval()
    for block in model.blocks:  # timm's part names, but this block's forward never calls ls1
        block.ls1 = torch.nn.Linear(32, 32)
        block.ls2 = block.drop_path1 = block.drop_path2 = torch.nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    seen = []
    hooks = [b.mlp.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1])) for b in model.blocks]
    tk.patch(model, r=2)
    try:
        with torch.no_grad():
            model(x)  # the first call checks the split, fails it and falls back
            seen.clear()
            merged = model(x)
    finally:
        tk.unpatch(model)
        for h in hooks:
            h.remove()
    assert "does not match" in caplog.text
    assert seen == [17, 15, 13], "a layout that fails the check must keep the layer's own forward"
    for block in model.blocks:
        del block.ls1  # without ls1 the adapter offers no split: the same fallback, no check
    tk.patch(model, r=2)
    try:
        with torch.no_grad():
            assert torch.equal(model(x), merged)
    finally:
        tk.unpatch(model)


def test_proportional_attention_changes_the_output(tiny_models):
    model = tiny_models["vit"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tk.patch(model, r=3)
        with_bias = _out(model, x)
        tk.unpatch(model)
        tk.patch(model, r=3, prop_attn=False)
        without = _out(model, x)
        tk.unpatch(model)
    assert not torch.allclose(with_bias, without)


def test_forcing_the_merge_kernel_where_it_cannot_run_is_a_clear_error():
    plan = tk.bipartite_soft_matching(torch.randn(1, 9, 4), 2)
    with pytest.raises(RuntimeError, match="use_triton=True"):
        tk.merge_weighted(plan, torch.randn(1, 9, 4, dtype=torch.float64), use_triton=True)


def test_merged_mask_keeps_a_key_visible_where_any_member_was():
    from accel.tokens.merge import bipartite_soft_matching
    from accel.tokens.patch._core import _merge_mask

    metric = torch.randn(2, 9, 4)
    plan = bipartite_soft_matching(metric, 3)
    members = tk.merge_source(plan, None)  # [B, 6, 9]
    visible = torch.rand(2, 1, 9, 9) > 0.5
    merged = _merge_mask(plan, visible)
    assert merged.shape == (2, 1, 6, 6) and merged.dtype == torch.bool
    # query i sees key j iff some member of i saw some member of j
    want = torch.einsum("bik,bkl,bjl->bij", members, visible[:, 0].float(), members) > 0
    assert torch.equal(merged[:, 0], want)
    additive = torch.where(visible, 0.0, torch.finfo(torch.float32).min)
    assert torch.equal(_merge_mask(plan, additive) == 0, want[:, None])
    row = visible[:, :, :1]  # one broadcast row: only the keys merge
    assert torch.equal(_merge_mask(plan, row)[:, 0, 0], (members @ row[:, 0, 0, :, None].float())[..., 0] > 0)


def test_an_all_visible_mask_built_for_the_input_follows_the_merges(tiny_models, monkeypatch):
    """transformers builds a full [B, 1, N, N] mask under CUDA-graph capture or torch.compile; the
    patched model must carry it through the merges and give the no-mask result."""
    from transformers import masking_utils

    model = tiny_models["vit"]
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    seen = []
    hooks = [layer.register_forward_pre_hook(lambda m, args: seen.append(args[1] if len(args) > 1 else None))
             for layer in model.vit.layers]
    model.double()
    tk.patch(model, r=3)
    try:
        with torch.no_grad():
            free = _out(model, x)
            assert seen and all(m is None for m in seen)
            seen.clear()
            monkeypatch.setattr(masking_utils, "_ignore_bidirectional_mask_sdpa", lambda *a, **k: False)
            masked = _out(model, x)
    finally:
        tk.unpatch(model)
        model.float()
        for h in hooks:
            h.remove()
    assert len(seen) == 3 and all(m is not None and m.shape[-1] == 17 for m in seen)  # the input-size mask
    torch.testing.assert_close(masked, free, rtol=1e-10, atol=1e-10)


def test_regions_steer_the_patched_model(tiny_models):
    model = tiny_models["clip"]
    x = torch.randn(1, 3, 32, 32)
    regions = torch.tensor([[-1] + [0] * 8 + [1] * 8])
    tk.patch(model, r=2, trace_source=True)
    try:
        tk.set_regions(model, regions)
        with torch.no_grad():
            model(pixel_values=x)
        src = tk.merge_state(model).source[0]
        for group in src:
            labels = regions[0][group.bool()]
            assert labels.min() == labels.max()
        with pytest.raises(ValueError, match="regions"):
            tk.set_regions(model, torch.zeros(17))
    finally:
        tk.unpatch(model)


def test_clip_text_tower_is_left_alone():
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=99),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(cfg).eval()
    ids = torch.randint(0, 99, (2, 7))
    with torch.no_grad():
        ref = model.get_text_features(input_ids=ids)
        tk.patch(model, r=2)
        assert len(tk.merge_state(model).layers) == 2  # vision layers only
        out = model.get_text_features(input_ids=ids)
        img = model.get_image_features(pixel_values=torch.randn(2, 3, 32, 32))
        tk.unpatch(model)
    ref = getattr(ref, "pooler_output", ref)
    out = getattr(out, "pooler_output", out)
    assert torch.equal(out, ref)
    assert getattr(img, "pooler_output", img).shape[0] == 2


def test_patch_refuses_twice_and_unknown_models(tiny_models):
    model = tiny_models["vit"]
    tk.patch(model, r=1)
    try:
        with pytest.raises(RuntimeError, match="already applied"):
            tk.patch(model, r=1)
    finally:
        tk.unpatch(model)
    assert tk.unpatch(model) is model  # removing from an unpatched model does nothing
    with pytest.raises(RuntimeError, match="not applied"):
        tk.merge_state(model)
    with pytest.raises(ValueError, match="not a supported"):
        tk.patch(torch.nn.Linear(2, 2), r=1)
    with pytest.raises(ValueError, match="one per layer"):
        tk.patch(model, r=[1, 2])
    assert "forward" not in model.vit.layers[0].__dict__  # a refused patch leaves nothing behind


class _TimmLayoutBlock(torch.nn.Module):
    """A block with timm's ViT layout and call signature (``attn.qkv``, ``forward(x, attn_mask=None)``)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(dim)
        self.attn = torch.nn.Module()
        self.attn.num_heads = heads
        self.attn.qkv = torch.nn.Linear(dim, 3 * dim)
        self.attn.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, 2 * dim), torch.nn.GELU(), torch.nn.Linear(2 * dim, dim))

    def forward(self, x, attn_mask=None):
        b, n, d = x.shape
        q, k, v = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        h = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        x = x + self.attn.proj(h.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class _TimmLayoutViT(torch.nn.Module):
    """Stand-in with timm's VisionTransformer surface (``blocks`` Sequential, ``num_prefix_tokens``,
    ``forward_features``), random weights; declared in a ``timm.`` module so the adapter accepts it.
    Real timm is checked on the GPU machine (benchmarks/tokens.py timm-check)."""

    __module__ = "timm.models.stand_in"

    def __init__(self, dim: int = 32, depth: int = 3, heads: int = 2) -> None:
        super().__init__()
        self.num_prefix_tokens = 1
        self.cls_token = torch.nn.Parameter(torch.randn(1, 1, dim))
        self.patch_embed = torch.nn.Conv2d(3, dim, 8, 8)
        self.blocks = torch.nn.Sequential(*[_TimmLayoutBlock(dim, heads) for _ in range(depth)])

    def forward_features(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        return self.blocks(torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1))

    def forward(self, x):
        return self.forward_features(x)[:, 0]


def test_timm_layout_adapter_slices_keys_and_injects_attn_mask():
    torch.manual_seed(0)
    model = _TimmLayoutViT().eval()
    x = torch.randn(2, 3, 32, 32)
    keys = list(model.state_dict())
    with torch.no_grad():
        ref = model(x)
        tk.patch(model, r=0)
        assert torch.equal(model(x), ref)
        tk.unpatch(model)
        tk.patch(model, r=2, trace_source=True)
        feats = model.forward_features(x)
        state = tk.merge_state(model)
        assert feats.shape[1] == 17 - 6 and state.protect_first
        assert torch.all(state.size[:, 0] == 1) and torch.equal(state.size.sum(1).flatten(), torch.tensor([17.0, 17.0]))
        merged = model(x)
        tk.unpatch(model)
        tk.patch(model, r=2, prop_attn=False)
        no_bias = model(x)
        tk.unpatch(model)
        assert not torch.allclose(merged, no_bias)  # the size bias reached attn_mask
        assert torch.equal(model(x), ref) and list(model.state_dict()) == keys


def test_blocks_without_a_mask_argument_work_without_proportional_attention():
    """Older timm blocks take no attn_mask: with prop_attn off none must be passed to them."""

    class NoMaskBlock(_TimmLayoutBlock):
        def forward(self, x):
            return super().forward(x)

    model = _TimmLayoutViT().eval()
    model.blocks = torch.nn.Sequential(*[NoMaskBlock(32, 2) for _ in range(3)])
    x = torch.randn(2, 3, 32, 32)
    tk.patch(model, r=2, prop_attn=False)
    try:
        with torch.no_grad():
            assert model.forward_features(x).shape[1] == 17 - 6
    finally:
        tk.unpatch(model)


def test_temporal_cache_rejects_bad_arguments():
    with pytest.raises(ValueError, match="threshold"):
        tk.TemporalTokenCache(-0.1)
    cache = tk.TemporalTokenCache(0.1)
    with pytest.raises(ValueError, match="tokens must be"):
        cache.step(torch.randn(5), lambda t: t)
    with pytest.raises(ValueError, match="differ in shape"):
        tk.changed_tokens(torch.randn(3, 2), torch.randn(4, 2), 0.1)
