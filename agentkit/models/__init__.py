"""Model registry: every model is loaded by kind and name or local path, once per process.

NOTICE: the default language model is Gemma 3 270M, provided under and subject to the Gemma
Terms of Use (ai.google.dev/gemma/terms).
"""
from agentkit.models.errors import ModelNotFoundError
from agentkit.models.lm import LanguageModel, load_language_model

__all__ = ["LanguageModel", "ModelNotFoundError", "load_language_model"]
