"""What every answer composer shares: the thresholds, how cues combine, the evidence features the
calibrator reads, how spans and scenes are written, and the draft an answer is before calibration.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from agentkit.controller.findings import CueFinding, Findings
from agentkit.controller.prompts import LanguageModelLike, describe_prompt
from agentkit.schemas import Answer, AnswerValue, Evidence
from agentkit.timefmt import format_span

__all__ = ["AnswerConfig", "Draft", "absent", "combine_cues", "cue_features", "describe", "draft_answer", "grounded",
           "overlap", "present", "quoted_texts", "scene_labels", "spans_text", "z_excess"]

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
    presupposed_below: float = 0.25
    """A question that takes the subject for granted (when, how many, first, last, n-th, how long)
    says it is absent only below this presence score, not below 0.5 as "does X appear?" does:
    people ask them mostly about what is there. Set from the fit questions of `agentkit eval`
    (2026-12-02): their "no"s at a presence score of 0.1-0.2 were 4 of 4 right, at 0.3-0.5 0 of 10."""
    conformal_alpha: float | None = 0.1
    """Error rate of the conformal prediction set (multiple choice, "when"); None: no set."""


def spans_text(spans: list[Evidence]) -> str:
    """Spans in time order; prefixed with their source id when they come from several sources."""
    several = len({s.source for s in spans}) > 1
    return ", ".join((f"{s.source[:8]}@" if several else "") + format_span(s.t0, s.t1)
                     for s in sorted(spans, key=lambda s: (s.source, s.t0)))


def overlap(a: Evidence, b: Evidence, slack: float = 1.0) -> bool:
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
        if overlap(other.spans[0], chosen.spans[0]):
            conf = 1 - (1 - conf) * (1 - other.confidence)
            notes.append(f'"{other.cue}" agrees')
        elif other.confidence >= 0.5:
            conf *= config.disagreement_penalty
            notes.append(f'"{other.cue}" points elsewhere')
    terms = [c for c in cues if c.kind == "term"]
    if terms:
        agree = sum(1 for t in terms if t.spans and any(overlap(t.spans[0], s) for s in chosen.spans)) / len(terms)
        conf = conf + (1 - conf) * 0.25 * agree
        notes.append(f"{agree:.0%} of the subject's words agree")
    return chosen, float(min(1.0, max(0.0, conf))), "; ".join(notes)


def cue_features(cues: list[CueFinding], chosen: CueFinding | None) -> dict[str, float]:
    """Evidence features of a cue-based answer, for the calibrator: how strong, how distinct, how agreed."""
    if chosen is None:
        return {"best": 0.0, "margin": 0.0, "n_spans": 0.0, "agree": 0.0, "exact": 0.0, "z_excess": 0.0, "span_s": 0.0}
    spans = chosen.spans
    others = [c for c in cues if c is not chosen and c.kind != "term" and c.spans]
    agree = sum(1 for c in others if overlap(c.spans[0], spans[0])) / len(others) if others else 0.0
    return {
        "best": chosen.confidence,
        "margin": spans[0].score - (spans[1].score if len(spans) > 1 else 0.0),
        "n_spans": float(len(spans)),
        "agree": agree,
        "exact": 1.0 if chosen.kind in ("text", "label") else 0.0,
        "span_s": spans[0].t1 - spans[0].t0,
        "z_excess": z_excess(chosen),
    }


def z_excess(finding: CueFinding) -> float:
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


def describe(evidence: list[Evidence], lm: LanguageModelLike | None, config: AnswerConfig) -> str:
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


def quoted_texts(evidence: list[Evidence], limit: int = 5) -> list[tuple[str, Evidence]]:
    seen: dict[str, Evidence] = {}
    for e in evidence:
        key = " ".join(e.text.split()).lower()
        if key and key not in seen:
            seen[key] = e
    return [(" ".join(e.text.split()), e) for e in list(seen.values())[:limit]]


def present(chosen: CueFinding | None, p: float, below: float = 0.5) -> bool:
    """The one presence decision: a chosen cue whose confidence reaches ``below`` (the coin-flip
    point for "does X appear?", `AnswerConfig.presupposed_below` for the questions that take the
    subject for granted, which answer only when it holds)."""
    return chosen is not None and p >= below


def absent(f: Findings, chosen: CueFinding | None, p: float, config: AnswerConfig,
           value: AnswerValue | None = None) -> Draft:
    """The "no" of a question about the subject's appearances when `present` says it is not there.

    A question that takes the appearance for granted ("when does the tiger appear?") gets the
    verdict, raw score and features of "does a tiger appear?" (it is calibrated apart, as
    "absent"): naming the weak best match as its time would be a confident wrong answer. The raw
    score needs the best match well inside the background and is capped at ``no_ceiling``.
    """
    subject = f.subject or (f.cues[0].cue if f.cues else "it")
    spans = chosen.spans[:1] if chosen is not None else []
    text = f'No: nothing in memory clearly matches "{subject}".'
    if spans:
        text += f" The closest match, at {spans_text(spans)}, is weak."
    value = (value or AnswerValue()).model_copy(update={"yes": False})
    return draft_answer(f, text, config.no_ceiling * max(0.0, 1.0 - 2.0 * p), spans, config,
                        f'Not sure whether "{subject}" appears.', value=value,
                        features={**cue_features(f.cues, chosen), "p_yes": p})


@dataclass
class Draft:
    """An answer before calibration: its raw evidence score, features, and the text to show if it abstains."""

    answer: Answer
    abstain_text: str | None = None


def draft_answer(findings: Findings, text: str, conf: float, evidence: list[Evidence], config: AnswerConfig,
            abstain_text: str | None = None, *, value: AnswerValue | None = None,
            features: dict[str, float] | None = None) -> Draft:
    conf = float(min(1.0, max(0.0, conf)))
    feats = {"raw": conf, **(features or {})}
    answer = Answer(question=findings.question, text=text, confidence=round(conf, 4), evidence=evidence,
                    kind=findings.kind, raw_score=round(conf, 4), value=value or AnswerValue(),
                    features={k: round(float(v), 4) for k, v in feats.items()})
    return Draft(answer, abstain_text)
