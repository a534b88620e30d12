"""The real offline defaults from their PyPI packages: all-MiniLM-L6-v2 and Gemma 3 270M."""
from __future__ import annotations

import numpy as np
import pytest

from agentkit import models


def test_minilm_default_understands_words():
    emb = models.load_text_embedder()
    assert emb.dim == 384 and emb is models.load_text_embedder("all-MiniLM-L6-v2")
    cat, kitten, rocket = emb.embed(["a cat", "a kitten", "a rocket"])
    assert float(cat @ kitten) > float(cat @ rocket) + 0.2


@pytest.fixture(scope="session")
def gemma():
    """Gemma 3 270M base (converted once into the agentkit cache, then loaded in seconds)."""
    return models.load_language_model()


def test_gemma_generates_and_ranks_options(gemma):
    text = gemma.generate("The capital of France is", max_new_tokens=8)
    assert text.strip()
    paris, banana = gemma.option_logprobs("The capital of France is", [" Paris", " banana"])
    assert paris > banana + 5.0
    line = gemma.generate("Q: What is 2 + 2?\nA:", max_new_tokens=12, stop=["\n"])
    assert "\n" not in line and line.strip()
    assert gemma.tokenizer.bos_token_id == gemma.tokenizer("x")["input_ids"][0]
