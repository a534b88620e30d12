"""Answer: turn findings into an `Answer` with spans, a confidence and, when weak, an abstention.

Deterministic logic owns timestamps, ordering and the yes/no decision; the language model only
phrases scene descriptions (checked against the evidence) and scores multiple-choice options.
The confidence formulas are documented in docs/confidence.md; keep the two in step.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentkit.controller.plan import CONCEPT_KINDS
from agentkit.controller.findings import CueFinding, Findings
from agentkit.controller.match import MatchConfig, text_ratio
from agentkit.controller.prompts import LanguageModelLike, choice_prompt, describe_prompt
from agentkit.calibration.calibrator import answer_family
from agentkit.calibration.conformal import prediction_set
from agentkit.schemas import Answer, AnswerValue, Evidence
from agentkit.timefmt import format_span

if TYPE_CHECKING:
    from agentkit.calibration import Calibrator

__all__ = ["AnswerConfig", "compose_answer", "combine_cues", "grounded"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerConfig:
    """Thresholds of the answer step."""

    abstain_below: float = 0.5
    """Answers whose P(correct) is below this are marked abstained (the best guess is still shown)."""
    no_ceiling: float = 0.9
    """A "no" is capped at this confidence: the default perception can miss what is there."""
    disagreement_penalty: float = 0.8
    """Factor on confidence when two cues' best spans do not overlap."""
    lm_weight: float = 0.3
    """Share of the language model in multiple-choice scores (the rest is evidence)."""
    choice_temperature: float = 0.05
    """Softmax temperature over options' best similarities (cosine units)."""
    use_lm_phrasing: bool = False
    """Let the language model phrase scene descriptions (checked against the labels). Off by default:
    on a CPU it adds about a second per answer, for wording the labels already carry."""
    max_spans: int = 5
    unknown_below: float = 0.48
    """A subject whose best cosine to the frame encoder's label names is below this is "not recognisable"."""
    conformal_alpha: float | None = 0.1
    """Error rate of the conformal prediction set (multiple choice, "when"); None: no set."""


def _spans_text(spans: list[Evidence]) -> str:
    """Spans in time order; prefixed with their source id when they come from several sources."""
    several = len({s.source for s in spans}) > 1
    return ", ".join((f"{s.source[:8]}@" if several else "") + format_span(s.t0, s.t1)
                     for s in sorted(spans, key=lambda s: (s.source, s.t0)))


def _overlap(a: Evidence, b: Evidence, slack: float = 1.0) -> bool:
    return a.source == b.source and a.t0 <= b.t1 + slack and b.t0 <= a.t1 + slack


def combine_cues(cues: list[CueFinding], config: AnswerConfig = AnswerConfig()) -> tuple[CueFinding | None, float, str]:
    """Pick the cue to answer from and the confidence that its best span is right.

    Text and label cues outrank the concept subject when about as confident; a second main cue whose best span
    overlaps the chosen one raises confidence as independent evidence (1 - (1-a)(1-b)); one that
    disagrees multiplies it by ``disagreement_penalty``. Single words of a multi-word subject
    ("term" cues) that agree raise it by up to a quarter of the remaining doubt.

    Returns:
        (chosen cue or None, confidence, a short note on agreement).
    """
    main = [c for c in cues if c.kind != "term" and c.spans]
    if not main:
        return None, 0.0, "no cue matched anything in memory"
    # Exact matches (on-screen text, a label's name) are precise: they win close calls.
    chosen = max(main, key=lambda c: c.confidence + (0.1 if c.kind in ("text", "label") else 0.0))
    conf = chosen.confidence
    notes = []
    for other in main:
        if other is chosen:
            continue
        if _overlap(other.spans[0], chosen.spans[0]):
            conf = 1 - (1 - conf) * (1 - other.confidence)
            notes.append(f'"{other.cue}" agrees')
        elif other.confidence >= 0.5:
            conf *= config.disagreement_penalty
            notes.append(f'"{other.cue}" points elsewhere')
    terms = [c for c in cues if c.kind == "term"]
    if terms:
        agree = sum(1 for t in terms if t.spans and any(_overlap(t.spans[0], s) for s in chosen.spans)) / len(terms)
        conf = conf + (1 - conf) * 0.25 * agree
        notes.append(f"{agree:.0%} of the subject's words agree")
    return chosen, float(min(1.0, max(0.0, conf))), "; ".join(notes)


