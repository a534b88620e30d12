"""Model registry: every model is loaded by kind and name or local path, once per process.

See :mod:`agentkit.models.registry` for the kinds, defaults and override rules.

NOTICE: the default language model is Gemma 3 270M, provided under and subject to the Gemma
Terms of Use (ai.google.dev/gemma/terms).
"""
from agentkit.models.errors import ModelNotFoundError
from agentkit.models.lm import LanguageModel
from agentkit.models.registry import (KINDS, REGISTRY, Registry, load, load_frame_encoder,
                                      load_language_model, load_ocr, load_text_embedder)
from agentkit.models.text_embedder import TextEmbedder

__all__ = [
    "KINDS", "REGISTRY", "LanguageModel", "ModelNotFoundError", "Registry", "TextEmbedder", "load",
    "load_frame_encoder", "load_language_model", "load_ocr", "load_text_embedder",
]
