"""Turn a question into recall cues: what to look for, in which memory space, and where in time.

Deterministic and model-free on purpose: the cues decide what evidence is fetched, so they must
be predictable and testable. The language model only phrases answers and scores options.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from agentkit.timefmt import find_times

__all__ = ["QuestionKind", "Cues", "parse_question", "split_options"]


class QuestionKind(str, Enum):
    """What kind of answer the question wants; each kind has its own composer."""

    WHEN = "when"
    """"When does X appear?": time spans of X."""
    WHETHER = "whether"
    """"Does X appear?": yes / no / not sure."""
    AROUND = "around"
    """"What is shown around 00:42?": what memory holds near a time."""
    TEXT = "text"
    """"What text appears on screen?": OCR text with its spans."""
    AFTER = "after"
    """"What happens after X?": the segments that follow X's first span."""
    CHOICE = "choice"
    """Multiple choice: pick one of the options."""
    COUNT = "count"
    """"How many times does X appear?": distinct occurrences of X."""
    FIRST = "first"
    """"When does X appear for the first time?": X's earliest span."""
    LAST = "last"
    """"When does X appear for the last time?": X's latest span."""
    ORDER = "order"
    """"In what order do A, B and C first appear?": items sorted by their first span."""
    BETWEEN = "between"
    """"What appears between A and B?": the segments after A's first span and before B's."""
    STATE = "state"
    """"Is gate 3 open or closed at the end?": the latest on-screen reading of X before a time."""


CONCEPT_KINDS = frozenset({QuestionKind.WHEN, QuestionKind.WHETHER, QuestionKind.COUNT, QuestionKind.FIRST,
                           QuestionKind.LAST})
"""Kinds answered from the subject's own spans: where "cannot recognise it" and the evidence checks apply."""


# Words that frame a question rather than name what to look for.
_SCAFFOLD = frozenset(
    """
    a an the this that these those any some there here it its of in on at to from for by with into onto
    when where what which who whom whose why how does do did is are was were be been being has have had
    can could will would should may might shall must
    appear appears appeared appearing show shows shown showing seen see visible occur occurs occurred
    happen happens happened happening come comes first last time times moment point
    video clip film footage frame frames scene scenes screen onscreen picture image
    ever anywhere somewhere at all please tell me us you i we
    after before around near about approximately roughly then next following later right just
    many often much order between end finally
    get gets got go goes went displayed display displays written
    """.split()
)
# Words that frame a question about on-screen text.
_TEXT_SCAFFOLD = frozenset(
    "text texts sign signs say says saying said word words code codeword caption captions read "
    "reads writing label labels banner title titles".split()
)
_OPTION_MARK = re.compile(r"(?:^|\s)\(?([a-hA-H1-8])\)\s+")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']{2,})'")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-']*")
_CODE = re.compile(r"^(?=.*[A-Z])[A-Z0-9][A-Z0-9\-]{2,}$")
# Several capitalised words in a row ("GATE 3 OPEN") are one sign, not three cues.
_CODE_RUN = re.compile(r"\b[A-Z][A-Z0-9\-]+(?:\s+[A-Z0-9][A-Z0-9\-]*)*\s+[A-Z0-9][A-Z0-9\-]*\b")


@dataclass(frozen=True)
class Cues:
    """Everything recall needs from a question, as plain values."""

    question: str
    kind: QuestionKind
    subject: str = ""
    """The content phrase the question is about ("red car"), scaffold words removed."""
    terms: tuple[str, ...] = ()
    """The subject's content words one by one, for cue agreement."""
    quoted: tuple[str, ...] = ()
    """Phrases the user put in quotes: matched against on-screen text first."""
    code_words: tuple[str, ...] = ()
    """Tokens that look like codes or signs ("ZX-41", "EXIT"): matched against on-screen text."""
    times: tuple[float, ...] = ()
    """Times named in the question, seconds."""
    options: tuple[str, ...] = ()
    """Multiple-choice options, in the order given."""
    stem: str = field(default="", compare=False)
    """The question without its options."""
    items: tuple[str, ...] = ()
    """The things an "order" or "between" question names, in the order written."""

    @property
    def text_cues(self) -> tuple[str, ...]:
        """Strings to look for in on-screen text: quoted phrases, then code words."""
        seen: list[str] = []
        for item in (*self.quoted, *self.code_words):
            if item.lower() not in (s.lower() for s in seen):
                seen.append(item)
        return tuple(seen)


def split_options(question: str) -> tuple[str, tuple[str, ...]]:
    """Split "stem (a) x (b) y" into the stem and its options.

    Recognises ``(a) ...``, ``a) ...`` and ``(1) ...`` marks when there are at least two of them
    and they are consecutive letters or digits; otherwise returns the question unchanged.
    """
    marks = list(_OPTION_MARK.finditer(question))
    if len(marks) < 2:
        return question.strip(), ()
    keys = [m.group(1).lower() for m in marks]
    first = keys[0]
    if first not in ("a", "1") or any(ord(k) - ord(first) != i for i, k in enumerate(keys)):
        return question.strip(), ()
    stem = question[: marks[0].start()].strip()
    options = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(question)
        text = question[mark.end():end].strip().rstrip(",;?.").strip()
        text = re.sub(r"\s+or$", "", text).strip()
        if text:
            options.append(text)
    return stem, tuple(options)


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w.lower() not in _SCAFFOLD]


