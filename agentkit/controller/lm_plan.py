"""A plan written by a plugged instruction-tuned language model, as JSON checked by the `Plan` schema.

The grammar stays the ground: the model's plan is used only when it parses as JSON, validates,
and keeps to the question (its subject, items and options must occur in the question). Any
failure falls back to the grammar's plan, with a note saying why (shown by ``-v``).
"""
from __future__ import annotations

import json
import logging
import re

from pydantic import ValidationError

from agentkit.controller.plan import Plan, QuestionKind, parse_question
from agentkit.controller.prompts import LanguageModelLike

__all__ = ["plan_prompt", "plan_with_lm"]

logger = logging.getLogger(__name__)

_FIELDS = ("kind", "subject", "quoted", "times", "options", "items", "n", "window")


def plan_prompt(question: str) -> str:
    """An instruction asking for the plan as one JSON object (the question is quoted data)."""
    kinds = ", ".join(k.value for k in QuestionKind)
    example = parse_question("How many times does the red car appear before 02:00?")
    shown = json.dumps({k: v for k, v in example.model_dump(mode="json").items() if k in _FIELDS})
    return (
        "Turn the question about a video into a recall plan. Reply with one JSON object only, with keys "
        f"{', '.join(_FIELDS)}. kind is one of: {kinds}. times and window are in seconds.\n"
        f"Question: How many times does the red car appear before 02:00?\nPlan: {shown}\n"
        f"Question: {json.dumps(question)}\nPlan:"
    )


def _first_object(text: str) -> dict:
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    if not isinstance(obj, dict):
        raise ValueError("the reply is not a JSON object")
    return obj


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _grounded(plan: Plan, question: str) -> str:
    """Why the plan strays from the question, or "" when every phrase it names is in the question."""
    words = _words(question)
    for phrase in (plan.subject, *plan.items, *plan.options, *plan.quoted):
        missing = _words(phrase) - words
        if missing:
            return f"it names {phrase!r}, which the question does not ({', '.join(sorted(missing))})"
    return ""


def plan_with_lm(question: str, lm: LanguageModelLike, options: list[str] | None = None,
                 max_new_tokens: int = 160) -> Plan:
    """The language model's plan for ``question``, or the grammar's with a note when it fails.

    Raises:
        TypeError, ValueError: The question itself is not acceptable (see `parse_question`).
    """
    grammar = parse_question(question, options)
    try:
        reply = lm.generate(plan_prompt(grammar.question), max_new_tokens=max_new_tokens, stop=["\nQuestion:"])
        raw = {k: v for k, v in _first_object(reply).items() if k in _FIELDS and v is not None}
        plan = Plan.model_validate({**raw, "question": grammar.question, "stem": grammar.stem,
                                    "options": raw.get("options") or grammar.options, "origin": "language model"})
        stray = _grounded(plan, grammar.question)
        if stray:
            raise ValueError(stray)
    except (ValueError, ValidationError) as err:
        reason = " ".join(str(err).split())[:200]
        logger.info("language-model plan rejected (%s); using the grammar's", reason)
        return grammar.model_copy(update={"notes": (*grammar.notes, f"the language model's plan was rejected: {reason}; "
                                                                    "used the grammar's")})
    except Exception as err:  # a failing model must not lose the question
        logger.warning("language-model planning failed (%s); using the grammar's plan", err)
        return grammar.model_copy(update={"notes": (*grammar.notes, f"the language model failed ({type(err).__name__}); "
                                                                    "used the grammar's plan")})
    # Terms and text cues come from the grammar's reading of the words the model chose.
    reread = parse_question(f"When does {plan.subject} appear?") if plan.subject else None
    return plan.model_copy(update={"terms": reread.terms if reread else (),
                                   "code_words": reread.code_words if reread else ()})