def _cue_features(cues: list[CueFinding], chosen: CueFinding | None) -> dict[str, float]:
    """Evidence features of a cue-based answer, for the calibrator: how strong, how distinct, how agreed."""
    if chosen is None:
        return {"best": 0.0, "margin": 0.0, "n_spans": 0.0, "agree": 0.0, "exact": 0.0, "z_excess": 0.0, "span_s": 0.0}
    spans = chosen.spans
    others = [c for c in cues if c is not chosen and c.kind != "term" and c.spans]
    agree = sum(1 for c in others if _overlap(c.spans[0], spans[0])) / len(others) if others else 0.0
    return {
        "best": chosen.confidence,
        "margin": spans[0].score - (spans[1].score if len(spans) > 1 else 0.0),
        "n_spans": float(len(spans)),
        "agree": agree,
        "exact": 1.0 if chosen.kind in ("text", "label") else 0.0,
        "span_s": spans[0].t1 - spans[0].t0,
        "z_excess": _z_excess(chosen),
    }


def _z_excess(finding: CueFinding) -> float:
    """How many spreads a concept cue's best match stands above the chance maximum (0 for text and labels)."""
    stats = finding.stats
    return float(stats["z_best"] - stats.get("chance_z", 0.0)) if "z_best" in stats else 0.0


_WORD = re.compile(r"[a-z]+")
_GLUE = frozenset(
    "a an the of and with on in at some two three people person man woman its their is are "
    "riding sitting flying walking standing driving lying running holding showing near".split()
)


def grounded(phrase: str, allowed: list[str]) -> bool:
    """True when every content word of ``phrase`` occurs in ``allowed`` (labels, not screen text)."""
    vocab = set(_WORD.findall(" ".join(allowed).lower()))
    words = [w for w in _WORD.findall(phrase.lower()) if w not in _GLUE]
    return bool(words) and all(w in vocab or w.rstrip("s") in vocab for w in words)


def scene_labels(evidence: list[Evidence]) -> list[str]:
    """Labels of the evidence, each segment's best label first, then the runners-up."""
    labels: list[str] = []
    for rank in range(3):
        for e in evidence:
            if rank < len(e.labels) and e.labels[rank] not in labels:
                labels.append(e.labels[rank])
    return labels


def _describe(evidence: list[Evidence], lm: LanguageModelLike | None, config: AnswerConfig) -> str:
    """A short description of what the evidence shows: the LM's phrase if grounded, else labels."""
    labels = scene_labels(evidence)
    if not labels:
        return "nothing recognised"
    template = ", ".join(labels[:4])
    if lm is None or not config.use_lm_phrasing:
        return template
    try:
        phrase = lm.generate(describe_prompt(labels[:4]), max_new_tokens=8, stop=["\n", "."]).strip()
    except Exception as err:  # a phrasing failure must not lose the answer
        logger.warning("language model phrasing failed (%s); using labels", err)
        return template
    if phrase and len(phrase) <= 80 and grounded(phrase, labels):
        return f"{phrase} ({template})"
    logger.debug("discarded ungrounded phrase %r for labels %s", phrase, labels)
    return template


def _quoted_texts(evidence: list[Evidence], limit: int = 5) -> list[tuple[str, Evidence]]:
    seen: dict[str, Evidence] = {}
    for e in evidence:
        key = " ".join(e.text.split()).lower()
        if key and key not in seen:
            seen[key] = e
    return [(" ".join(e.text.split()), e) for e in list(seen.values())[:limit]]


