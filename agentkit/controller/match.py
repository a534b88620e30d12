"""Match one cue against memory: concept similarity, on-screen text, or a time window.

Each matcher returns a `CueResult`: merged spans, best first, and a confidence in [0, 1] that the
best span really is what the cue names. How each confidence is computed is written out in
docs/confidence.md; keep the two in step.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Callable

import numpy as np

from agentkit.controller.evidence import Hit, MemoryReader, Record, Span, merge_hits

__all__ = ["MatchConfig", "CueResult", "match_concept", "concept_result", "background", "chance_z", "match_text", "match_label", "records_near", "ocr_confidence",
           "normalise_text", "text_ratio", "concept_query", "concept_score", "label_key"]

EmbedText = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class MatchConfig:
    """Knobs of cue matching. Defaults were set on composed videos from the packaged clips."""

    space: str = "concept"
    """Vector space that text questions are matched in (frame encoder's `embed_text` space)."""
    min_spread: float = 0.02
    """Floor on the robust spread of similarities, so a near-uniform video gives no huge z."""
    z_offset: float = 1.0
    """How many spreads above the chance maximum a best match must stand to reach 0.5."""
    z_scale: float = 1.0
    """Spreads per logistic unit when turning the excess into a confidence."""
    keep_fraction: float = 0.75
    """A record joins the answer spans when it is this far from the median towards the best."""
    span_floor: float = 0.5
    """Spans scoring below this fraction of the best span's score are dropped."""
    text_hit: float = 0.75
    """Least fuzzy-match ratio for on-screen text to count as containing a text cue."""
    default_ocr_confidence: float = 0.9
    """OCR confidence assumed when the store kept none for a record."""
    merge_gap: float = 1.0
    """Hits at most this many seconds apart merge into one span."""
    max_spans: int = 5
    label_floor: float = 0.1
    """Least summed label score for a record to match a label cue (weaker labels are noise)."""
    timeline_z: float | None = None
    """When set, a record also joins the spans when its z stands this far above the chance maximum,
    however far below the best it is: operators that read the whole timeline (count, last, n-th)
    need every occurrence, not only the ones near the best."""


@dataclass
class CueResult:
    """What one cue found."""

    cue: str
    kind: str
    """"concept", "text", "label" or "term"."""
    spans: list[Span]
    confidence: float
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> Span | None:
        """The strongest span, or None when nothing matched."""
        return self.spans[0] if self.spans else None

    def first(self) -> Span | None:
        """The earliest span (for "what happens after X")."""
        return min(self.spans, key=lambda s: (s.source, s.t0)) if self.spans else None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def concept_query(embed_text: EmbedText, phrase: str, centroid: np.ndarray | None = None) -> np.ndarray:
    """``phrase`` as recall matches it in the concept space: minus the hub direction ``centroid``
    (when given), unit length."""
    vector = np.asarray(embed_text([phrase]), dtype=np.float32).reshape(-1)
    if centroid is not None:
        vector = vector - np.asarray(centroid, dtype=np.float32).reshape(-1)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def concept_score(z: float, chance: float, config: MatchConfig) -> float:
    """A concept match's score from how many spreads ``z`` it stands above the background median,
    against the chance maximum ``chance``: sigmoid((z - chance - z_offset) / z_scale)."""
    return _sigmoid((z - chance - config.z_offset) / config.z_scale)


def match_concept(
    reader: MemoryReader,
    embed_text: EmbedText,
    phrase: str,
    *,
    source: str | None = None,
    within: tuple[float, float] | None = None,
    centroid: np.ndarray | None = None,
    config: MatchConfig = MatchConfig(),
) -> CueResult:
    """Score every record against a text phrase in the concept space.

    With ``centroid`` (the mean embedding of a reference vocabulary, `Toolkit.concept_centroid`),
    the query becomes normalise(q - centroid): each record's score is then its similarity to the
    phrase minus its mean similarity to the vocabulary. This removes "hub" records (blurry or
    ambiguous frames whose concept vector is a mix of many labels and sits near everything) that
    otherwise top every query.

    With ``within`` = (t0, t1), only records overlapping that window can match, while the
    background statistics still come from every record.

    The confidence measures how far the best similarity stands above what the best of N
    background records would reach by chance: with median m and robust spread s (1.4826 x MAD,
    floored at ``min_spread``), z = (best - m) / s, and the chance maximum of N standard normal
    draws is about sqrt(2 ln N). confidence = sigmoid((z - sqrt(2 ln N) - z_offset) / z_scale).
    """
    vector = concept_query(embed_text, phrase, centroid)  # the store normalises queries anyway
    scores = reader.similarity(config.space, vector, source)
    if not scores:
        return CueResult(phrase, "concept", [], 0.0, {"n": 0})
    by_id = {r.id: r for r in reader.records(source)}
    ids = [i for i in scores if i in by_id]
    if not ids:
        return CueResult(phrase, "concept", [], 0.0, {"n": 0})
    values = np.array([scores[i] for i in ids], dtype=np.float64)
    median, spread = background(values, config)
    return concept_result(phrase, [by_id[i] for i in ids], values, median=median, spread=spread, n=len(values),
                          within=within, config=config)


def background(values: np.ndarray, config: MatchConfig = MatchConfig()) -> tuple[float, float]:
    """The background of a concept match: the median similarity and the robust spread
    (1.4826 x MAD, floored at ``min_spread``) of ``values`` (every record's, or a sample's)."""
    values = np.asarray(values, dtype=np.float64)
    median = float(np.median(values))
    return median, max(1.4826 * float(np.median(np.abs(values - median))), config.min_spread)


def chance_z(n: int) -> float:
    """The chance maximum of ``n`` standard normal draws, about sqrt(2 ln n)."""
    return math.sqrt(2.0 * math.log(max(int(n), 2)))


def concept_result(phrase: str, records: list[Record], values: np.ndarray, *, median: float, spread: float, n: int,
                   within: tuple[float, float] | None = None, config: MatchConfig = MatchConfig()) -> CueResult:
    """The concept cue over ``records`` with similarities ``values``, against a background (median,
    spread) of ``n`` records: `match_concept` after the similarities, shared by the full scan (the
    background is every record) and the gated reading (a sample's background, the records read)."""
    values = np.asarray(values, dtype=np.float64)
    chance = chance_z(n)
    if not len(records):
        return CueResult(phrase, "concept", [], 0.0, {"n": float(n)})
    z = (values - median) / spread
    inside = np.array([within is None or (r.t0 <= within[1] and r.t1 >= within[0]) for r in records])
    if not inside.any():
        return CueResult(phrase, "concept", [], 0.0, {"n": float(n)})
    best = float(values[inside].max())
    z_best = float(z[inside].max())
    confidence = concept_score(z_best, chance, config)
    keep = median + config.keep_fraction * (best - median)
    keep_z = float("inf") if config.timeline_z is None else chance + config.timeline_z
    hits = []
    for record, value, zi, ok in zip(records, values, z, inside):
        if ok and (value >= keep or zi >= keep_z) and value > median:
            score = concept_score(float(zi), chance, config)
            why = (f'looks like "{phrase}": similarity {value:.3f}, {zi:.1f} spreads above the '
                   f"median of {n} segments")
            hits.append(Hit(record, score, why, phrase))
    spans = merge_hits(hits, config.merge_gap)
    spans = [sp for sp in spans if sp.score >= config.span_floor * spans[0].score][: config.max_spans] if spans else []
    stats = {"n": float(n), "median": median, "spread": spread, "best": best, "z_best": z_best,
             "chance_z": chance}
    return CueResult(phrase, "concept", spans, confidence, stats)


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_text(text: str) -> str:
    """Lower case with everything but letters and digits removed: how on-screen text is compared."""
    return _NON_ALNUM.sub("", text.lower())


def text_ratio(cue: str, text: str) -> float:
    """How well ``cue`` occurs in ``text``: 1.0 for a substring, else the best fuzzy window ratio.

    Case, spaces and punctuation are ignored, so OCR's "ZX 41" matches the cue "ZX-41".
    """
    c, t = normalise_text(cue), normalise_text(text)
    if not c or not t:
        return 0.0
    if c in t:
        return 1.0
    if len(c) < 4:
        return 0.0
    best = 0.0
    for width in (len(c) - 1, len(c), len(c) + 1):
        if width <= 0:
            continue
        for start in range(0, max(1, len(t) - width + 1)):
            ratio = SequenceMatcher(None, c, t[start:start + width], autojunk=False).ratio()
            best = max(best, ratio)
    return best


def ocr_confidence(record: Record, default: float) -> float:
    """The OCR engine's own confidence for a record's text, when the store kept one."""
    meta = record.meta or {}
    for key in ("ocr_score", "ocr_confidence", "text_score"):
        if isinstance(meta.get(key), (int, float)):
            return float(min(1.0, max(0.0, meta[key])))
    lines = meta.get("ocr") or meta.get("ocr_lines")
    if isinstance(lines, list):
        scores = [float(x["score"]) for x in lines if isinstance(x, dict) and isinstance(x.get("score"), (int, float))]
        if scores:
            return float(min(1.0, max(0.0, sum(scores) / len(scores))))
    return default


def match_text(records: list[Record], cue: str, *, config: MatchConfig = MatchConfig()) -> CueResult:
    """Find records whose on-screen text contains ``cue`` (fuzzy, case-insensitive).

    A record's score is the match ratio times the OCR confidence; the cue's confidence is the
    best record's score.
    """
    hits = []
    for record in records:
        if not record.text:
            continue
        ratio = text_ratio(cue, record.text)
        if ratio >= config.text_hit:
            score = ratio * ocr_confidence(record, config.default_ocr_confidence)
            snippet = record.text if len(record.text) <= 80 else record.text[:77] + "..."
            hits.append(Hit(record, score, f'on-screen text matches "{cue}" (ratio {ratio:.2f}): "{snippet}"', cue))
    spans = merge_hits(hits, config.merge_gap)[: config.max_spans]
    confidence = spans[0].score if spans else 0.0
    return CueResult(cue, "text", spans, confidence, {"n": float(len(records))})


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@functools.lru_cache(maxsize=1 << 16)
def label_key(name: str) -> str:
    """A label name as label matching compares it: lower case, each word's plural "s" dropped
    (cached: a store repeats a small vocabulary of names over many segments)."""
    return " ".join(_singular(w) for w in name.lower().split())


def match_label(records: list[Record], phrase: str, *, names: tuple[str, ...] = (),
                config: MatchConfig = MatchConfig()) -> CueResult:
    """Find records carrying a label named ``phrase``, or any of ``names`` (case and plural "s" ignored).

    Labels from any perception (a custom node's "dark", an EEG "blink", an ImageNet class) are
    matched by name. ``names`` are the phrase's expansion into the encoder's vocabulary ("bus" ->
    school bus, trolleybus, minibus): a record's score is the summed score of the names it carries
    (the probability that the frame shows something the phrase covers), the cue's confidence the best.
    """
    wanted = {label_key(phrase), *(label_key(n) for n in names)}
    hits = []
    for record in records:
        found = {name: value for name, value in record.labels.items() if value > 0 and label_key(name) in wanted}
        if found and sum(found.values()) >= config.label_floor:
            which = ", ".join(f'"{n}" {v:.2f}' for n, v in sorted(found.items(), key=lambda kv: -kv[1]))
            hits.append(Hit(record, float(min(1.0, sum(found.values()))), f"labelled {which}", phrase))
    spans = merge_hits(hits, config.merge_gap)[: config.max_spans]
    return CueResult(phrase, "label", spans, spans[0].score if spans else 0.0, {"n": float(len(records))})


def records_near(records: list[Record], t: float, window: float = 2.0) -> list[Record]:
    """Records overlapping [t - window, t + window]; the nearest record if none overlaps."""
    near = [r for r in records if r.t0 <= t + window and r.t1 >= t - window]
    if near or not records:
        return near
    nearest = min(records, key=lambda r: min(abs(r.t0 - t), abs(r.t1 - t)))
    return [nearest]
