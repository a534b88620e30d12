"""Telling a local path from a Hugging Face model name."""
from __future__ import annotations


def looks_like_path(text: str) -> bool:
    """Hub names look like ``name`` or ``org/name``; anything else with a separator is a path."""
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