@dataclass
class Draft:
    """An answer before calibration: its raw evidence score, features, and the text to show if it abstains."""

    answer: Answer
    abstain_text: str | None = None


def _answer(findings: Findings, text: str, conf: float, evidence: list[Evidence], config: AnswerConfig,
            abstain_text: str | None = None, *, value: AnswerValue | None = None,
            features: dict[str, float] | None = None) -> Draft:
    conf = float(min(1.0, max(0.0, conf)))
    feats = {"raw": conf, **(features or {})}
    answer = Answer(question=findings.question, text=text, confidence=round(conf, 4), evidence=evidence,
                    kind=findings.kind, raw_score=round(conf, 4), value=value or AnswerValue(),
                    features={k: round(float(v), 4) for k, v in feats.items()})
    return Draft(answer, abstain_text)


def _when(f: Findings, config: AnswerConfig) -> Draft:
    chosen, conf, note = combine_cues(f.cues, config)
    subject = f.subject or (f.cues[0].cue if f.cues else "it")
    features = _cue_features(f.cues, chosen)
    if chosen is None:
        return _answer(f, f'I found nothing in memory that matches "{subject}".', 0.0, [], config,
                       f'Not sure: nothing in memory matches "{subject}".', features=features)
    spans = chosen.spans[: config.max_spans]
    where = _spans_text(spans)
    text = f'"{chosen.cue}" appears at {where}.'
    if note:
        text += f" ({note})"
    return _answer(f, text, conf, spans, config, f'Not sure "{chosen.cue}" appears; best guess {where}.',
                   features=features)


def _whether(f: Findings, config: AnswerConfig) -> Draft:
    chosen, p, note = combine_cues(f.cues, config)
    subject = f.subject or (f.cues[0].cue if f.cues else "it")
    features = {**_cue_features(f.cues, chosen), "p_yes": p}
    # "No" needs the best match well inside the background, not just below the coin-flip point.
    p_no = config.no_ceiling * max(0.0, 1.0 - 2.0 * p)
    if chosen is not None and p >= 0.5:
        spans = chosen.spans[: config.max_spans]
        text = f'Yes: "{chosen.cue}" appears at {_spans_text(spans)}.'
        return _answer(f, text, p, spans, config, f'Not sure: "{chosen.cue}" may appear at {_spans_text(spans)}.',
                       value=AnswerValue(yes=True), features=features)
    spans = chosen.spans[:1] if chosen is not None else []
    text = f'No: nothing in memory clearly matches "{subject}".'
    if spans:
        text += f" The closest match, at {_spans_text(spans)}, is weak."
    return _answer(f, text, p_no, spans, config, f'Not sure whether "{subject}" appears.',
                   value=AnswerValue(yes=False), features=features)


def _around(f: Findings, lm, config: AnswerConfig) -> Draft:
    if not f.context:
        return _answer(f, "Memory holds nothing near that time.", 0.0, [], config,
                       value=AnswerValue(declined="not_seen"))
    ctx = sorted(f.context, key=lambda e: (e.source, e.t0))
    when = format_span(min(e.t0 for e in ctx), max(e.t1 for e in ctx))
    t = f.times[0] if f.times else ctx[0].t0
    # Describe from the segment holding the asked time first, then its neighbours.
    nearest = sorted(ctx, key=lambda e: 0.0 if e.t0 <= t <= e.t1 else min(abs(e.t0 - t), abs(e.t1 - t)))
    text = f"Around {', '.join(format_span(x, x) for x in f.times)} ({when}): {_describe(nearest[:1], lm, config)}."
    quoted = _quoted_texts(ctx)
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    # Memory covers the time; how sure the description is follows the described segment's top label.
    top = nearest[0]
    conf = 0.5 + 0.5 * top.score if (top.labels or top.text) else 0.3
    gap = 0.0 if top.t0 <= t <= top.t1 else min(abs(top.t0 - t), abs(top.t1 - t))
    value = AnswerValue(labels=scene_labels(nearest[:1]), texts=[q for q, _ in quoted])
    return _answer(f, text, conf, ctx, config, value=value,
                   features={"top_label": top.score, "gap": gap, "has_text": float(bool(quoted))})


