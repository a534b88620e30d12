"""Override loaders on tiny randomly initialised models (see conftest.py): loading and wiring."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agentkit import models


def _images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(40 + 7 * i, 56, 3), dtype=np.uint8) for i in range(n)]


def test_sentence_transformers_folder(tiny_sentence_transformer):
    """Tiny random BERT saved as a sentence-transformers folder loads as a 32-d text embedder."""
    emb = models.load_text_embedder(tiny_sentence_transformer)
    assert models.load_text_embedder(str(tiny_sentence_transformer)) is emb  # once per process
    v = emb.embed(["a cat", "a rocket", "a cat"])
    assert emb.dim == 32 and v.shape == (3, 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(v[0], v[2], atol=1e-6)
    assert not np.allclose(v[0], v[1])
    np.testing.assert_array_equal(emb(["a cat"]), emb.embed(["a cat"]))


@pytest.mark.parametrize("family", ["clip", "siglip", "siglip2"])
def test_clip_and_siglip_frame_encoders(family, request):
    """Tiny random CLIP/SigLIP/SigLIP2: frames and text land in the model's own joint space."""
    from perception.image.encoder import FrameEncoder

    folder = request.getfixturevalue(f"tiny_{family}")
    enc = models.load_frame_encoder(folder)
    assert isinstance(enc, FrameEncoder)
    assert enc.model_type == family
    feats = enc.encode(_images())
    dim = 24 if family == "clip" else 32
    assert enc.dim == enc.concept_dim == dim
    assert feats.visual.shape == feats.concept.shape == (3, dim)
    np.testing.assert_allclose(np.linalg.norm(feats.concept, axis=1), 1.0, atol=1e-5)
    assert len(feats.labels) == 3 and all(len(lab) == 5 for lab in feats.labels)
    assert all(0.0 <= p <= 1.0 for lab in feats.labels for p in lab.values())
    np.testing.assert_allclose(enc.encode(_images()).concept, feats.concept, atol=1e-6)  # deterministic

    # Native text-to-frame matching: our cosine equals the model's own image-text logit.
    texts = ["a cat", "a red car"]
    t = enc.embed_text(texts)
    assert t.shape == (2, dim)
    image_inputs = enc.image_processor(images=_images(), return_tensors="pt")
    tok_kw = dict(padding="max_length", max_length=16) if family != "clip" else dict(padding=True)
    tok = enc.tokenizer(texts, return_tensors="pt", truncation=True, **tok_kw)
    inputs = {"input_ids": tok["input_ids"], **image_inputs}
    if family == "clip":
        inputs["attention_mask"] = tok["attention_mask"]
    with torch.inference_mode():
        out = enc.model(**inputs)
    expected = out.logits_per_image.numpy()
    scale = float(enc.model.logit_scale.detach().exp())
    bias = float(enc.model.logit_bias.detach()) if family != "clip" else 0.0
    np.testing.assert_allclose(scale * feats.concept @ t.T + bias, expected, rtol=1e-4, atol=1e-4)


def test_causal_lm_by_path(tiny_causal_lm):
    """Tiny random GPT-2 / Llama: greedy generation is deterministic; option scores are exact."""
    lm = models.load_language_model(tiny_causal_lm)
    assert models.load("language_model", tiny_causal_lm) is lm
    prompt = "the capital of france is"
    out = lm.generate(prompt, max_new_tokens=6)
    assert isinstance(out, str) and out == lm.generate(prompt, max_new_tokens=6)
    options = [" paris", " banana london", " a cat sat"]
    got = lm.option_logprobs(prompt, options)
    # Reference: score each full sequence in one plain forward pass.
    prompt_ids = lm.tokenizer(prompt)["input_ids"]
    for opt, score in zip(options, got):
        opt_ids = lm.tokenizer(opt, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = torch.log_softmax(lm.model(input_ids=torch.tensor([prompt_ids + opt_ids])).logits[0], dim=-1)
        ref = sum(float(logp[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(opt_ids))
        assert score == pytest.approx(ref, abs=1e-4)
    assert all(s < 0 for s in got)
    with pytest.raises(ValueError, match="options"):
        lm.option_logprobs(prompt, [])
    with pytest.raises(ValueError, match="max_new_tokens"):
        lm.generate(prompt, max_new_tokens=0)
