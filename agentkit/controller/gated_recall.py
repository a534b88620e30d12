"""Gated recall: the operators that can stop early read a long source only as far as they must.

"Does X appear?", "when does X appear for the first time?", "the n-th time?" and (reading
backwards) "the last time?" do not need every segment. On a long store
(`RecallConfig.gated_min_segments` segments or more) recall reads the source in parts, counts what
it reads, and stops as soon as nothing unread can change the answer:

1. **Background.** A strided sample of the source (`RecallConfig.gated_sample` segments, evenly
   over its segment ids, so each segment weighs as in the full scan) gives each concept query's
   median and robust spread; the chance maximum comes from the source's size. These are the full
   scan's statistics (`match_concept`, docs/confidence.md), estimated.
2. **Index lookups.** The store's label query returns every segment whose labels carry one of the
   subject's names (the vocabulary expansion), so the label cue is complete; the vector index
   returns the subject's (and each of its words') few best concept matches
   (`RecallConfig.gated_nearest`), so each concept cue's best span is the full scan's. Only the
   segments returned are read. On them the full scan's presence decision (`combine_cues`) is
   taken; "exists", and any operator whose subject is absent, is settled here.
3. **Time-ordered reading.** For first / n-th / last of a present subject, the source is read in
   chunks of `RecallConfig.gated_chunk_s` seconds (backwards for "last") through a
   `memory.gated.GatedReader` whose cues carry the controller's thresholds: the label cue joins a
   span at ``label_floor`` and confirms at 0.5; the concept cue joins where z reaches the chance
   maximum and confirms where its score reaches 0.5. Its exit gate opens at the first confirmed
   occurrence (the n-th, for "nth"); the reading also stops once it passes the earliest (latest)
   sighting the lookups found, since nothing after it can be the first (last).

The same matchers then run over every record read, against the sample's background, so the
findings are the full scan's kind (`CueFinding` spans, stats) and verify, compose and calibration
are unchanged. Short stores, the other operators, questions with text cues or a time window, and
readers that cannot read in parts take the full scan.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agentkit.controller.draft import combine_cues
from agentkit.controller.evidence import Record, TimelineReader
from agentkit.controller.findings import CueFinding, ExpansionFinding, cue_finding
from agentkit.controller.match import background, chance_z, concept_query, concept_result, match_label
from agentkit.controller.plan import Plan, QuestionKind
from agentkit.timefmt import format_time

if TYPE_CHECKING:
    from agentkit.controller.recall import Recaller

__all__ = ["GATED_GOALS", "GatedScan", "gated_scan", "gated_cues"]

logger = logging.getLogger(__name__)

GATED_GOALS = {QuestionKind.WHETHER: "exists", QuestionKind.FIRST: "first", QuestionKind.NTH: "nth",
               QuestionKind.LAST: "last"}
"""The operators whose answer can be settled before the end of the timeline, and their reader goal."""


@dataclass
class GatedScan:
    """One source to read in parts, and what the reading did (for the recall step's line)."""

    source: str
    n: int
    """Segments the source holds."""
    extent: tuple[float, float]
    goal: str
    stepped: int = 0
    """Segments the gated reader stepped over before its exit gate opened (or the end)."""
    exited_at: float | None = None
    """Stream time where the exit gate opened; None when the reader went to the end."""
    sample: int = 0
    estimated: bool = False
    """True when ``n`` was estimated from the sample (a store of several sources)."""
    settled: str = ""
    """"present" or "absent": the presence decision over what was read."""

    def describe(self, read: int) -> str:
        if self.stepped == 0:
            where = f"{self.settled or 'settled'} from the index lookups, no chunk read"
        elif self.exited_at is not None:
            where = f"exit gate at {format_time(self.exited_at)} after {self.stepped} in time order"
        else:
            where = "read to the end in time order"
        of = f"about {self.n}" if self.estimated else str(self.n)
        return f"gated {self.goal}: read {read} of {of} segments ({where}; background from {self.sample})"


def _sources(reader) -> list[str]:
    try:
        return list(reader.sources())
    except Exception:  # noqa: BLE001 - a reader without a cheap source list takes the full scan
        return []


def gated_scan(plan: Plan, reader, embed_text, source: str | None, config) -> GatedScan | None:
    """The gated reading this plan gets, or None for the full scan.

    Only the early-stopping operators, on one source of at least ``config.gated_min_segments``
    segments, with a text embedder, no text cue and no time window, over a reader that can read in
    parts; and only when ``config.gated`` is on.
    """
    goal = GATED_GOALS.get(plan.kind)
    if not getattr(config, "gated", False) or goal is None or embed_text is None:
        return None
    if not plan.subject or plan.text_cues or plan.window is not None or not isinstance(reader, TimelineReader):
        return None
    if source is None:
        sources = _sources(reader)
        if len(sources) != 1:
            return None
        source = sources[0]
    extent = reader.extent(source)
    if extent is None or not extent[1] > extent[0]:
        return None
    n = reader.size(source)
    if n is not None and n < config.gated_min_segments:
        return None
    return GatedScan(source=source, n=-1 if n is None else n, extent=extent, goal=goal)


def _unit(v: np.ndarray | None) -> np.ndarray | None:
    if v is None:
        return None
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 and math.isfinite(norm) else None


def _norm(name: str) -> str:
    return " ".join((w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
                    for w in name.lower().split())


@dataclass
class _Step:
    """A record as the gated reader sees it: its span, its labels by normalised name, its vector."""

    t0: float
    t1: float
    labels: dict[str, float]
    vector: np.ndarray | None


def _step_of(record: Record, vec: np.ndarray | None) -> _Step:
    labels: dict[str, float] = {}
    for name, value in record.labels.items():
        if value > 0:
            key = _norm(name)
            labels[key] = labels.get(key, 0.0) + float(value)
    return _Step(record.t0, record.t1, labels, vec)


def _estimate_size(sample: list[tuple[Record, np.ndarray | None]], extent: tuple[float, float], k: int) -> int:
    """Segments in the source from a sample by time (probes ``spacing`` seconds apart): a segment
    shorter than the spacing is hit with probability length / spacing, so it stands for
    spacing / length segments; a longer one is always hit, and stands for itself."""
    spacing = (extent[1] - extent[0]) / max(k, 1)
    return max(len(sample), int(round(sum(max(1.0, spacing / max(r.t1 - r.t0, 1e-2)) for r, _ in sample))))


def gated_cues(recaller: "Recaller", plan: Plan, expansion: ExpansionFinding | None,
               scan: GatedScan) -> list[CueFinding] | None:
    """Read ``scan.source`` until the exit gate opens; the cue findings over what was read.

    Returns None when the source cannot be read this way (no vectors in the concept space, or
    shorter than the threshold after all): the caller takes the full scan.
    """
    from memory.gated import Cue, GateConfig, GatedReader

    reader, config = recaller.reader, recaller.config
    cfg = config.match
    space = cfg.space
    start, end = scan.extent
    k = max(8, int(config.gated_sample))
    if scan.n > 0:
        k = min(k, scan.n)
    strided = reader.stride(scan.source, k, space)
    if strided is not None:  # evenly over the segments: the full scan's own weighting
        sample, size = strided
        scan.n = size if scan.n < 0 else scan.n
    else:  # evenly over time (long segments are sampled more often than the full scan weighs them)
        times = [start + (i + 0.5) * (end - start) / k for i in range(k)]
        sample = reader.probe(scan.source, times, space)
        if scan.n < 0:
            scan.n, scan.estimated = _estimate_size(sample, scan.extent, k), True
    if scan.n < config.gated_min_segments:
        return None
    vectors: dict[int, np.ndarray | None] = {r.id: _unit(v) for r, v in sample}
    sample_vecs = [v for v in vectors.values() if v is not None]
    if not sample_vecs:
        return None
    scan.sample = len(sample)
    n, chance = scan.n, chance_z(scan.n)
    matrix = np.stack(sample_vecs)

    phrase = plan.subject
    phrases = [phrase, *plan.terms]
    queries = [concept_query(recaller.embed_text, p, recaller.centroid) for p in phrases]
    if any(q.shape[0] != matrix.shape[1] for q in queries):
        return None
    backgrounds = [background(matrix @ q, cfg) for q in queries]
    names = tuple(expansion.names) if expansion is not None else ()
    wanted = frozenset({_norm(phrase), *(_norm(x) for x in names)})

    def keep(pairs) -> None:
        for record, vec in pairs:
            vectors.setdefault(record.id, _unit(vec))

    def findings() -> list[CueFinding]:
        """The full scan's cues (`Recaller.cues`) over every record read, against the sample's background."""
        records = [r for r in reader.seen(scan.source) if r.id in vectors]
        found: list[CueFinding] = []
        by_label = match_label(records, phrase, names=names, config=cfg)
        if by_label.spans:
            found.append(cue_finding(by_label))
        with_vec = [r for r in records if vectors[r.id] is not None]
        stack = np.stack([vectors[r.id] for r in with_vec]) if with_vec else np.zeros((0, matrix.shape[1]), np.float32)
        for i, (p, q, (m, s)) in enumerate(zip(phrases, queries, backgrounds)):
            finding = cue_finding(concept_result(p, with_vec, stack @ q if len(with_vec) else np.zeros(0),
                                                 median=m, spread=s, n=n, config=cfg))
            if i > 0:
                finding.kind = "term"
            found.append(finding)
        return found

    # Index lookups first (only what they return is read): every segment whose labels carry one of
    # the names (so the label cue is complete) and the few best concept matches of the subject and
    # of each of its words (so each concept cue's best span is the full scan's). With them the
    # presence decision is the full scan's own, and "exists" is settled before any chunk is read.
    keep(reader.labelled(scan.source, sorted(wanted), space))
    if config.gated_nearest > 0:
        for q in queries:
            keep(reader.nearest(scan.source, space, q, config.gated_nearest))
    known = findings()
    chosen, confidence, _ = combine_cues(known)
    if scan.goal == "exists" or chosen is None or confidence < 0.5:
        scan.settled = "present" if chosen is not None and confidence >= 0.5 else "absent"
        return known

    # first / n-th / last of a present subject: read in time order (backwards for "last") through
    # the gated reader until its exit gate opens, or until the reading reaches the earliest (latest)
    # sighting the lookups already found: nothing read after that can change the answer.
    median, spread = backgrounds[0]
    keep_z = cfg.timeline_z if cfg.timeline_z is not None else cfg.z_offset
    cues = [
        Cue("label", labels=wanted, threshold=cfg.label_floor, confirm=0.5),
        Cue("concept", vector=queries[0], space=space, threshold=median + spread * (chance + keep_z),
            confirm=median + spread * (chance + cfg.z_offset)),
    ]
    gate = GatedReader(scan.goal, cues, GateConfig(join_gap=cfg.merge_gap, temperature=1e-3), n=plan.n or 1)
    backward = scan.goal == "last"
    known_spans = [e for e in chosen.spans]
    bound = None
    if scan.goal == "first" and known_spans:
        bound = min(e.t1 for e in known_spans) + cfg.merge_gap
    elif backward and known_spans:
        bound = max(e.t0 for e in known_spans) - cfg.merge_gap
    chunk = max(1.0, float(config.gated_chunk_s))
    stepped: set[int] = set()
    lo, hi = (end - chunk, end) if backward else (start, start + chunk)
    going = True
    while going and (hi > start if backward else lo < end):
        part = reader.between(scan.source, lo, hi, space)
        keep(part)
        fresh = sorted((r for r, _ in part if r.id not in stepped),
                       key=(lambda r: (-r.t1, -r.t0)) if backward else (lambda r: (r.t0, r.t1)))
        for record in fresh:
            stepped.add(record.id)
            if not going:
                continue
            if bound is not None and (record.t1 < bound if backward else record.t0 > bound):
                going = False  # past the sighting already known: the answer is settled
                scan.exited_at = record.t1 if backward else record.t0
                continue
            if not gate.step(_step_of(record, vectors[record.id])):
                going = False
                scan.exited_at = record.t0 if backward else record.t1
        lo, hi = (lo - chunk, lo) if backward else (hi, hi + chunk)
    scan.stepped = gate.result().read
    scan.settled = "present"
    return findings()