def _text(f: Findings, config: AnswerConfig) -> Draft:
    quoted = _quoted_texts(f.context, limit=10)
    if not quoted:
        return _answer(f, "No on-screen text was found.", 0.6, [], config, features={"n_texts": 0.0})
    parts = [f'"{t}" ({format_span(e.t0, e.t1)})' for t, e in quoted]
    conf = sum(e.score for _, e in quoted) / len(quoted)
    return _answer(f, "On-screen text: " + "; ".join(parts) + ".", conf, [e for _, e in quoted], config,
                   value=AnswerValue(texts=[t for t, _ in quoted]), features={"n_texts": float(len(quoted))})


def _after(f: Findings, lm, config: AnswerConfig) -> Draft:
    if f.anchor is None:
        subject = f.subject or "that"
        return _answer(f, f'I could not find "{subject}" in memory, so I cannot say what follows it.', 0.0, [], config,
                       features=_cue_features(f.cues, None))
    anchor_conf = 1.0
    chosen = None
    if f.cues:
        chosen, anchor_conf, _ = combine_cues(f.cues, config)
    features = _cue_features(f.cues, chosen) if f.cues else {"best": 1.0, "exact": 1.0}
    if not f.context:
        return _answer(f, f"Nothing is stored after {format_span(f.anchor.t0, f.anchor.t1)}.",
                       0.3 * anchor_conf, [f.anchor], config, features=features)
    before = f.kind == "before"
    # Nearest to the anchor first; the first records that look different from it describe "what happens".
    ctx = sorted(f.context, key=lambda e: (e.source, -e.t0 if before else e.t0))
    anchor_labels = set(f.anchor.labels)
    changed = [e for e in ctx if set(e.labels[:1]) - anchor_labels] or ctx
    nxt = changed[:3]
    what = _describe(nxt, lm, config)
    label = f'"{f.subject}"' if f.subject else format_span(f.anchor.t0, f.anchor.t1)
    t0, t1 = min(e.t0 for e in nxt), max(e.t1 for e in nxt)
    text = (f"{'Before' if before else 'After'} {label} (first at {format_span(f.anchor.t0, f.anchor.t1)}), "
            f"the video shows {what} at {format_span(t0, t1)}.")
    quoted = _quoted_texts(nxt)
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    value = AnswerValue(labels=scene_labels(nxt[:1]), texts=[q for q, _ in quoted])
    features["next_label"] = nxt[0].score
    return _answer(f, text, anchor_conf, [f.anchor, *nxt], config, value=value, features=features)


def _occurrences(f: Findings, config: AnswerConfig) -> tuple[CueFinding | None, float, list[Evidence], dict[str, float]]:
    """The chosen cue, its confidence, its spans in time order (the verified sightings of every cue
    when the verify step gathered them), and the features of a span list."""
    chosen, conf, _ = combine_cues(f.cues, config)
    spans = f.occurrences or (chosen.spans if chosen is not None else [])
    spans = sorted(spans, key=lambda e: (e.source, e.t0)) if chosen is not None else []
    features = _cue_features(f.cues, chosen)
    features["from_other_cues"] = float(max(0, len(spans) - len(chosen.spans))) if chosen is not None else 0.0
    if spans:
        scores = [e.score for e in spans]
        features["weakest"] = min(scores) / max(max(scores), 1e-9)
    return chosen, conf, spans, features