def _phrase(text: str, words: list[str]) -> str:
    """The stretch of ``text`` from the first to the last subject word ("cup of coffee"), lowercased.

    Keeps small linking words inside the phrase; falls back to the words alone when the stretch
    would swallow anything but linking words.
    """
    if not words:
        return ""
    wanted = set(words)
    spans = [m.span() for m in _WORD.finditer(text) if m.group(0) in wanted]
    inner = _WORD.findall(text[spans[0][0]:spans[-1][1]])
    if all(w in wanted or w.lower() in _LINKING for w in inner):
        return " ".join(inner).lower()
    return " ".join(words).lower()


_LINKING = frozenset("of on in with and a an the".split())


_STATE_END = re.compile(r"\b(at|by|in) the end\b|\bfinally\b|\bin the last frame\b")
_EITHER = re.compile(r"\b([a-z]+) or ([a-z]+)\b")


def _kind(stem: str, options: tuple[str, ...], times: tuple[float, ...]) -> QuestionKind:
    low = stem.lower().strip()
    if re.match(r"^how (many|often)\b", low):
        return QuestionKind.COUNT
    if re.search(r"\b(in )?what order\b|\bwhich (comes|appears|is shown) first\b", low):
        return QuestionKind.ORDER
    if re.search(r"\bbetween\b.+\band\b", low):
        return QuestionKind.BETWEEN
    if re.match(r"^(is|are|was|were)\b", low) and (_STATE_END.search(low) or times) and (options or _EITHER.search(low)):
        return QuestionKind.STATE
    if options:
        return QuestionKind.CHOICE
    if re.search(r"\b(for the )?(last|final) time\b|\blast (appear|seen|shown)", low):
        return QuestionKind.LAST
    if re.search(r"\b(for the )?first time\b", low) and not re.search(r"\b(after|before)\b", low):
        return QuestionKind.FIRST
    if re.search(r"\b(after|following|next)\b", low):
        return QuestionKind.AFTER
    if re.search(r"\b(text|written|writing|sign|says?|caption|words?|read)\b", low) and re.search(
        r"^(what|which|read)\b", low
    ):
        return QuestionKind.TEXT
    if re.match(r"^(when|at what time|what time|at which time|how soon)\b", low):
        return QuestionKind.WHEN
    if re.match(r"^(does|do|did|is|are|was|were|has|have|can|could|will)\b", low):
        return QuestionKind.WHETHER
    if times:
        return QuestionKind.AROUND
    return QuestionKind.WHEN


_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def _items(stem: str, kind: QuestionKind) -> tuple[str, ...]:
    """The named things of an "order" or "between" question ("the cat, the bus and the lion")."""
    low = stem.strip().rstrip("?.! ")
    if kind is QuestionKind.ORDER:
        m = re.search(r"\b(?:do|does|did|are|were)\s+(.+?)\s+(?:first\s+)?(?:appear|show|shown|seen|come)", low, re.IGNORECASE)
        body = m.group(1) if m else low
    else:
        m = re.search(r"\bbetween\s+(.+)$", low, re.IGNORECASE)
        body = m.group(1) if m else ""
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", body) if p.strip()]
    return tuple(_ARTICLE.sub("", p) for p in parts)


def parse_question(question: str, options: list[str] | tuple[str, ...] | None = None) -> Cues:
    """Derive recall cues from a question.

    Args:
        question: The user's question, in English.
        options: Multiple-choice options given apart from the question (``--option``); when
            None, options written in the question as "(a) ... (b) ..." are used.

    Returns:
        The cues; ``kind`` picks the answer composer.

    Raises:
        ValueError: If ``question`` is empty.
        TypeError: If ``question`` is not a string.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question must not be empty")
    stem, inline = split_options(question)
    given = tuple(o.strip() for o in (options or ()) if o and o.strip())
    opts = given or inline
    if given:
        stem = question.strip()
    times_found = find_times(stem)
    times = tuple(t for t, _ in times_found)
    # Remove the time expressions before looking for content words.
    plain = stem
    for _, (s, e) in sorted(times_found, key=lambda x: -x[1][0]):
        plain = plain[:s] + " " + plain[e:]
    quoted = tuple(next(g for g in m.groups() if g) .strip() for m in _QUOTED.finditer(plain))
    unquoted = _QUOTED.sub(" ", plain)
    kind = _kind(stem, opts, times)
    runs = tuple(m.group(0) for m in _CODE_RUN.finditer(unquoted) if sum(c.isalpha() for c in m.group(0)) >= 4)
    quoted += runs
    unquoted = _CODE_RUN.sub(lambda m: " " if m.group(0) in runs else m.group(0), unquoted)
    code_words = tuple(
        dict.fromkeys(
            w.strip("-'") for w in _WORD.findall(unquoted)
            if _CODE.match(w.strip("-'")) and w.strip("-'") not in ("I", "A", "OK", "TV")
        )
    )
    if kind is QuestionKind.STATE and not opts:
        either = _EITHER.search(stem.lower())
        opts = (either.group(1), either.group(2))
    items = _items(stem, kind) if kind in (QuestionKind.ORDER, QuestionKind.BETWEEN) else ()
    words = _content_words(unquoted)
    if kind is QuestionKind.TEXT or code_words or quoted:
        words = [w for w in words if w.lower() not in _TEXT_SCAFFOLD]
    subject_words = [w for w in words if w not in code_words]
    if kind is QuestionKind.STATE:
        subject_words = [w for w in subject_words if w.lower() not in {o.lower() for o in opts} | {"or"}]
    subject = " ".join(quoted) if quoted and not subject_words else _phrase(unquoted, subject_words)
    terms = tuple(dict.fromkeys(w.lower() for w in subject_words)) if len(subject_words) > 1 else ()
    return Cues(
        question=question.strip(), kind=kind, subject=subject, terms=terms, quoted=quoted,
        code_words=code_words, times=times, options=opts, stem=stem, items=items,
    )
