"""One documented judging rule per family: is this answer right? (docs/cli.md lists them.)

The judge reads the answer as data (`Answer.value` and its evidence spans), never its wording,
so a rephrased answer cannot pass or fail by luck. Spans match with 1 s of slack on each side
(the agent samples one frame a second).
"""
from __future__ import annotations

from typing import Any

from agentkit.controller.match import normalise_text
from agentkit.schemas import Answer

__all__ = ["TRUTH_FIELDS", "RULES", "judge", "spans_overlap", "text_matches"]

SLACK = 1.0

TRUTH_FIELDS = {
    "when": "spans", "first_last": "spans", "whether": "yes", "text": "text", "around": "labels",
    "at_time": "labels", "after": "labels", "between": "labels", "choice": "option", "state": "option",
    "count": "count", "order": "order", "unanswerable": "decline",
}
"""The truth field each family is judged by."""

RULES = {
    "when": "the answer's best span overlaps a true span (1 s slack); with no true span, the answer says it does not appear",
    "first_last": "the answer's best span overlaps the asked (first or last) occurrence; with none, as when",
    "whether": "yes/no equals the truth",
    "text": "a reported text contains the sign's word (case, spaces and punctuation ignored)",
    "around": "one of the two best described labels is an accepted label (or a reported text holds the sign's word)",
    "at_time": "as around",
    "after": "as around, for what follows",
    "between": "as around, for what lies between",
    "choice": "the chosen option is the true one",
    "state": "the chosen option is the true state",
    "count": "the count equals the true count",
    "order": "the items are listed in the true order",
    "unanswerable": "the answer declines (cannot recognise, or not seen)",
}
"""Each family's rule in words."""

def spans_overlap(a: tuple[float, float], b: tuple[float, float], slack: float = SLACK) -> bool:
    """True when two (t0, t1) spans overlap, allowing ``slack`` seconds."""
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def text_matches(reported: list[str], word: str) -> bool:
    """True when a reported text contains ``word`` once case, spaces and punctuation are dropped."""
    want = normalise_text(word)
    return bool(want) and any(want in normalise_text(t) for t in reported)


def _labels_match(answer: Answer, truth: dict[str, Any]) -> bool:
    accept = {a.lower() for a in truth.get("labels", [])}
    if any(lab.lower() in accept for lab in answer.value.labels[:2]):
        return True
    word = truth.get("text")
    return bool(word) and text_matches(answer.value.texts, word)


def judge(family: str, truth: dict[str, Any], answer: Answer) -> bool:
    """Whether ``answer`` is right for a question of ``family`` with ``truth``.

    Raises:
        ValueError: If ``family`` is unknown.
    """
    v = answer.value
    if family == "unanswerable":
        return bool(v.declined)
    if v.declined:
        return False
    if family in ("when", "first_last"):
        if not truth["spans"]:  # never shown: right only when the answer says so
            return v.yes is False
        if v.yes is False:
            return False
        best = answer.evidence[0] if answer.evidence else None
        return best is not None and any(spans_overlap((best.t0, best.t1), (float(a), float(b))) for a, b in truth["spans"])
    if family == "whether":
        return v.yes is not None and v.yes == bool(truth["yes"])
    if family == "text":
        return text_matches(v.texts, str(truth["text"]))
    if family in ("around", "at_time", "after", "between"):
        return _labels_match(answer, truth)
    if family in ("choice", "state"):
        return v.option is not None and v.option == int(truth["option"])
    if family == "count":
        return v.count is not None and v.count == int(truth["count"])
    if family == "order":
        return [normalise_text(x) for x in v.order] == [normalise_text(x) for x in truth["order"]]
    raise ValueError(f"unknown family {family!r}")
