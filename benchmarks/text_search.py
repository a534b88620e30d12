"""Text recall: the store's full-text search against the controller's fuzzy on-screen text match.

Usage:
    python benchmarks/text_search.py                       # 3,600 and 36,000 segments
    python benchmarks/text_search.py --sizes 3600 --queries 10 --out results.json

A store is generated (seeded) with one segment per second of video. A third of the segments
carry OCR-like text: a few words drawn from a made-up vocabulary. Each cue (code words such as
"KX-42", single words, two-word phrases) is planted in eight segments, written as OCR
returns it:

* ``exact``: the cue as written, inside other words;
* ``case``: other case and punctuation ("kx 42" for "KX-42");
* ``ocr``: one character misread ("KX-4Z");
* ``dropped``: one character missing ("KX42" -> "KX2").

Three recalls are measured for each cue:

* ``match_text``: ``agentkit.controller.match.match_text`` over every record of the source, as
  the controller calls it (the records read once per question, that read timed apart);
* ``text_search``: ``EpisodicStore.text_search``, a scan of the segment table (schema 2);
* ``fts5``: what ``text_search`` did up to schema version 1: candidates from a SQLite FTS5 word
  index (any query word) plus a whole-query substring scan, scored by the same rule. The index
  is built here over the generated store, and the time to fill it is reported per segment next
  to the store's own add time per segment (the cost every add paid).

Reported per size: mean and median milliseconds per cue, and for each planted variant the
fraction of planted segments found. A planted segment is found by ``match_text`` when the record
scores at least ``MatchConfig.text_hit``; by ``text_search`` and ``fts5`` when they return it at
all (any score) and, as ``*_whole``, when they return it with score 1.0 (the whole cue found).
Background hits (segments returned that were not planted) are counted too. ``fts5_index_only``
times the FTS5 ``MATCH`` alone, without the substring scan that code words need.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentkit.controller.match import MatchConfig, match_text, text_ratio  # noqa: E402
from agentkit.memory_view import StoreReader  # noqa: E402
from memory import EpisodicStore  # noqa: E402
from memory.text_recall import query_words, score  # noqa: E402

VARIANTS = ("exact", "case", "ocr", "dropped")
_CONFUSED = {"0": "O", "O": "0", "1": "l", "l": "1", "2": "Z", "Z": "2", "5": "S", "S": "5", "8": "B",
             "B": "8", "Q": "O", "q": "o", "e": "c", "c": "e", "m": "rn", "a": "o", "o": "a"}


@dataclass
class Obs:
    """An observation-like record for the store."""

    source: str
    t0: float
    t1: float
    modality: str = "video"
    kind: str = "segment"
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, float] = field(default_factory=dict)
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _word(rng: random.Random) -> str:
    syllables = [rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(1, 3))]
    return "".join(syllables)


def make_cues(rng: random.Random, n: int) -> list[str]:
    """A mix of code words, single words and two-word phrases."""
    cues = []
    for i in range(n):
        if i % 3 == 0:
            cues.append("".join(rng.choice(string.ascii_uppercase) for _ in range(2)) + f"-{rng.randint(10, 99)}")
        elif i % 3 == 1:
            cues.append(_word(rng) + _word(rng) + "t")
        else:
            cues.append(f"{_word(rng)}t {_word(rng)}t")
    return cues


def variant(cue: str, how: str, rng: random.Random) -> str:
    """``cue`` as OCR might return it."""
    if how == "exact":
        return cue
    if how == "case":
        flipped = cue.lower() if cue != cue.lower() else cue.upper()
        return flipped.replace("-", " ").replace(" ", rng.choice([" ", "-", ". "]), 1)
    positions = [i for i, ch in enumerate(cue) if ch.isalnum()][1:]
    i = rng.choice(positions)
    if how == "ocr":
        return cue[:i] + _CONFUSED.get(cue[i], "x" if cue[i] != "x" else "y") + cue[i + 1:]
    return cue[:i] + cue[i + 1:]


def make_store(folder: Path, n: int, cues: list[str], seed: int) -> dict[str, dict[int, str]]:
    """Write ``n`` segments; return cue -> {planted segment t0 (int): variant}."""
    rng = random.Random(seed)
    vocab = [_word(rng) for _ in range(3000)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 6))) if rng.random() < 1 / 3 else ""
             for _ in range(n)]
    planted: dict[str, dict[int, str]] = {}
    slots = rng.sample(range(n), len(cues) * 2 * len(VARIANTS))
    for c, cue in enumerate(cues):
        planted[cue] = {}
        for v, how in enumerate(VARIANTS * 2):
            t = slots[c * 2 * len(VARIANTS) + v]
            before, after = rng.choice(vocab).upper(), rng.choice(vocab)
            texts[t] = f"{before} {variant(cue, how, rng)} {after}"
            planted[cue][t] = how
    obs = [Obs(source="video", t0=float(i), t1=float(i + 1), text=text, labels={rng.choice(vocab): 0.5})
           for i, text in enumerate(texts)]
    with EpisodicStore.open(folder) as store:
        for start in range(0, n, 2000):
            store.add(obs[start:start + 2000])
    return planted


def _found(ids: set[int], planted: dict[int, str]) -> dict[str, int]:
    return {how: sum(1 for t, v in planted.items() if v == how and t in ids) for how in VARIANTS}


def fill_fts5(db: Path) -> float:
    """Add the schema-1 full-text table to ``db`` and fill it from the segments; return seconds."""
    con = sqlite3.connect(db, isolation_level=None)
    start = time.perf_counter()
    con.execute("BEGIN")
    con.execute("CREATE VIRTUAL TABLE segments_fts USING fts5"
                " (text, labels, tokenize = 'unicode61 remove_diacritics 2')")
    rows = con.execute("SELECT id, text, labels FROM segments").fetchall()
    con.executemany("INSERT INTO segments_fts (rowid, text, labels) VALUES (?, ?, ?)",
                    [(i, text, " ".join(json.loads(labels))) for i, text, labels in rows])
    con.execute("COMMIT")
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def fts5_search(con: sqlite3.Connection, query: str) -> tuple[dict[int, float], float]:
    """Schema 1's text search: FTS5 word candidates plus a substring scan, scored as the store scores.

    Returns the scores by segment id, and the seconds the FTS5 ``MATCH`` alone took.
    """
    needle, words = query_words(query)
    match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    start = time.perf_counter()
    ids = {r[0] for r in con.execute("SELECT rowid FROM segments_fts WHERE segments_fts MATCH ?", [match])}
    index_only = time.perf_counter() - start
    ids |= {r[0] for r in con.execute("SELECT id FROM segments WHERE instr(casefold(text), ?) > 0"
                                      " OR instr(casefold(labels), ?) > 0", [needle, needle])}
    marks = ",".join("?" * len(ids))
    scores = {}
    rows = con.execute(f"SELECT id, text, labels FROM segments WHERE id IN ({marks})", sorted(ids))
    for seg_id, text, labels in rows:
        value = score(needle, words, text, list(json.loads(labels)))
        if value > 0:
            scores[seg_id] = value
    return scores, index_only


def _ms(seconds: list[float]) -> dict[str, float]:
    return {"mean": round(1000 * statistics.fmean(seconds), 2), "median": round(1000 * statistics.median(seconds), 2)}


def run_size(n: int, n_cues: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    cues = make_cues(rng, n_cues)
    out: dict[str, Any] = {"segments": n, "cues": n_cues, "planted_per_variant": 2 * n_cues}
    names = ("match_text", "text_search", "text_search_whole", "fts5", "fts5_whole")
    found = {name: dict.fromkeys(VARIANTS, 0) for name in names}
    background = dict.fromkeys(names, 0)
    times: dict[str, list[float]] = {"match_text": [], "text_search": [], "fts5": [], "fts5_index_only": []}
    config = MatchConfig()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        start = time.perf_counter()
        planted = make_store(folder, n, cues, seed)
        out["add_us_per_segment"] = round(1e6 * (time.perf_counter() - start) / n, 1)
        out["fts5_fill_us_per_segment"] = round(1e6 * fill_fts5(folder / "segments.sqlite") / n, 1)
        fts = sqlite3.connect(folder / "segments.sqlite")
        fts.create_function("casefold", 1, lambda s: s.casefold() if isinstance(s, str) else s, deterministic=True)
        with EpisodicStore.open(folder, read_only=True) as store:
            start = time.perf_counter()
            records = StoreReader(store).records("video")
            out["read_records_ms"] = round(1000 * (time.perf_counter() - start), 1)
            by_id = {r.id: int(r.t0) for r in records}
            for cue in cues:
                start = time.perf_counter()
                match_text(records, cue, config=config)
                times["match_text"].append(time.perf_counter() - start)
                start = time.perf_counter()
                hits = store.text_search(cue, k=n, source="video")
                times["text_search"].append(time.perf_counter() - start)
                start = time.perf_counter()
                fts_scores, index_only = fts5_search(fts, cue)
                times["fts5"].append(time.perf_counter() - start)
                times["fts5_index_only"].append(index_only)
                sets = {
                    # the records match_text scores as hits (it keeps only the best spans; same bar)
                    "match_text": {int(r.t0) for r in records if r.text and text_ratio(cue, r.text) >= config.text_hit},
                    "text_search": {by_id[h.id] for h in hits},
                    "text_search_whole": {by_id[h.id] for h in hits if h.score == 1.0},
                    "fts5": {by_id[i] for i in fts_scores},
                    "fts5_whole": {by_id[i] for i, value in fts_scores.items() if value == 1.0},
                }
                for name, ids in sets.items():
                    for how, k in _found(ids, planted[cue]).items():
                        found[name][how] += k
                    background[name] += len(ids - set(planted[cue]))
        fts.close()
    out["ms_per_cue"] = {name: _ms(seconds) for name, seconds in times.items()}
    out["recall"] = {name: {how: round(k / (2 * n_cues), 3) for how, k in per.items()} for name, per in found.items()}
    out["background_hits_per_cue"] = {name: round(k / n_cues, 2) for name, k in background.items()}
    return out


def _machine() -> str:
    """CPU model and core count, SQLite and Python versions."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, SQLite {sqlite3.sqlite_version}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3600,36000", help="store sizes in segments, comma-separated")
    parser.add_argument("--queries", type=int, default=30, help="cues per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": _machine(),
               "runs": [run_size(int(n), args.queries, args.seed) for n in args.sizes.split(",")]}
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
