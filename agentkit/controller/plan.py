"""Turn a question into a plan: a typed recall operator, what to look for, and where in time.

The default planner is a deterministic grammar: the plan decides what evidence is fetched, so it
must be predictable and testable. A plugged language model may write the same `Plan` as JSON
(`agentkit.controller.lm_plan`); it is validated by this schema and falls back to the grammar.
Follow-up questions in a conversation are rewritten against the previous turn (`follow_up`).
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentkit.timefmt import find_times

__all__ = ["QuestionKind", "Plan", "parse_question", "split_options", "check_question", "MAX_QUESTION_CHARS"]

OPEN_END = 1e9
"""The end of a window that has none ("after 10:00"), seconds."""

MAX_QUESTION_CHARS = 2000
"""Longer questions are refused: no question about a video needs more, and the planner is linear in it."""


class QuestionKind(str, Enum):
    """The plan's recall operator: what kind of answer the question wants (each has its composer)."""

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
    NTH = "nth"
    """"When does X appear for the second time?": X's n-th span in time order."""
    BEFORE = "before"
    """"What appears right before X?": the segments that precede X's first span (or a time)."""
    DURATION = "duration"
    """"How long is X on screen?": the total time of X's spans."""
    SUMMARY = "summary"
    """"What happens in this video?", "Which animals appear?": a chapter outline, or the distinct
    things of a kind (the subject) with their first times."""


CONCEPT_KINDS = frozenset({QuestionKind.WHEN, QuestionKind.WHETHER, QuestionKind.COUNT, QuestionKind.FIRST,
                           QuestionKind.LAST, QuestionKind.NTH, QuestionKind.DURATION})
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
    long duration total stay stays stayed remain remains until till since within
    minute minutes second seconds preceding prior appearance appearances occurrence occurrences
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


class Plan(BaseModel):
    """A question as recall operators: what to find, how to read its timeline, and where in time.

    Every field is plain data, so a plan is checkpointed with the conversation, shown by
    ``agentkit ask -v`` and ``--json``, and can be written by a language model as JSON.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    kind: QuestionKind = Field(description="the recall operator")
    subject: str = Field("", description='the concept or text the question is about ("red car")')
    terms: tuple[str, ...] = Field((), description="the subject's content words one by one, for cue agreement")
    quoted: tuple[str, ...] = Field((), description="phrases in quotes (or signs in capitals): matched as on-screen text")
    code_words: tuple[str, ...] = Field((), description='tokens that look like codes ("ZX-41"): matched as on-screen text')
    times: tuple[float, ...] = Field((), description="times named in the question, seconds")
    options: tuple[str, ...] = Field((), description="multiple-choice options (or the two states of a sign)")
    items: tuple[str, ...] = Field((), description='the things an "order" or "between" question names')
    n: int | None = Field(None, ge=1, le=100, description='which occurrence an "nth" question asks for')
    window: tuple[float, float] | None = Field(None, description="restrict recall to this time range, seconds")
    stem: str = Field("", description="the question without its options")
    origin: Literal["grammar", "language model", "follow-up"] = "grammar"
    notes: tuple[str, ...] = Field((), description="how the plan was made: fallbacks, follow-up rewrites")
    unsupported: str = Field("", description='what the question asks that no operator answers ("why", "what colour"); '
                             'it is read as "when does the subject appear?", and a "no" to that is no answer to it')

    @field_validator("times")
    @classmethod
    def _times_not_negative(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(t < 0 for t in v):
            raise ValueError("times must be >= 0 seconds")
        return v

    @model_validator(mode="after")
    def _operator_has_its_operands(self) -> "Plan":
        k = self.kind
        if k is QuestionKind.ORDER and len(self.items) < 2:
            raise ValueError("an order plan needs at least two items")
        if k is QuestionKind.BETWEEN and len(self.items) != 2:
            raise ValueError("a between plan needs exactly two items")
        if k in (QuestionKind.CHOICE, QuestionKind.STATE) and len(self.options) < 2:
            raise ValueError(f"a {k.value} plan needs at least two options")
        if k is QuestionKind.NTH and self.n is None:
            raise ValueError("an nth plan needs n")
        if k is QuestionKind.AROUND and not self.times:
            raise ValueError("an around plan needs a time")
        if self.window is not None and not 0 <= self.window[0] < self.window[1]:
            raise ValueError("window must be (start, end) with 0 <= start < end")
        return self

    @property
    def text_cues(self) -> tuple[str, ...]:
        """Strings to look for in on-screen text: quoted phrases, then code words."""
        seen: list[str] = []
        for item in (*self.quoted, *self.code_words):
            if item.lower() not in (s.lower() for s in seen):
                seen.append(item)
        return tuple(seen)

    def describe(self) -> str:
        """One line for people: the operator and its operands."""
        parts = [self.kind.value]
        if self.n:
            parts.append(f"n={self.n}")
        if self.items:
            parts.append("items=" + " | ".join(self.items))
        elif self.subject or self.text_cues:
            parts.append(f'subject="{self.subject or self.text_cues[0]}"')
        if self.text_cues:
            parts.append("text=" + " | ".join(self.text_cues))
        if self.times:
            parts.append("times=" + ", ".join(f"{t:g}s" for t in self.times))
        if self.window:
            w0, w1 = self.window
            parts.append(f"window=from {w0:g}s" if w1 >= OPEN_END else f"window={w0:g}-{w1:g}s")
        if self.options:
            parts.append("options=" + " | ".join(self.options))
        return " ".join(parts) + f" (by {self.origin})"


def check_question(question: object) -> str:
    """The question stripped, or a clear error: not text, empty, or longer than `MAX_QUESTION_CHARS`.

    Raises:
        TypeError: ``question`` is not a string.
        ValueError: It is empty or too long.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be text (str), got {type(question).__name__}")
    text = question.strip()
    if not text:
        raise ValueError("question must not be empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return text


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


_ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10}
_NTH = re.compile(r"\b(?:for the |the )?(second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|(\d+)(?:st|nd|rd|th))"
                  r" (?:time|appearance|occurrence)\b", re.IGNORECASE)


