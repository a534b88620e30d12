"""Verify: look at the evidence again before answering, and keep, move or drop each claim.

Memory holds one frame per second, encoded once. Before an answer rests on a span, the verify
step re-decodes that span at a higher frame rate and full resolution and encodes those frames
again (`Look`), then asks of each claim:
- does any frame still match the subject (the same similarity scale recall used)?
- when the encoder can name the subject, does the best frame carry any of its label names? One
  that carries none shows something else: a near miss (a lion when a tiger was asked for) or an
  unrelated scene, and the claim is dropped.
- where do the matching frames start and end? A span whose matching frames lie elsewhere moves.
Claims resting on exact on-screen text are not re-read (OCR is exact enough and slow).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from agentkit.controller.draft import overlap
from agentkit.controller.findings import CueFinding, ExpansionFinding, Findings
from agentkit.controller.match import MatchConfig, concept_score
from agentkit.schemas import Check, Evidence

__all__ = ["LookedFrame", "Look", "VerifyConfig", "verify_claims", "verify_sightings", "near_miss"]


@dataclass(frozen=True)
class LookedFrame:
    """One frame looked at again: its time, its labels, and its concept-space vector (or None)."""

    t: float
    labels: dict[str, float]
    concept: np.ndarray | None = None


class Look(Protocol):
    """``look(source, t0, t1, n) -> frames``: up to ``n`` frames of ``source`` between ``t0`` and ``t1``
    (empty when the source cannot be read again, e.g. its file moved)."""

    def __call__(self, source: str, t0: float, t1: float, n: int) -> list[LookedFrame]: ...


@dataclass(frozen=True)
class VerifyConfig:
    """How hard the verify step looks."""

    frames_per_claim: int = 3
    max_claims: int = 6
    pad: float = 0.5
    """Seconds looked at on each side of a claimed span."""
    keep_fraction: float = 0.5
    """A claim survives when a frame scores at least this fraction of the claim's own score..."""
    keep_floor: float = 0.35
    """... or at least this much outright."""
    own_floor: float = 0.05
    """When the encoder can name the subject, a claim is dropped if its best frame gives the subject's
    own label names less than this (it shows something else: a near miss, or an unrelated scene)."""
    near_miss_margin: float = 0.1
    """Such a frame is called a near miss when its near misses' label mass exceeds the subject's by this."""


def near_miss(labels: dict[str, float], expansion: ExpansionFinding | None) -> float | None:
    """Label mass of the subject's near misses minus its own names' mass (None without an expansion)."""
    if expansion is None:
        return None
    own, beside = set(expansion.names), set(expansion.near_misses)
    return float(sum(v for k, v in labels.items() if k in beside) - sum(v for k, v in labels.items() if k in own))


def _frame_scores(frames: list[LookedFrame], query: np.ndarray | None, stats: dict[str, float],
                  match: MatchConfig) -> list[float]:
    """Each frame's match score on recall's scale: z against the source's similarity distribution."""
    if query is None or "median" not in stats:
        return [0.0] * len(frames)
    chance, out = stats.get("chance_z", 0.0), []
    for fr in frames:
        if fr.concept is None:
            out.append(0.0)
            continue
        v = fr.concept / max(float(np.linalg.norm(fr.concept)), 1e-12)
        z = (float(v @ query) - stats["median"]) / max(stats["spread"], match.min_spread)
        out.append(concept_score(z, chance, match))
    return out


def _label_mass(labels: dict[str, float], subject: str, expansion: ExpansionFinding | None) -> float:
    names = set(expansion.names) if expansion is not None else set()
    names.add(subject.lower())
    return float(sum(v for k, v in labels.items() if k in names or k.lower() in names))


def _top(labels: dict[str, float]) -> str:
    return max(labels, key=labels.get) if labels else "nothing recognised"


