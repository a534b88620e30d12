"""Text recall over the segment table: which segments' text or label names hold a query.

A scan, not an index. Up to schema version 1 the store also kept a SQLite FTS5 word index,
filled on every add; benchmarks/text_search.py measured it before it went. It made this search
about 1.5x faster, but the whole-query substring still needed a scan, and its words miss
on-screen text that OCR misread (the controller's fuzzy match finds it), so it could not serve
the controller's text recall either.
"""
from __future__ import annotations

import json
import re
import sqlite3

from memory import tables
from memory.records import Hit

_WORD = re.compile(r"\w+")


def query_words(query: str) -> tuple[str, list[str]]:
    """The case-folded query and its distinct words, sorted.

    Raises:
        ValueError: ``query`` holds no word.
    """
    needle = query.strip().casefold()
    words = sorted(set(_WORD.findall(needle)))
    if not needle or not words:
        raise ValueError(f"query must contain a word, got {query!r}")
    return needle, words


def score(needle: str, words: list[str], text: str, labels: list[str]) -> float:
    """1.0 when ``needle`` occurs in the text or a label name, else 0.9 x the fraction of ``words`` found.

    All arguments but ``text`` and ``labels`` come from :func:`query_words`; comparison ignores case.
    """
    hay = (text + "\n" + "\n".join(labels)).casefold()
    if needle in hay:
        return 1.0
    present = set(_WORD.findall(hay))
    return 0.9 * sum(w in present for w in words) / len(words)


def search(conn: sqlite3.Connection, query: str, k: int, where: str, args: list) -> list[Hit]:
    """The ``k`` best segments for ``query`` among those passing a :func:`tables.where_clause`.

    Returns:
        Hits, best first by :func:`score` (only scores above 0), ties in time order.
    """
    needle, words = query_words(query)
    ranked = []
    # Every segment that scores holds a query word as a substring of its text or labels JSON.
    for seg_id, t0, text, labels_json in tables.text_rows(conn, words, where, args):
        value = score(needle, words, text, list(json.loads(labels_json)))
        if value > 0:
            ranked.append((-value, t0, seg_id))
    best = sorted(ranked)[:k]
    found = tables.fetch(conn, [seg_id for _, _, seg_id in best])
    return [tables.hit(found[seg_id], -neg) for neg, _, seg_id in best]