def _count(f: Findings, config: AnswerConfig) -> Draft:
    chosen, conf, spans, features = _occurrences(f, config)
    subject = f.subject or "it"
    if chosen is None:
        return _answer(f, f'"{subject}" does not appear in memory (0 times).', 0.5 * (1 - conf), [], config,
                       value=AnswerValue(count=0), features=features)
    n = len(spans)
    text = f'"{chosen.cue}" appears {n} time{"s" if n != 1 else ""}: at {_spans_text(spans)}.'
    ranked = sorted(spans, key=lambda e: -e.score)
    return _answer(f, text, conf, ranked, config, f'Not sure; perhaps {n} time{"s" if n != 1 else ""} ({_spans_text(spans)}).',
                   value=AnswerValue(count=n), features=features)


def _first_last(f: Findings, config: AnswerConfig) -> Draft:
    """first, last and n-th: one span picked from the subject's spans in time order."""
    chosen, conf, spans, features = _occurrences(f, config)
    subject = f.subject or "it"
    if chosen is None:
        return _answer(f, f'I found nothing in memory that matches "{subject}".', 0.0, [], config, features=features)
    if f.kind == "nth":
        n = f.n or 1
        if n > len(spans):
            text = (f'"{chosen.cue}" appears only {len(spans)} time{"s" if len(spans) != 1 else ""} '
                    f"({_spans_text(spans)}), so there is no occurrence number {n}.")
            return _answer(f, text, conf, spans, config, f"Not sure; I found {len(spans)} appearances.",
                           value=AnswerValue(count=len(spans)), features={**features, "short_by": float(n - len(spans))})
        target, which = spans[n - 1], _ordinal(n)
    else:
        target, which = (spans[0], "first") if f.kind == "first" else (spans[-1], "last")
    text = f'"{chosen.cue}" appears for the {which} time at {format_span(target.t0, target.t1)}.'
    if len(spans) > 1:
        text += f" (all appearances: {_spans_text(spans)})"
    return _answer(f, text, conf, [target, *[s for s in spans if s is not target]], config,
                   f"Not sure; best guess {format_span(target.t0, target.t1)}.", features=features)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _duration(f: Findings, config: AnswerConfig) -> Draft:
    """How long the subject is on screen: the summed length of its spans."""
    chosen, conf, spans, features = _occurrences(f, config)
    subject = f.subject or "it"
    if chosen is None:
        return _answer(f, f'I found nothing in memory that matches "{subject}".', 0.0, [], config,
                       value=AnswerValue(seconds=0.0), features=features)
    total = sum(e.t1 - e.t0 for e in spans)
    text = (f'"{chosen.cue}" is on screen for about {total:.0f} s in total, in {len(spans)} '
            f'span{"s" if len(spans) != 1 else ""}: {_spans_text(spans)}.')
    return _answer(f, text, conf, spans, config, f"Not sure; perhaps about {total:.0f} s ({_spans_text(spans)}).",
                   value=AnswerValue(seconds=round(total, 2), count=len(spans)), features=features)


def _order(f: Findings, config: AnswerConfig) -> Draft:
    firsts = [(item, min(of.spans, key=lambda e: (e.source, e.t0)) if of.spans else None, of.confidence)
              for item, of in zip(f.items, f.option_findings)]
    missing = [item for item, first, _ in firsts if first is None]
    if not firsts or missing:
        what = ", ".join(f'"{m}"' for m in missing) or "the items"
        return _answer(f, f"I found nothing in memory for {what}, so I cannot order them.", 0.0, [], config,
                       features={"min_conf": 0.0, "mean_conf": 0.0, "min_gap": 0.0})
    ordered = sorted(firsts, key=lambda x: (x[1].source, x[1].t0))
    confs = [c for _, _, c in firsts]
    gaps = [b[1].t0 - a[1].t0 for a, b in zip(ordered, ordered[1:])]
    text = "First appearances in order: " + ", ".join(f'"{item}" ({format_span(e.t0, e.t1)})' for item, e, _ in ordered) + "."
    return _answer(f, text, min(confs), [e for _, e, _ in ordered], config, "Not sure of the order; best guess: "
                   + ", ".join(item for item, _, _ in ordered) + ".", value=AnswerValue(order=[i for i, _, _ in ordered]),
                   features={"min_conf": min(confs), "mean_conf": sum(confs) / len(confs), "min_gap": min(gaps, default=0.0)})


