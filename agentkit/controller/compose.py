"""Answer: turn findings into an `Answer` with spans, a confidence and, when weak, an abstention.

One composer per operator: the concept, text and neighbourhood ones here, the whole-timeline ones
in `timeline`, what they share in `draft`.

Deterministic logic owns timestamps, ordering and the yes/no decision; the language model only
phrases scene descriptions (checked against the evidence) and scores multiple-choice options.
The confidence formulas are documented in docs/confidence.md; keep the two in step.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from agentkit.controller import summary, timeline
from agentkit.controller.draft import (
    AnswerConfig,
    Draft,
    absent,
    combine_cues,
    cue_features,
    describe,
    draft_answer,
    grounded,
    present,
    quoted_texts,
    scene_labels,
    spans_text,
    z_excess,
)
from agentkit.controller.findings import CueFinding, Findings
from agentkit.controller.match import MatchConfig, text_ratio
from agentkit.controller.plan import CONCEPT_KINDS
from agentkit.controller.prompts import LanguageModelLike, choice_prompt
from agentkit.calibration.calibrator import answer_family
from agentkit.calibration.conformal import prediction_set
from agentkit.schemas import Answer, AnswerValue
from agentkit.timefmt import format_span

if TYPE_CHECKING:
    from agentkit.calibration import Calibrator

__all__ = ["AnswerConfig", "compose_answer", "combine_cues", "grounded"]

logger = logging.getLogger(__name__)


def _when(f: Findings, config: AnswerConfig) -> Draft:
    chosen, conf, note = combine_cues(f.cues, config)
    if not present(chosen, conf, config.presupposed_below):
        if f.unsupported:  # "no" would answer a question nobody asked
            return _declined(f, f'I cannot answer "{f.unsupported}" questions from memory; I can say when things '
                             f'appear, and nothing in memory clearly matches "{f.subject}".', 0.0, "unsupported",
                             {"unsupported": 1.0}, config)
        return absent(f, chosen, conf, config)
    spans = chosen.spans[: config.max_spans]
    where = spans_text(spans)
    text = f'"{chosen.cue}" appears at {where}.'
    if f.unsupported:
        text = f'I cannot answer "{f.unsupported}" questions from memory; what I can say: {text}'
    if note:
        text += f" ({note})"
    return draft_answer(f, text, conf, spans, config, f'Not sure "{chosen.cue}" appears; best guess {where}.',
                        features=cue_features(f.cues, chosen))


def _whether(f: Findings, config: AnswerConfig) -> Draft:
    chosen, p, _ = combine_cues(f.cues, config)
    if not present(chosen, p):
        return absent(f, chosen, p, config)
    spans = chosen.spans[: config.max_spans]
    text = f'Yes: "{chosen.cue}" appears at {spans_text(spans)}.'
    return draft_answer(f, text, p, spans, config, f'Not sure: "{chosen.cue}" may appear at {spans_text(spans)}.',
                        value=AnswerValue(yes=True), features={**cue_features(f.cues, chosen), "p_yes": p})


def _around(f: Findings, lm, config: AnswerConfig) -> Draft:
    if not f.context:
        return draft_answer(f, "Memory holds nothing near that time.", 0.0, [], config,
                       value=AnswerValue(declined="not_seen"))
    ctx = sorted(f.context, key=lambda e: (e.source, e.t0))
    when = format_span(min(e.t0 for e in ctx), max(e.t1 for e in ctx))
    t = f.times[0] if f.times else ctx[0].t0
    # Describe from the segment holding the asked time first, then its neighbours.
    nearest = sorted(ctx, key=lambda e: 0.0 if e.t0 <= t <= e.t1 else min(abs(e.t0 - t), abs(e.t1 - t)))
    text = f"Around {', '.join(format_span(x, x) for x in f.times)} ({when}): {describe(nearest[:1], lm, config)}."
    quoted = quoted_texts(ctx)
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    # Memory covers the time; how sure the description is follows the described segment's top label.
    top = nearest[0]
    conf = 0.5 + 0.5 * top.score if (top.labels or top.text) else 0.3
    gap = 0.0 if top.t0 <= t <= top.t1 else min(abs(top.t0 - t), abs(top.t1 - t))
    value = AnswerValue(labels=scene_labels(nearest[:1]), texts=[q for q, _ in quoted])
    return draft_answer(f, text, conf, ctx, config, value=value,
                   features={"top_label": top.score, "gap": gap, "has_text": float(bool(quoted))})


def _text(f: Findings, config: AnswerConfig) -> Draft:
    quoted = quoted_texts(f.context, limit=10)
    if not quoted:
        return draft_answer(f, "No on-screen text was found.", 0.6, [], config, features={"n_texts": 0.0})
    parts = [f'"{t}" ({format_span(e.t0, e.t1)})' for t, e in quoted]
    conf = sum(e.score for _, e in quoted) / len(quoted)
    return draft_answer(f, "On-screen text: " + "; ".join(parts) + ".", conf, [e for _, e in quoted], config,
                   value=AnswerValue(texts=[t for t, _ in quoted]), features={"n_texts": float(len(quoted))})


def _after(f: Findings, lm, config: AnswerConfig) -> Draft:
    if f.anchor is None:
        subject = f.subject or "that"
        return draft_answer(f, f'I could not find "{subject}" in memory, so I cannot say what follows it.', 0.0, [], config,
                       features=cue_features(f.cues, None))
    anchor_conf = 1.0
    chosen = None
    if f.cues:
        chosen, anchor_conf, _ = combine_cues(f.cues, config)
    features = cue_features(f.cues, chosen) if f.cues else {"best": 1.0, "exact": 1.0}
    if not f.context:
        return draft_answer(f, f"Nothing is stored after {format_span(f.anchor.t0, f.anchor.t1)}.",
                       0.3 * anchor_conf, [f.anchor], config, features=features)
    before = f.kind == "before"
    # Nearest to the anchor first; the first records that look different from it describe "what happens".
    ctx = sorted(f.context, key=lambda e: (e.source, -e.t0 if before else e.t0))
    anchor_labels = set(f.anchor.labels)
    changed = [e for e in ctx if set(e.labels[:1]) - anchor_labels] or ctx
    nxt = changed[:3]
    what = describe(nxt, lm, config)
    label = f'"{f.subject}"' if f.subject else format_span(f.anchor.t0, f.anchor.t1)
    t0, t1 = min(e.t0 for e in nxt), max(e.t1 for e in nxt)
    text = (f"{'Before' if before else 'After'} {label} (first at {format_span(f.anchor.t0, f.anchor.t1)}), "
            f"the video shows {what} at {format_span(t0, t1)}.")
    quoted = quoted_texts(nxt)
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    value = AnswerValue(labels=scene_labels(nxt[:1]), texts=[q for q, _ in quoted])
    features["next_label"] = nxt[0].score
    return draft_answer(f, text, anchor_conf, [f.anchor, *nxt], config, value=value, features=features)


def _between(f: Findings, lm, config: AnswerConfig) -> Draft:
    if f.anchor is None or f.anchor_end is None:
        return draft_answer(f, "I could not find both ends in memory, so I cannot say what lies between them.", 0.0, [], config,
                       features={"n_context": 0.0})
    span = format_span(f.anchor.t1, f.anchor_end.t0)
    if not f.context:
        return draft_answer(f, f"Nothing is stored between them ({span}).", 0.2, [f.anchor, f.anchor_end], config,
                       features={"n_context": 0.0})
    ctx = sorted(f.context, key=lambda e: -e.score)[:3]  # what stands out most first (see recall)
    what = describe(ctx, lm, config)
    quoted = quoted_texts(ctx)
    text = f"Between them ({span}) the video shows {what} (at {', '.join(format_span(e.t0, e.t1) for e in ctx)})."
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    conf = min(f.anchor.score, f.anchor_end.score, 1.0)
    return draft_answer(f, text, conf, [*ctx, f.anchor, f.anchor_end], config, value=AnswerValue(
        labels=scene_labels(ctx), texts=[q for q, _ in quoted]),
        features={"n_context": float(len(ctx)), "label": ctx[0].score})


def _state(f: Findings, config: AnswerConfig) -> Draft:
    subject = f.subject or "it"
    if not f.context:
        return draft_answer(f, f'I found no on-screen reading of "{subject}" before that time.', 0.0, [], config,
                       features={"matched": 0.0})
    reading = f.context[-1]
    ratios = [text_ratio(o, reading.text) for o in f.options]
    best = max(range(len(f.options)), key=lambda i: ratios[i])
    hit = MatchConfig.text_hit  # the same bar recall used to find the reading
    clear = ratios[best] >= hit and sum(r >= hit for r in ratios) == 1
    conf = reading.score * (1.0 if clear else 0.3)
    text = (f'"{f.options[best]}": the latest reading of "{subject}" ({format_span(reading.t0, reading.t1)}) '
            f'says "{" ".join(reading.text.split())[:80]}".')
    return draft_answer(f, text, conf, [reading], config, f"Not sure; the latest reading I have says \"{reading.text[:60]}\".",
                   value=AnswerValue(option=best, texts=[reading.text]), features={"matched": ratios[best], "clear": float(clear)})


def _option_strength(finding: CueFinding) -> float:
    """How well an option matches its best segment: the best similarity (concept) or the text score."""
    if finding.kind == "text":
        return finding.confidence
    return float(finding.stats.get("best", 0.0)) if finding.spans else float("-inf")


def _softmax(values: list[float], temperature: float) -> list[float]:
    finite = [v for v in values if v != float("-inf")]
    if not finite:
        return [1.0 / len(values)] * len(values)
    top = max(finite)
    exp = [math.exp((v - top) / temperature) if v != float("-inf") else 0.0 for v in values]
    return [x / sum(exp) for x in exp]


def _choice(f: Findings, lm, config: AnswerConfig) -> Answer:
    options = f.options
    presence = [of.confidence for of in f.option_findings]
    # Options are compared by how well each matches its best segment (same memory, same space),
    # not by their presence confidence, which depends on each phrase's own background.
    evidence_dist = _softmax([_option_strength(of) for of in f.option_findings], config.choice_temperature)
    lm_dist = None
    if lm is not None:
        block_ev = [s for of in f.option_findings for s in of.spans[:1]] + f.context
        block_ev.sort(key=lambda e: (e.source, e.t0))
        try:
            cond = lm.option_logprobs(choice_prompt(_stem(f), block_ev), [" " + o for o in options])
            prior = _option_prior(lm, tuple(" " + o for o in options))
            # Subtracting the bare-prompt log-probability removes each option's own prior and length.
            lm_dist = _softmax([c - p for c, p in zip(cond, prior)], 1.0)
        except Exception as err:
            logger.warning("language model option scoring failed (%s); using evidence only", err)
    w = config.lm_weight if lm_dist is not None else 0.0
    combined = [(1 - w) * e + w * (lm_dist[i] if lm_dist else 0.0) for i, e in enumerate(evidence_dist)]
    best = max(range(len(options)), key=lambda i: combined[i])
    # Confidence: the option's share of the combined score, times how well its own evidence holds.
    conf = combined[best] * (0.5 + 0.5 * presence[best])
    spans = f.option_findings[best].spans[: config.max_spans]
    letter = chr(ord("a") + best)
    where = f" (seen at {spans_text(spans)})" if spans else ""
    scores = ", ".join(f"({chr(ord('a') + i)}) {c:.2f}" for i, c in enumerate(combined))
    text = f"({letter}) {options[best]}{where}. Scores: {scores}."
    runner_up = max((c for i, c in enumerate(combined) if i != best), default=0.0)
    draft = draft_answer(f, text, conf, spans, config, f"Not sure; best guess ({letter}) {options[best]}{where}.",
                    value=AnswerValue(option=best),
                    features={"share": combined[best], "margin": combined[best] - runner_up,
                              "presence": presence[best], "n_options": float(len(options)),
                              "z_excess": z_excess(f.option_findings[best])})
    draft.answer.value.option_scores = [round(c, 4) for c in combined]
    return draft


_PRIORS: dict[tuple[int, tuple[str, ...]], list[float]] = {}


def _option_prior(lm: LanguageModelLike, options: tuple[str, ...]) -> list[float]:
    """Log-probability of each option after a bare "Answer:" (cached: it does not depend on evidence)."""
    key = (id(lm), options)
    if key not in _PRIORS:
        if len(_PRIORS) > 256:
            _PRIORS.clear()
        _PRIORS[key] = list(lm.option_logprobs("Answer:", list(options)))
    return _PRIORS[key]


def _stem(f: Findings) -> str:
    from agentkit.controller.plan import split_options

    return split_options(f.question)[0]


_COMPOSERS = {
    "when": lambda f, lm, c: _when(f, c),
    "whether": lambda f, lm, c: _whether(f, c),
    "around": _around,
    "text": lambda f, lm, c: _text(f, c),
    "after": _after,
    "choice": _choice,
    "count": lambda f, lm, c: timeline.count(f, c),
    "first": lambda f, lm, c: timeline.first_last(f, c),
    "last": lambda f, lm, c: timeline.first_last(f, c),
    "order": lambda f, lm, c: timeline.order(f, c),
    "between": _between,
    "state": lambda f, lm, c: _state(f, c),
    "nth": lambda f, lm, c: timeline.first_last(f, c),
    "before": _after,
    "duration": lambda f, lm, c: timeline.duration(f, c),
    "summary": summary.compose_summary,
}


def compose_answer(findings: Findings, lm: LanguageModelLike | None = None, config: AnswerConfig = AnswerConfig(),
                   calibrator: "Calibrator | None" = None) -> Answer:
    """Compose the answer for ``findings`` (see `recall`).

    With a ``calibrator`` the confidence is its P(correct) for the answer's family and features;
    without one it is the raw evidence score. Either way the answer abstains below
    ``config.abstain_below``.
    """
    if findings.n_records == 0:
        return Answer(question=findings.question, text="Memory is empty: index a source first.",
                      confidence=0.0, abstained=True, kind=findings.kind, raw_score=0.0,
                      value=AnswerValue(declined="empty"))
    composer = _COMPOSERS.get(findings.kind)
    if composer is None:
        raise ValueError(f"unknown question kind {findings.kind!r}")
    draft = _decline(findings, config) or composer(findings, lm, config)
    if draft.answer.kind in CONCEPT_KINDS:
        for name in ("label_fit", "recurrence", "near_miss"):
            if getattr(findings, name) is not None:
                draft.answer.features[name] = round(getattr(findings, name), 4)
    _note_coverage(findings, draft.answer)
    return finish(draft, config, calibrator)


def _seen_text(f: Findings) -> str:
    until = f.seen_until or 0.0
    of = f" of {format_span(f.duration, f.duration)}" if f.duration else ""
    return f"seen {format_span(0.0, until)}{of} so far"


def _declined(f: Findings, text: str, raw: float, reason: str, features: dict[str, float],
              config: AnswerConfig) -> Draft:
    """An answer that says why it does not answer; calibrated in its own family, "declined"."""
    draft = draft_answer(f, text, raw, [], config, value=AnswerValue(declined=reason), features=features)
    draft.answer.kind = "declined"
    return draft


def _decline(f: Findings, config: AnswerConfig) -> Draft | None:
    """Questions memory cannot answer: a time it has not seen, or a thing the encoder cannot name."""
    if f.times and f.seen_until is not None and max(f.times) > f.seen_until + 1.0:
        t = format_span(max(f.times), max(f.times))
        complete = f.duration is not None and f.seen_until >= f.duration - 1.0
        text = (f"The source ends at {format_span(f.duration, f.duration)}: nothing is shown at {t}." if complete
                else f"I have not seen {t} yet ({_seen_text(f)}).")
        return _declined(f, text, 0.95, "not_seen", {"beyond": max(f.times) - f.seen_until}, config)
    strong_exact = any(c.kind in ("text", "label") and c.confidence >= 0.5 for c in f.cues)
    if (f.kind in CONCEPT_KINDS and f.vocab_sim is not None and f.vocab_sim < config.unknown_below
            and not strong_exact):
        names = ", ".join(f'"{n}"' for n in f.nearest_names)
        text = (f'I cannot recognise "{f.subject}" with the current frame encoder; the nearest things it can name are '
                f"{names}. A stronger frame encoder (docs/models.md) may know it.")
        return _declined(f, text, 1.0 - f.vocab_sim, "unrecognised", {"vocab_sim": f.vocab_sim}, config)
    return None


def _note_coverage(f: Findings, answer: Answer) -> None:
    """Say what part of the source memory has seen, so a partial index never yields a plain "no"."""
    answer.coverage = list(f.coverage)
    if f.seen_until is None or not f.duration:
        return
    share = min(1.0, f.seen_until / f.duration)
    answer.features["seen_share"] = round(share, 4)
    if share < 0.999 and not answer.value.declined:
        seen = _seen_text(f)
        answer.text = f"{seen[0].upper()}{seen[1:]}: {answer.text}"
        if answer.value.yes is False:
            answer.text = answer.text.replace("No: nothing in memory", "Not in what I have seen: nothing", 1)


def finish(draft: Draft, config: AnswerConfig, calibrator: "Calibrator | None") -> Answer:
    """Calibrate the draft's confidence, decide abstention, and attach the conformal set."""
    answer = draft.answer
    if calibrator is not None:
        family = answer_family(answer.kind, answer.value.yes)
        answer.confidence = round(calibrator.predict(family, answer.features), 4)
        if config.conformal_alpha is not None:
            answer.prediction_set = prediction_set(answer, calibrator, config.conformal_alpha)
    answer.abstained = answer.confidence < config.abstain_below
    if answer.abstained and draft.abstain_text:
        answer.text = draft.abstain_text
    return answer
