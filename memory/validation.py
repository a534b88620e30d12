"""Argument checks of the store: each names the argument, what it must be and what it got."""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

SPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A vector space name: it becomes a file name (``<space>.faiss``)."""

SegmentRow = tuple[str, float, float, str, str, str, str, str]
"""(source, t0, t1, modality, kind, labels JSON, text, meta JSON): one row of the segment table."""


def check_str(value: Any, name: str) -> str:
    """Return ``value`` when it is a non-empty str, else raise ValueError naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def check_k(k: Any) -> int:
    """Return ``k`` as an int when it is a positive integer (not a bool), else raise ValueError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return int(k)


def dumps(value: Any, name: str) -> str:
    """``value`` as strict JSON (no NaN), or ValueError naming ``name``."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be JSON-able ({err})") from err


def observation_row(i: int, obs: Any) -> tuple[SegmentRow, dict[str, np.ndarray]]:
    """Check observation number ``i`` fully, before anything is written; return its row and vectors.

    Raises:
        TypeError: ``obs`` lacks an attribute, or its text is not a str.
        ValueError: A bad string, time span, vector or non-JSON-able labels/meta.
    """
    try:
        source, t0, t1 = obs.source, float(obs.t0), float(obs.t1)
        modality, kind, raw_vectors = obs.modality, obs.kind, obs.vectors
        labels, text, meta = obs.labels, obs.text, obs.meta
    except AttributeError as err:
        raise TypeError(f"observations[{i}] is not observation-like: {err}") from err
    except (TypeError, ValueError) as err:
        raise ValueError(f"observations[{i}]: t0 and t1 must be numbers ({err})") from err
    for name, value in (("source", source), ("modality", modality), ("kind", kind)):
        check_str(value, f"observations[{i}].{name}")
    if not math.isfinite(t0) or not math.isfinite(t1) or t1 < t0:
        raise ValueError(f"observations[{i}]: need finite t0 <= t1, got t0={t0}, t1={t1}")
    if not isinstance(text, str):
        raise TypeError(f"observations[{i}].text must be a str, got {type(text).__name__}")
    labels = {str(name): float(score) for name, score in dict(labels or {}).items()}
    vectors = {space: _vector(i, space, vec) for space, vec in dict(raw_vectors or {}).items()}
    row = (source, t0, t1, modality, kind, dumps(labels, f"observations[{i}].labels"), text,
           dumps(dict(meta or {}), f"observations[{i}].meta"))
    return row, vectors


def _vector(i: int, space: Any, vec: Any) -> np.ndarray:
    """One named vector of observation ``i`` as contiguous float32, checked."""
    if not isinstance(space, str) or not SPACE_NAME.match(space):
        raise ValueError(f"observations[{i}].vectors: bad space name {space!r} (letters, digits, _ or -)")
    arr = np.ascontiguousarray(vec, dtype=np.float32)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"observations[{i}].vectors[{space!r}] must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"observations[{i}].vectors[{space!r}] has non-finite values")
    return arr