def _between(f: Findings, lm, config: AnswerConfig) -> Draft:
    if f.anchor is None or f.anchor_end is None:
        return _answer(f, "I could not find both ends in memory, so I cannot say what lies between them.", 0.0, [], config,
                       features={"n_context": 0.0})
    span = format_span(f.anchor.t1, f.anchor_end.t0)
    if not f.context:
        return _answer(f, f"Nothing is stored between them ({span}).", 0.2, [f.anchor, f.anchor_end], config,
                       features={"n_context": 0.0})
    ctx = sorted(f.context, key=lambda e: -e.score)[:3]  # what stands out most first (see recall)
    what = _describe(ctx, lm, config)
    quoted = _quoted_texts(ctx)
    text = f"Between them ({span}) the video shows {what} (at {', '.join(format_span(e.t0, e.t1) for e in ctx)})."
    if quoted:
        text += " On-screen text: " + "; ".join(f'"{t}"' for t, _ in quoted) + "."
    conf = min(f.anchor.score, f.anchor_end.score, 1.0)
    return _answer(f, text, conf, [*ctx, f.anchor, f.anchor_end], config, value=AnswerValue(
        labels=scene_labels(ctx), texts=[q for q, _ in quoted]),
        features={"n_context": float(len(ctx)), "label": ctx[0].score})


def _state(f: Findings, config: AnswerConfig) -> Draft:
    subject = f.subject or "it"
    if not f.context:
        return _answer(f, f'I found no on-screen reading of "{subject}" before that time.', 0.0, [], config,
                       features={"matched": 0.0})
    reading = f.context[-1]
    ratios = [text_ratio(o, reading.text) for o in f.options]
    best = max(range(len(f.options)), key=lambda i: ratios[i])
    hit = MatchConfig.text_hit  # the same bar recall used to find the reading
    clear = ratios[best] >= hit and sum(r >= hit for r in ratios) == 1
    conf = reading.score * (1.0 if clear else 0.3)
    text = (f'"{f.options[best]}": the latest reading of "{subject}" ({format_span(reading.t0, reading.t1)}) '
            f'says "{" ".join(reading.text.split())[:80]}".')
    return _answer(f, text, conf, [reading], config, f"Not sure; the latest reading I have says \"{reading.text[:60]}\".",
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
    where = f" (seen at {_spans_text(spans)})" if spans else ""
    scores = ", ".join(f"({chr(ord('a') + i)}) {c:.2f}" for i, c in enumerate(combined))
    text = f"({letter}) {options[best]}{where}. Scores: {scores}."
    runner_up = max((c for i, c in enumerate(combined) if i != best), default=0.0)
    draft = _answer(f, text, conf, spans, config, f"Not sure; best guess ({letter}) {options[best]}{where}.",
                    value=AnswerValue(option=best),
                    features={"share": combined[best], "margin": combined[best] - runner_up,
                              "presence": presence[best], "n_options": float(len(options)),
                              "z_excess": _z_excess(f.option_findings[best])})
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
    "count": lambda f, lm, c: _count(f, c),
    "first": lambda f, lm, c: _first_last(f, c),
    "last": lambda f, lm, c: _first_last(f, c),
    "order": lambda f, lm, c: _order(f, c),
    "between": _between,
    "state": lambda f, lm, c: _state(f, c),
    "nth": lambda f, lm, c: _first_last(f, c),
    "before": _after,
    "duration": lambda f, lm, c: _duration(f, c),
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
    draft = _answer(f, text, raw, [], config, value=AnswerValue(declined=reason), features=features)
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
