"""Composers of the operators that read the subject's whole timeline: how many times, first, last,
n-th, how long on screen, and the order of several things' first appearances.

All but order answer only when the subject is `present`; otherwise they give its "no" (`absent`).
"""
from __future__ import annotations

from agentkit.controller.draft import AnswerConfig, Draft, absent, combine_cues, cue_features, draft_answer, present, spans_text
from agentkit.controller.findings import CueFinding, Findings
from agentkit.schemas import AnswerValue, Evidence
from agentkit.timefmt import format_span

__all__ = ["count", "duration", "first_last", "order"]


def _occurrences(f: Findings, config: AnswerConfig) -> tuple[CueFinding | None, float, list[Evidence], dict[str, float]]:
    """The chosen cue, its confidence, its spans in time order (the verified sightings of every cue
    when the verify step gathered them), and the features of a span list."""
    chosen, conf, _ = combine_cues(f.cues, config)
    spans = f.occurrences or (chosen.spans if chosen is not None else [])
    spans = sorted(spans, key=lambda e: (e.source, e.t0)) if chosen is not None else []
    features = cue_features(f.cues, chosen)
    features["from_other_cues"] = float(max(0, len(spans) - len(chosen.spans))) if chosen is not None else 0.0
    if spans:
        scores = [e.score for e in spans]
        features["weakest"] = min(scores) / max(max(scores), 1e-9)
    return chosen, conf, spans, features


def count(f: Findings, config: AnswerConfig) -> Draft:
    chosen, conf, spans, features = _occurrences(f, config)
    if not present(chosen, conf, config.presupposed_below):
        return absent(f, chosen, conf, config, AnswerValue(count=0))
    n = len(spans)
    text = f'"{chosen.cue}" appears {n} time{"s" if n != 1 else ""}: at {spans_text(spans)}.'
    ranked = sorted(spans, key=lambda e: -e.score)
    return draft_answer(f, text, conf, ranked, config, f'Not sure; perhaps {n} time{"s" if n != 1 else ""} ({spans_text(spans)}).',
                   value=AnswerValue(count=n), features=features)


def first_last(f: Findings, config: AnswerConfig) -> Draft:
    """first, last and n-th: one span picked from the subject's spans in time order."""
    chosen, conf, spans, features = _occurrences(f, config)
    if not present(chosen, conf, config.presupposed_below):
        return absent(f, chosen, conf, config)
    if f.kind == "nth":
        n = f.n or 1
        if n > len(spans):
            text = (f'"{chosen.cue}" appears only {len(spans)} time{"s" if len(spans) != 1 else ""} '
                    f"({spans_text(spans)}), so there is no occurrence number {n}.")
            return draft_answer(f, text, conf, spans, config, f"Not sure; I found {len(spans)} appearances.",
                           value=AnswerValue(count=len(spans)), features={**features, "short_by": float(n - len(spans))})
        target, which = spans[n - 1], _ordinal(n)
    else:
        target, which = (spans[0], "first") if f.kind == "first" else (spans[-1], "last")
    text = f'"{chosen.cue}" appears for the {which} time at {format_span(target.t0, target.t1)}.'
    if len(spans) > 1:
        text += f" (all appearances: {spans_text(spans)})"
    return draft_answer(f, text, conf, [target, *[s for s in spans if s is not target]], config,
                   f"Not sure; best guess {format_span(target.t0, target.t1)}.", features=features)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def duration(f: Findings, config: AnswerConfig) -> Draft:
    """How long the subject is on screen: the summed length of its spans."""
    chosen, conf, spans, features = _occurrences(f, config)
    if not present(chosen, conf, config.presupposed_below):
        return absent(f, chosen, conf, config, AnswerValue(seconds=0.0, count=0))
    total = sum(e.t1 - e.t0 for e in spans)
    text = (f'"{chosen.cue}" is on screen for about {total:.0f} s in total, in {len(spans)} '
            f'span{"s" if len(spans) != 1 else ""}: {spans_text(spans)}.')
    return draft_answer(f, text, conf, spans, config, f"Not sure; perhaps about {total:.0f} s ({spans_text(spans)}).",
                   value=AnswerValue(seconds=round(total, 2), count=len(spans)), features=features)


def order(f: Findings, config: AnswerConfig) -> Draft:
    firsts = [(item, min(of.spans, key=lambda e: (e.source, e.t0)) if of.spans else None, of.confidence)
              for item, of in zip(f.items, f.option_findings)]
    missing = [item for item, first, _ in firsts if first is None]
    if not firsts or missing:
        what = ", ".join(f'"{m}"' for m in missing) or "the items"
        return draft_answer(f, f"I found nothing in memory for {what}, so I cannot order them.", 0.0, [], config,
                       features={"min_conf": 0.0, "mean_conf": 0.0, "min_gap": 0.0})
    ordered = sorted(firsts, key=lambda x: (x[1].source, x[1].t0))
    confs = [c for _, _, c in firsts]
    gaps = [b[1].t0 - a[1].t0 for a, b in zip(ordered, ordered[1:])]
    text = "First appearances in order: " + ", ".join(f'"{item}" ({format_span(e.t0, e.t1)})' for item, e, _ in ordered) + "."
    return draft_answer(f, text, min(confs), [e for _, e, _ in ordered], config, "Not sure of the order; best guess: "
                   + ", ".join(item for item, _, _ in ordered) + ".", value=AnswerValue(order=[i for i, _, _ in ordered]),
                   features={"min_conf": min(confs), "mean_conf": sum(confs) / len(confs), "min_gap": min(gaps, default=0.0)})