def _nth(low: str) -> int | None:
    m = _NTH.search(low)
    if not m:
        return None
    return int(m.group(2)) if m.group(2) else _ORDINALS[m.group(1).lower()]


_SUMMARY_WHOLE = re.compile(
    r"^(?:(?:can you |please )?(?:summari[sz]e|describe|give (?:me )?(?:a )?(?:summary|an overview) of|outline)"
    r" (?:the|this) (?:whole )?(?:video|clip|film|footage|recording)"
    r"|what (?:happens|is happening|goes on|is going on|happened) in (?:the|this) (?:video|clip|film|footage|recording)"
    r"|what (?:happens|is happening|goes on|happened)"
    r"|what is (?:the|this) (?:video|clip|film|footage|recording) about"
    r"|what does (?:the|this) (?:video|clip|film|footage|recording) show"
    r"|(?:give me )?(?:a )?summary(?: of (?:the|this) (?:video|clip|film|footage|recording))?)\s*[?.!]*$")
_SUMMARY_KIND = re.compile(
    r"^(?:what|which) (?:kinds? of |types? of |sorts? of )?([a-z]+s|people|[a-z]*fish|sheep|deer)"
    r" (?:appear|are (?:shown|seen|visible|present|there|in)|were (?:shown|seen|visible|there|in)"
    r"|can (?:you |i |we )?(?:see|be seen)|do (?:you|we|i) see|show up)\b")
_NOT_SUMMARY = re.compile(r"\b(first|last|order|before|after|between|times|often|long|then|next)\b")


def _summary_subject(low: str) -> str | None:
    """"" for a whole-source summary, the kind asked for ("animal") for "which animals appear?",
    None when the question is not a summary. Text kinds ("signs", "words") stay text questions."""
    low = low.strip()
    if _SUMMARY_WHOLE.match(low):
        return ""
    m = _SUMMARY_KIND.match(low)
    if not m or _NOT_SUMMARY.search(low) or m.group(1) in _TEXT_SCAFFOLD:
        return None
    word = m.group(1)
    if word == "people":
        return "person"
    if re.search(r"(ss|sh|ch|x|us)es$", word):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


# Questions about something no operator reads (a reason, a person, a place, an attribute): the
# grammar still finds when their subject appears, but says it cannot answer what was asked.
_ASKS_OTHER = re.compile(r"^(why|who|whom|whose|where|how(?! (?:many|often|long|soon)\b)|what (?:colou?r|size|shape|"
                         r"brand|breed|make|model|material|temperature|speed|age|name)|what (?:is|are) (?:the|a|an) .+ doing)\b")


