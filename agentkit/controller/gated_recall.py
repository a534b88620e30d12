"""Gated recall: on a long source, the concept operators read only the segments that can change the answer.

"Does X appear?", when, how many times, first, n-th, last and how long on a long store
(`RecallConfig.gated_min_segments` segments or more) read the source through its indexes, count
what they read, and never read the segments nothing can match:

1. **Background.** A strided sample of the source (`RecallConfig.gated_sample` segments, evenly
   over its segment ids, so each segment weighs as in the full scan) gives each concept query's
   median and robust spread; the chance maximum comes from the source's size. These are the full
   scan's statistics (`match_concept`, docs/confidence.md), estimated.
2. **Index lookups (the presence gate).** The store's label-name index returns the segments whose
   labels carry the subject's names (the vocabulary expansion) at ``label_floor`` or more, so the
   label cue is the full scan's. One pass over the vector index scores every segment against the
   subject and each of its words at once (nothing is read); the few best of each
   (`RecallConfig.gated_nearest`) are read, so each concept cue's best is the full scan's. On
   them the full scan's presence decision (`combine_cues`) is taken; "exists" is settled here.
3. **Everything the full scan would keep.** For the operators that need the subject's spans, the
   same scores give every segment whose similarity reaches the full scan's keep floor
   (``keep_fraction`` of the way from the median to the best, or the timeline z): the segments
   `concept_result` turns into spans, so the spans are the full scan's.

Each lookup reads at most `RecallConfig.gated_max_hits` segments, the strongest; only a subject
matched by more segments than that gets a different answer, without its weakest sightings (the
full scan reports at most the `RecallConfig.timeline_spans` best spans of a timeline anyway).

The same matchers then run over every record read, against the sample's background, so the
findings are the full scan's kind (`CueFinding` spans, stats) and verify, compose and calibration
are unchanged. The cost is index work (label names, one pass over the vectors) plus the segments
read, which the bound caps: it grows with what the answer holds, not with the hours stored. Short stores, the
other operators, questions with text cues or a time window, and readers without these indexes
take the full scan. The recurrent `memory.gated.GatedReader` serves the live stream instead
(`LiveStream.watch`), where there is no index to ask, only the next frame.
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
from agentkit.controller.match import background, chance_z, concept_query, concept_result, label_key, match_label
from agentkit.controller.plan import Plan, QuestionKind

if TYPE_CHECKING:
    from agentkit.controller.recall import Recaller

__all__ = ["GATED_GOALS", "GatedScan", "gated_scan", "gated_cues"]

logger = logging.getLogger(__name__)

GATED_GOALS = {QuestionKind.WHETHER: "exists", QuestionKind.WHEN: "when", QuestionKind.COUNT: "count",
               QuestionKind.FIRST: "first", QuestionKind.NTH: "nth", QuestionKind.LAST: "last",
               QuestionKind.DURATION: "duration"}
"""The operators read through the indexes on a long source, and their name in the step line."""


@dataclass
class GatedScan:
    """One source to read in parts, and what the reading did (for the recall step's line)."""

    source: str
    n: int
    """Segments the source holds."""
    extent: tuple[float, float]
    goal: str
    ranged: int = 0
    """Segments the range queries returned (0: settled by the lookups)."""
    sample: int = 0
    estimated: bool = False
    """True when ``n`` was estimated from the sample (a store of several sources)."""
    settled: str = ""
    """"present" or "absent": the presence decision over what was read."""

    def describe(self, read: int) -> str:
        if self.ranged == 0:
            where = f"{self.settled or 'settled'} from the index lookups"
        else:
            where = f"{self.settled}; {self.ranged} above the keep floor"
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


def _best(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``values`` (all of them when there are fewer)."""
    if len(values) <= k:
        return np.arange(len(values))
    return np.argpartition(-values, k - 1)[:k]


def _estimate_size(sample: list[tuple[Record, np.ndarray | None]], extent: tuple[float, float], k: int) -> int:
    """Segments in the source from a sample by time (probes ``spacing`` seconds apart): a segment
    shorter than the spacing is hit with probability length / spacing, so it stands for
    spacing / length segments; a longer one is always hit, and stands for itself."""
    spacing = (extent[1] - extent[0]) / max(k, 1)
    return max(len(sample), int(round(sum(max(1.0, spacing / max(r.t1 - r.t0, 1e-2)) for r, _ in sample))))


def gated_cues(recaller: "Recaller", plan: Plan, expansion: ExpansionFinding | None,
               scan: GatedScan) -> list[CueFinding] | None:
    """Read what of ``scan.source`` can change the answer (module docstring); the cue findings over it.

    Returns None when the source cannot be read this way (no vectors in the concept space, or
    shorter than the threshold after all): the caller takes the full scan.
    """
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
    wanted = frozenset({label_key(phrase), *(label_key(x) for x in names)})

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

    # Index lookups (only what they return is read): the segments whose labels carry the names (the
    # label cue), and the few best concept matches of the subject and of each of its words (each
    # concept cue's best). With them the presence decision is the full scan's own: "exists" ends here.
    keep(reader.labelled(scan.source, sorted(wanted), space, cfg.label_floor - 1e-9, int(config.gated_max_hits)))
    ids, sims = reader.similar(scan.source, space, np.stack(queries))  # one pass over the index, all cues
    if config.gated_nearest > 0 and len(ids):  # the few best matches of the subject and of each word
        nearest = np.unique(np.concatenate([_best(sims[:, j], config.gated_nearest) for j in range(len(queries))]))
        keep(reader.read(ids[nearest].tolist(), space))
    known = findings()
    chosen, confidence, _ = combine_cues(known)
    if scan.goal == "exists" or chosen is None:
        scan.settled = "present" if chosen is not None and confidence >= 0.5 else "absent"
        return known

    # The spans of a present (or possibly present) subject: every segment the full scan keeps.
    # `concept_result` keeps a segment above the median whose similarity reaches keep_fraction of
    # the way to the best, or whose z reaches the timeline floor; the best is known from the lookups.
    timeline_z = float("inf") if cfg.timeline_z is None else chance + cfg.timeline_z
    for j, (median, spread) in enumerate(backgrounds):
        column = sims[:, j]
        best = float(column.max()) if len(column) else median
        floor = max(median, min(median + cfg.keep_fraction * (best - median), median + spread * timeline_z))
        above = np.flatnonzero(column > floor - 1e-6)
        if len(above) > config.gated_max_hits:  # the strongest only
            above = above[_best(column[above], int(config.gated_max_hits))]
        scan.ranged += len(above)
        keep(reader.read(ids[np.sort(above)].tolist(), space))
    scan.settled = "present" if confidence >= 0.5 else "weak"
    return findings()
