"""Follow-up questions: rewrite "and the lion?", "and after that?" or "how long was it on screen?"
against the previous turn of a conversation, then plan the rewritten question.

The rewrite is plain text, so it is shown to the user (``-v``) and planned by the same grammar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from agentkit.controller.plan import Plan, QuestionKind, parse_question
from agentkit.timefmt import format_time

__all__ = ["Previous", "rewrite_follow_up", "is_follow_up"]


@dataclass(frozen=True)
class Previous:
    """What a follow-up can refer to: the last turn's plan and its main evidence span, and the
    latest plan that named a subject ("it" after "and after that?" is still the lion)."""

    plan: Plan
    t0: float | None = None
    t1: float | None = None
    subject_plan: Plan | None = None

    @property
    def named(self) -> Plan:
        """The plan whose subject "it" refers to."""
        return self.subject_plan or self.plan


_SWAP = re.compile(r"^(?:and|what about|how about|same for|and what about)\s+(?:the\s+|a\s+|an\s+)?(.+?)\s*[?.!]*$",
                   re.IGNORECASE)
_NEXT = re.compile(r"^(?:and\s+|so\s+)?(?:then\s+)?(?:what\s+(?:happens|comes|appears|is shown|follows)\s+)?"
                   r"(?:right\s+|just\s+|immediately\s+)?(after(?:wards)?|next|then|after that|after this)"
                   r"(?:\s+that|\s+this|\s+it)?\s*[?.!]*$", re.IGNORECASE)
_PREV = re.compile(r"^(?:and\s+)?(?:what\s+(?:happens|comes|appears|is shown)\s+)?(?:right\s+|just\s+)?"
                   r"(before(?: that| this| it)?|earlier)\s*[?.!]*$", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(it|that|this|they|them|this one|that one)\b", re.IGNORECASE)
_VERB = re.compile(r"\b(is|are|was|were|does|do|did|appear|appears|show|shows|shown|happen|happens|when|how|what|which|where)\b",
                   re.IGNORECASE)


_AND = re.compile(r"^(and|so|then)\s+", re.IGNORECASE)


def _swap(q: str) -> str:
    """The new subject of "and the lion?" / "what about a bus?", or "" when ``q`` is not such a swap."""
    m = _SWAP.match(q)
    if not m or _VERB.search(m.group(1)):
        return ""
    return m.group(1) if parse_question(f"When does the {m.group(1)} appear?").subject else ""


def is_follow_up(question: str) -> bool:
    """True when the question cannot be read alone: a bare swap, "and after that?", or a pronoun
    standing where the thing asked about should be."""
    q = question.strip()
    if _NEXT.match(q) or _PREV.match(q):
        return True
    if _swap(q):
        return True
    plan = parse_question(_AND.sub("", q) or q)
    bare = not plan.subject and not plan.text_cues and not plan.times
    return bare and (bool(_PRONOUN.search(q)) or plan.kind in _TEMPLATES)


def _subject_words(plan: Plan) -> str:
    """How to name the previous turn's subject in a rewritten question."""
    if plan.text_cues:
        return f'the "{plan.text_cues[0]}" sign'
    return f"the {plan.subject}" if plan.subject else ""


def rewrite_follow_up(question: str, previous: Previous | None) -> tuple[str, str]:
    """The question as it would read alone, and a note on the rewrite ("" when it needed none).

    Without a previous turn the question is returned unchanged with a note saying so.
    """
    q = question.strip()
    if not is_follow_up(q):
        return q, ""
    if previous is None:
        note = "this is the first turn of the conversation: nothing earlier to refer to"
        swap = _swap(q)
        return (f"When does the {swap} appear?", note) if swap else (q, note)
    plan = previous.named
    if _NEXT.match(q) and previous.t1 is not None:
        out = f"What happens after {format_time(previous.t1)}?"
    elif _PREV.match(q) and previous.t0 is not None:
        out = f"What happens before {format_time(previous.t0)}?"
    elif swap := _swap(q):
        out = _swap_subject(previous.plan if previous.plan.subject else plan, swap)
    else:
        name = _subject_words(plan)
        if not name:
            return q, "the previous turn named nothing that 'it' could refer to"
        if _PRONOUN.search(q):
            out = _PRONOUN.sub(name, q, count=1)
        else:
            bare = parse_question(_AND.sub("", q) or q)
            out = _TEMPLATES[bare.kind].format(name=name, n=_ordinal_words(bare.n))
    return out, f'read as "{out}"'


_TEMPLATES = {
    QuestionKind.WHEN: "When does {name} appear?",
    QuestionKind.COUNT: "How many times does {name} appear?",
    QuestionKind.DURATION: "How long is {name} on screen?",
    QuestionKind.FIRST: "When does {name} appear for the first time?",
    QuestionKind.LAST: "When does {name} appear for the last time?",
    QuestionKind.NTH: "When does {name} appear for the {n} time?",
}


def _ordinal_words(n: int | None) -> str:
    return {2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n or 0, f"{n}th")


def _swap_subject(plan: Plan, new: str) -> str:
    """The previous question asked again about ``new``: same operator, new subject."""
    stem = plan.stem or plan.question
    old = plan.subject
    if old and re.search(re.escape(old), stem, re.IGNORECASE) and plan.kind not in (QuestionKind.ORDER,
                                                                                   QuestionKind.BETWEEN):
        return re.sub(re.escape(old), new, stem, count=1, flags=re.IGNORECASE)
    return f"When does the {new} appear?"
