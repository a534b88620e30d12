"""Times as people write them ("00:42", "1:02:03", "42s") and as the agent prints them (mm:ss)."""
from __future__ import annotations

import re

__all__ = ["format_time", "format_span", "find_times"]

_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.(\d+))?(?![\d:])")
_UNIT = re.compile(
    r"(?<![\w.:])(\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?|m|min|mins|minutes?|s|sec|secs|seconds?)\b",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def format_time(seconds: float) -> str:
    """Format seconds as ``mm:ss`` (``h:mm:ss`` from one hour on), rounding down."""
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_span(t0: float, t1: float) -> str:
    """Format a span as ``mm:ss-mm:ss`` (one time when both ends fall in the same second)."""
    a, b = format_time(t0), format_time(max(t0, t1))
    return a if a == b else f"{a}-{b}"


def find_times(text: str) -> list[tuple[float, tuple[int, int]]]:
    """Find the times written in ``text``.

    Understands clock times ("00:42", "0:42", "1:02:03") and numbers with a unit ("42s",
    "42 seconds", "2 min", "1.5 minutes").

    Returns:
        ``(seconds, (start, end))`` for each time, in order of appearance; ``start:end`` is the
        character range it was read from.
    """
    found: list[tuple[float, tuple[int, int]]] = []
    for m in _CLOCK.finditer(text):
        a, b, c = int(m.group(1)), int(m.group(2)), m.group(3)
        if b >= 60 or (c is not None and int(c) >= 60):
            continue
        seconds = a * 3600 + b * 60 + int(c) if c is not None else a * 60 + b
        if m.group(4):
            seconds += float("0." + m.group(4))
        found.append((float(seconds), m.span()))
    for m in _UNIT.finditer(text):
        if any(s <= m.start() < e for _, (s, e) in found):
            continue
        unit = m.group(2).lower()[0]
        found.append((float(m.group(1)) * _UNIT_SECONDS[unit], m.span()))
    found.sort(key=lambda item: item[1][0])
    return found