def _kind(stem: str, options: tuple[str, ...], times: tuple[float, ...], windowed: bool = False) -> QuestionKind:
    low = stem.lower().strip()
    if not options and not times and not windowed and _summary_subject(low) is not None:
        return QuestionKind.SUMMARY
    if re.match(r"^how (many|often)\b", low):
        return QuestionKind.COUNT
    if re.match(r"^(for )?how long\b|^what is the (total )?(duration|screen time)\b", low):
        return QuestionKind.DURATION
    if re.search(r"\b(in )?what order\b|\bwhich (comes|appears|is shown) first\b", low):
        return QuestionKind.ORDER
    if re.search(r"\bbetween\b.+\band\b", low) and not windowed:
        return QuestionKind.BETWEEN
    if re.match(r"^(is|are|was|were)\b", low) and (_STATE_END.search(low) or times) and (options or _EITHER.search(low)):
        return QuestionKind.STATE
    if options:
        return QuestionKind.CHOICE
    if re.search(r"\b(for the )?(last|final) time\b|\blast (appear|seen|shown)", low):
        return QuestionKind.LAST
    if _nth(low):
        return QuestionKind.NTH
    if re.search(r"\b(for the )?first time\b", low) and not re.search(r"\b(after|before)\b", low):
        return QuestionKind.FIRST
    concept_question = re.match(r"^(when|at what time|what time|does|do|did|is|are|was|were|has|have)\b", low)
    if not windowed and not concept_question and re.search(r"\b(before|preceding|prior to)\b", low):
        return QuestionKind.BEFORE
    if not windowed and not concept_question and re.search(r"\b(after|following|next)\b", low):
        return QuestionKind.AFTER
    if re.search(r"\b(text|written|writing|sign|says?|caption|words?|read)\b", low) and re.search(
        r"^(what|which|read)\b", low
    ):
        return QuestionKind.TEXT
    if re.match(r"^(when|at what time|what time|at which time|how soon)\b", low):
        return QuestionKind.WHEN
    if re.match(r"^(does|do|did|is|are|was|were|has|have|can|could|will)\b", low):
        return QuestionKind.WHETHER
    if times and not windowed:
        return QuestionKind.AROUND
    return QuestionKind.WHEN


# "between 01:00 and 02:00", "before 01:30", "after 2 minutes", "in the first 3 minutes": a window
# on a question about a concept, not an operator of its own.
_WINDOW_WORDS = re.compile(r"\b(between|from|before|after|until|till|by|since|in the first|within the first)\s*$",
                           re.IGNORECASE)


def _window(stem: str, times_found: list[tuple[float, tuple[int, int]]]) -> tuple[tuple[float, float] | None, list]:
    """The time window the stem restricts to, and the time expressions it used up."""
    ordered = sorted(times_found, key=lambda x: x[1][0])
    for i, (t, (s, e)) in enumerate(ordered):
        m = _WINDOW_WORDS.search(stem[:s])
        if not m:
            continue
        word = m.group(1).lower()
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if word in ("between", "from") and nxt and re.fullmatch(r"\s*(and|to|-|until|till)\s*", stem[e:nxt[1][0]], re.I):
            lo, hi = sorted((t, nxt[0]))
            return ((lo, hi), [ordered[i], nxt]) if hi > lo else (None, [])
        if word in ("before", "until", "till", "by", "in the first", "within the first") and t > 0:
            return (0.0, t), [ordered[i]]
        if word in ("after", "since"):
            return (t, OPEN_END), [ordered[i]]
    return None, []


_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def _items(stem: str, kind: QuestionKind) -> tuple[str, ...]:
    """The named things of an "order" or "between" question ("the cat, the bus and the lion")."""
    low = stem.strip().rstrip("?.! ")
    if kind is QuestionKind.ORDER:
        which = re.search(r"\bwhich\s+(?:comes|appears|is shown)\s+first\b[\s,:;-]*(.+)$", low, re.IGNORECASE)
        m = re.search(r"\b(?:do|does|did|are|were)\s+(.+?)\s+(?:first\s+)?(?:appear|show|shown|seen|come)", low, re.IGNORECASE)
        body = which.group(1) if which else (m.group(1) if m else low)
        if which:  # "which comes first, the zebra or the walrus?": the options are the items
            body = re.sub(r",?\s+or\s+", ", ", body)
    else:
        m = re.search(r"\bbetween\s+(.+)$", low, re.IGNORECASE)
        body = m.group(1) if m else ""
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", body) if p.strip()]
    return tuple(_ARTICLE.sub("", p) for p in parts)


