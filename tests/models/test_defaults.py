"""The real offline defaults from their PyPI packages: all-MiniLM-L6-v2 and Gemma 3 270M."""
from __future__ import annotations

import pytest

from agentkit import models


def test_minilm_default_understands_words():
    emb = models.load_text_embedder()
    assert emb.dim == 384 and emb is models.load_text_embedder("all-MiniLM-L6-v2")
    cat, kitten, rocket = emb.embed(["a cat", "a kitten", "a rocket"])
    assert float(cat @ kitten) > float(cat @ rocket) + 0.2


def test_default_frame_encoder_and_ocr_are_wired():
    """MobileNetV2 + ConSE over MiniLM (registry default) on real pictures from scikit-image."""
    from skimage import data

    from perception.image.conse import ConSEFrameEncoder
    from perception.image.ocr import OcrReader

    enc = models.load_frame_encoder()
    assert isinstance(enc, ConSEFrameEncoder) and enc is models.load_frame_encoder("mobilenet-v2-conse")
    assert enc.concept_dim == models.load_text_embedder().dim == 384
    feats = enc.encode([data.chelsea(), data.rocket()])
    assert any("cat" in name for name in list(feats.labels[0])[:3])
    sims = feats.concept @ enc.embed_text(["a cat", "a rocket"]).T  # (frames, texts)
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]
    assert isinstance(models.load_ocr(), OcrReader) and models.load_ocr() is models.load_ocr("rapidocr")


@pytest.fixture(scope="session")
def gemma():
    """Gemma 3 270M base (converted once into the agentkit cache, then loaded in seconds)."""
    return models.load_language_model()


def test_gemma_generates_and_ranks_options(gemma):
    line = gemma.generate("Q: What is the capital of France?\nA:", max_new_tokens=6, stop=["\n"])
    assert line.strip() and "\n" not in line
    paris, banana = gemma.option_logprobs("The capital of France is", [" Paris", " banana"])
    assert paris > banana + 5.0
    assert gemma.tokenizer.bos_token_id == gemma.tokenizer("x")["input_ids"][0]