def check_span(span: Evidence, cue: CueFinding, frames: list[LookedFrame], query: np.ndarray | None,
               expansion: ExpansionFinding | None, config: VerifyConfig, match: MatchConfig) -> Check:
    """Keep, move or drop one claimed span from the frames looked at again."""
    if not frames:
        return Check(source=span.source, t0=span.t0, t1=span.t1, action="unchecked", before=span.score,
                     why="the source could not be read again")
    scores = _frame_scores(frames, query, cue.stats, match) if cue.kind == "concept" else \
        [_label_mass(fr.labels, cue.cue, expansion) for fr in frames]
    merged: dict[str, float] = {}
    for fr in frames:
        for k, v in fr.labels.items():
            merged[k] = max(v, merged.get(k, 0.0))
    top = [k for k, _ in sorted(merged.items(), key=lambda kv: -kv[1])[:3]]
    best = max(range(len(frames)), key=lambda i: scores[i])
    miss = near_miss(frames[best].labels, expansion)
    own = _label_mass(frames[best].labels, cue.cue, expansion)
    base = dict(source=span.source, before=span.score, after=round(scores[best], 4), frames=len(frames), labels=top,
                near_miss=None if miss is None else round(miss, 4))
    # The frame that matches best makes the claim: when it shows a near miss and none of the
    # subject's own names (a tabby cat for "tiger"), the claim is about something else.
    if miss is not None and own < config.own_floor:
        why = (f'the best frame shows {_top(frames[best].labels)}, beside "{cue.cue}" in the label hierarchy'
               if miss > config.near_miss_margin else
               f'the best frame shows {_top(frames[best].labels)}, none of the names "{cue.cue}" covers')
        return Check(t0=span.t0, t1=span.t1, action="dropped", **base, why=why)
    bar = min(config.keep_floor, config.keep_fraction * span.score) if cue.kind == "concept" else 0.5 * span.score
    good = [fr.t for fr, s in zip(frames, scores) if s >= bar]
    if not good:
        return Check(t0=span.t0, t1=span.t1, action="dropped", **base,
                     why=f"no frame looked at again matches (best {scores[best]:.2f}, needed {bar:.2f})")
    step = (frames[-1].t - frames[0].t) / max(1, len(frames) - 1) if len(frames) > 1 else 0.5
    t0, t1 = min(good), max(good) + step
    if t0 > span.t1 or t1 < span.t0 or abs(t0 - span.t0) > 1.5 or abs(t1 - span.t1) > 1.5:
        return Check(t0=round(t0, 2), t1=round(t1, 2), action="moved", **base,
                     why=f"the matching frames lie at {t0:.1f}-{t1:.1f} s")
    return Check(t0=span.t0, t1=span.t1, action="kept", **base, why=f"{len(good)} of {len(frames)} frames match")


def verify_claims(findings: Findings, cue: CueFinding, look: Callable[..., list[LookedFrame]],
                  query: np.ndarray | None, config: VerifyConfig = VerifyConfig(),
                  match: MatchConfig = MatchConfig()) -> list[Check]:
    """Look again at the claimed spans of ``cue`` (best first); update its spans in place.

    Dropped spans leave the cue; moved spans take their new times; the cue's confidence falls to
    its best surviving span's share when the best span was dropped.
    """
    checks: list[Check] = []
    claimed = cue.spans[: config.max_claims]
    survivors: list[Evidence] = []
    for span in claimed:
        frames = look(span.source, max(0.0, span.t0 - config.pad), span.t1 + config.pad, config.frames_per_claim)
        check = check_span(span, cue, frames, query, findings.expansion, config, match)
        checks.append(check)
        if check.action == "dropped":
            continue
        survivors.append(span.model_copy(update={"t0": check.t0, "t1": check.t1}) if check.action == "moved" else span)
    rest = cue.spans[config.max_claims:]
    if claimed and checks[0].action == "dropped":
        cue.confidence = round(cue.confidence * (survivors[0].score / claimed[0].score if survivors else 0.2), 4)
    cue.spans = survivors + rest
    return checks


def verify_sightings(findings: Findings, chosen: CueFinding, look: Callable[..., list[LookedFrame]],
                     query_for: Callable[[CueFinding], np.ndarray | None], config: VerifyConfig = VerifyConfig(),
                     match: MatchConfig = MatchConfig()) -> list[Check]:
    """For the operators that read the whole timeline: verify the chosen cue's spans, then the
    spans only the other cues found (a sighting the label names caught and the concept match
    missed), and gather every survivor into ``findings.occurrences`` in time order.

    A sighting only another cue found must pass the concept match too, at the full bar: two
    independent weak cues are not allowed to add up to a sighting neither would report.
    """
    checks = verify_claims(findings, chosen, look, query_for(chosen), config, match)
    found = list(chosen.spans)
    judge = next((c for c in findings.cues if c.kind == "concept" and c is not chosen and "median" in c.stats), None)
    for other in findings.cues:
        if other is chosen or other.kind not in ("concept", "label") or not other.spans:
            continue
        extra = [s for s in other.spans if not any(overlap(s, f) for f in found)][: config.max_claims]
        for span in extra:
            frames = look(span.source, max(0.0, span.t0 - config.pad), span.t1 + config.pad, config.frames_per_claim)
            by, strict = (judge, span.model_copy(update={"score": 1.0})) if judge is not None else (other, span)
            check = check_span(strict, by, frames, query_for(by), findings.expansion, config, match)
            checks.append(check.model_copy(update={"before": span.score}))
            if check.action in ("kept", "moved"):
                found.append(span.model_copy(update={"t0": check.t0, "t1": check.t1}))
    findings.occurrences = sorted(found, key=lambda e: (e.source, e.t0))
    return checks