def parse_question(question: str, options: list[str] | tuple[str, ...] | None = None) -> Plan:
    """The grammar planner: a question in English -> its `Plan`.

    Args:
        question: The user's question.
        options: Multiple-choice options given apart from the question (``--option``); when
            None, options written in the question as "(a) ... (b) ..." are used.

    Raises:
        TypeError: If ``question`` is not a string.
        ValueError: If ``question`` is empty or longer than `MAX_QUESTION_CHARS`.
    """
    question = check_question(question)
    stem, inline = split_options(question)
    given = tuple(o.strip() for o in (options or ()) if o and o.strip())
    opts = given or inline
    if given:
        stem = question
    times_found = find_times(stem)
    low = stem.lower()
    window, used = _window(stem, times_found) if re.match(
        r"^(when|at what time|what time|does|do|did|is|are|was|were|has|have|how many|how often|how long|for how long)\b",
        low.strip()) else (None, [])
    times = tuple(t for t, span in times_found if (t, span) not in used)
    # Remove the time expressions (and the words that made a window) before looking for content words.
    plain = stem
    for _, (s, e) in sorted(times_found, key=lambda x: -x[1][0]):
        plain = plain[:s] + " " + plain[e:]
    if window is not None:
        plain = re.sub(r"\b(between|from|before|after|until|till|since|in the first|within the first)\s+(and|to)?\s*"
                       r"(minutes?|seconds?|mins?|secs?)?", " ", plain, flags=re.IGNORECASE)
    quoted = tuple(next(g for g in m.groups() if g).strip() for m in _QUOTED.finditer(plain))
    unquoted = _QUOTED.sub(" ", plain)
    kind = _kind(stem, opts, times, windowed=window is not None)
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
        either = _EITHER.search(low)
        opts = (either.group(1), either.group(2))
    items = _items(stem, kind) if kind in (QuestionKind.ORDER, QuestionKind.BETWEEN) else ()
    few_items = kind is QuestionKind.ORDER and len(items) < 2
    if few_items:  # "which comes first?" names nothing to put in order: ask when the subject appears
        kind, items = QuestionKind.WHEN, ()
    n = _nth(low) if kind is QuestionKind.NTH else None
    if n is not None:
        unquoted = _NTH.sub(" ", unquoted)
    words = _content_words(unquoted)
    if kind is QuestionKind.TEXT or code_words or quoted:
        words = [w for w in words if w.lower() not in _TEXT_SCAFFOLD]
    subject_words = [w for w in words if w not in code_words]
    if kind is QuestionKind.STATE:
        subject_words = [w for w in subject_words if w.lower() not in {o.lower() for o in opts} | {"or"}]
    subject = " ".join(quoted) if quoted and not subject_words else _phrase(unquoted, subject_words)
    terms = tuple(dict.fromkeys(w.lower() for w in subject_words)) if len(subject_words) > 1 else ()
    if kind is QuestionKind.SUMMARY:  # the subject is the kind of thing asked for, or nothing
        subject, terms = _summary_subject(low) or "", ()
    other = _ASKS_OTHER.match(low.strip()) if kind is QuestionKind.WHEN and not re.match(
        r"^(when|at what time|what time|at which time|how soon)\b", low.strip()) else None
    unsupported = ("what ... doing" if other.group(1).endswith("doing") else other.group(1)) if other else ""
    notes = (f'no operator answers "{unsupported}": read as "when does {subject} appear?"',) if unsupported else ()
    if few_items:
        notes += (f'an order question needs two or more things: read as "when does {subject or "it"} appear?"',)
    return Plan(
        question=question, kind=kind, subject=subject, terms=terms, quoted=quoted, code_words=code_words,
        times=times, options=opts, stem=stem, items=items, n=n, window=window, unsupported=unsupported,
        notes=notes,
    )
