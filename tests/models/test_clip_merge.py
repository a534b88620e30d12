"""Token merging (``merge_r``) on the CLIP/SigLIP frame-encoder path.

Every model here is a tiny CLIP/SigLIP randomly initialised from a config and saved to a temp
folder (see conftest.py; no pretrained weights exist offline). They check the wiring: exactness
at ``merge_r=0``, fewer tokens processed, shapes and errors. Closeness to the unmerged embeddings
on random weights says nothing about the accuracy cost on real weights, which stays unmeasured.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import accel.tokens
from agentkit import models
from agentkit.toolkit import ModelChoice, Toolkit
from perception.image.hf_clip import HFClipFrameEncoder, TokenMergeError

LAYERS, PATCHES = 4, 64  # the 64 px model below: 8 px patches -> 64 patch tokens + the class token


def _real_images() -> list[np.ndarray]:
    """Six scikit-image pictures (RGB uint8, various sizes; the processor resizes them)."""
    from skimage import data

    gray = data.camera()
    pics = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), np.stack([gray] * 3, -1),
            data.hubble_deep_field()]
    return [np.ascontiguousarray(p[..., :3]).astype(np.uint8) for p in pics]


@pytest.fixture(scope="module")
def clip64(tiny_clip, tiny_dir):
    """A tiny random CLIP with a 64 px, 4-layer vision tower, saved to the session temp folder.

    ``initializer_factor=1`` spreads the random weights enough that different images get
    different embeddings (at the default 0.02 every image maps to nearly the same vector)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(5)
    config = CLIPConfig.from_pretrained(tiny_clip)
    vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS, num_attention_heads=2,
                  image_size=64, patch_size=8, initializer_factor=1.0)
    out = tiny_dir / "clip64"
    CLIPModel(CLIPConfig(text_config=config.text_config.to_dict(), vision_config=vision,
                         projection_dim=24)).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (tiny_clip / name).exists():
            (out / name).write_bytes((tiny_clip / name).read_bytes())
    return out


@pytest.fixture(scope="module")
def images():
    return _real_images()


def test_merge_r_zero_is_the_exact_model(clip64, images):
    plain = HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True)
    zero = HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True, merge_r=0)
    np.testing.assert_array_equal(zero.encode(images).visual, plain.encode(images).visual)
    with pytest.raises(RuntimeError):  # nothing patched
        accel.tokens.merge_state(zero.model.vision_model)


def test_merge_r_processes_fewer_tokens_and_stays_close(clip64, images):
    r = 8
    base = HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True).encode(images)
    enc = HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True, merge_r=r)
    assert enc.merge_r == r and "merge_r=8" in repr(enc)
    enc.encode(images[:1])  # the first patched call also checks each layer's attention/MLP split
    seen = []  # tokens entering each layer's MLP (merging happens between attention and MLP)
    hooks = [layer.mlp.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
             for layer in enc.model.vision_model.encoder.layers]
    try:
        feats = enc.encode(images)
    finally:
        for h in hooks:
            h.remove()
    assert seen == [PATCHES + 1 - r * (i + 1) for i in range(LAYERS)]           # 57, 49, 41, 33
    assert accel.tokens.merge_state(enc.model.vision_model).size.shape[1] == PATCHES + 1 - r * LAYERS
    assert all("forward" in layer.__dict__ for layer in enc.model.vision_model.encoder.layers)  # wrapped
    assert not any("forward" in layer.__dict__ for layer in enc.model.text_model.encoder.layers)  # untouched
    v = feats.visual
    assert v.shape == base.visual.shape == (len(images), enc.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(feats.concept, v)
    cos = v @ base.visual.T
    assert np.diag(cos).min() > 0.99  # measured 0.99994 (different frames among themselves: 0.67-0.98)
    assert (cos.argmax(axis=1) == np.arange(len(images))).all()            # each frame still finds itself
    text = enc.embed_text(["a cat"])                                       # text tower untouched
    np.testing.assert_allclose(text, HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True)
                               .embed_text(["a cat"]), atol=1e-6)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "8"])
def test_bad_merge_r_types(clip64, bad):
    with pytest.raises(TokenMergeError, match="non-negative integer"):
        HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True, merge_r=bad)
    with pytest.raises(ValueError, match="non-negative integer"):
        models.load_frame_encoder(clip64, merge_r=bad)


def test_merge_r_too_large_names_the_limit(clip64):
    limit = (PATCHES - 1) // LAYERS  # 15: 4 x 15 = 60 of the 64 patch tokens
    HFClipFrameEncoder.from_pretrained(clip64, local_files_only=True, merge_r=limit)
    with pytest.raises(TokenMergeError, match=rf"too large.*use merge_r <= {limit}"):
        models.load_frame_encoder(clip64, merge_r=limit + 1)  # not hidden as "not a CLIP folder"


def test_registry_and_toolkit_pass_merge_r(tiny_clip, tiny_siglip, tmp_path):
    plain = models.load_frame_encoder(tiny_clip)
    assert models.load_frame_encoder(tiny_clip, merge_r=0) is plain and plain.merge_r == 0  # same cache key
    merged = models.load_frame_encoder(tiny_clip, merge_r=2)
    assert merged is not plain and merged.merge_r == 2
    assert models.load_frame_encoder(tiny_clip, merge_r=2) is merged
    toolkit = Toolkit(store_dir=tmp_path, models=ModelChoice(frame_encoder=str(tiny_clip), frame_merge_r=2))
    assert toolkit.frame_encoder is merged
    siglip = models.load_frame_encoder(tiny_siglip, merge_r=2)                 # no class token: 16 -> 14 -> 12
    assert siglip.encode(_real_images()[:2]).visual.shape == (2, siglip.dim)
    assert accel.tokens.merge_state(siglip.model.vision_model).size.shape[1] == 12


def test_merge_r_needs_a_vit_family_encoder(tiny_siglip2):
    with pytest.raises(ValueError, match=r"MobileNetV2 \+ ConSE.*merge_r needs a ViT-family encoder"):
        models.load_frame_encoder(merge_r=16)
    with pytest.raises(TokenMergeError, match="merge_r needs a ViT-family vision tower"):
        models.load_frame_encoder(tiny_siglip2, merge_r=2)  # SigLIP2 layers: not supported by accel.tokens
