"""Summary questions: "What happens in this video?", "Which animals appear?", "Summarize the video".

Recall reads the source's latent slots (`memory.slots`: segments -> scenes -> chapters, rebuilt
from the store when it changed) instead of every segment: the chapters give the outline, the
scenes the distinct things recognised and the first time each is seen. A question about a kind
of thing ("animals", "vehicles") keeps the label names the frame encoder's WordNet hierarchy puts
under that word; "objects" and "things" keep every name.

Recognised labels and on-screen text are reported as memory holds them; on-screen text is
untrusted data and is only ever quoted.

The raw score is label mass: for an outline, the share of the chapters' label mass carried by the
labels it names (a scene the encoder is unsure of spreads its mass over many names); for a kind
of thing, the mean of each listed name's peak share in a scene. Calibrated in the "summary"
family; until `agentkit eval` has fitted rows for it, the calibrator's pooled model maps it, and
an answer below the abstention bar still shows its outline, marked as unsure.

A source with a live stream open in this agent (`agentkit.live.LiveStream`) is read from the
stream's online slots (`memory.slot_stream.SlotStream`, updated as each segment is written), not
rebuilt from the store on every question: the stream registers them in `Toolkit.live_slots` and
leaves when it closes, after which the store's slots (`memory.slot_files.load_slots`) apply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from agentkit.controller.draft import AnswerConfig, Draft, draft_answer
from agentkit.controller.findings import CueFinding, Findings
from agentkit.controller.plan import Plan
from agentkit.schemas import AnswerValue, Evidence
from agentkit.timefmt import format_span

__all__ = ["SummaryConfig", "compose_summary", "recall_summary"]

MAX_NAMES = 12
"""Distinct names an answer about a kind of thing lists."""

GENERIC_KINDS = frozenset({"", "object", "thing", "item", "stuff", "entity"})
"""Subjects that ask for every recognised thing."""


@dataclass(frozen=True)
class SummaryConfig:
    """How summaries read the slots."""

    slots: Any = None
    """`memory.slots.SlotConfig` of the slots read; None: its defaults."""
    min_share: float = 0.2
    """A label counts as seen in a scene when it holds this share of the scene's label mass (or is
    its top label)."""
    chapter_labels: int = 3
    """Labels named per chapter in an outline."""
    max_sources: int = 4
    """Sources outlined when the question names none."""


def _live_snapshot(live: Mapping[str, Any] | None, source: str, config: Any) -> Any:
    """The snapshot of ``source``'s live slots when they were built with ``config`` (a
    `memory.slots.SlotConfig`) and hold something, else None."""
    stream = (live or {}).get(source)
    if stream is None or stream.config != config or not len(stream):
        return None
    return stream.snapshot()


def _wanted(subject: str, vocabulary: Callable[[str], Any] | None) -> tuple[frozenset[str] | None, bool]:
    """(label names of the asked kind, or None for every name; whether the kind was understood)."""
    if subject in GENERIC_KINDS:
        return None, True
    if vocabulary is None:
        return None, False
    found = vocabulary(subject)
    names = frozenset(getattr(found, "names", ()) or ())
    return (names, True) if names else (None, False)


def _sightings(slots: Any, source: str, wanted: frozenset[str] | None, config: SummaryConfig) -> list[CueFinding]:
    """Each label seen in some scene (share >= ``min_share`` or top label), first sighting first."""
    scenes = slots.scenes
    seen: dict[str, dict[str, float]] = {}
    for i in range(len(scenes)):
        labels = scenes.labels[i]
        if not labels:
            continue
        top = max(labels, key=lambda k: (labels[k], k))
        for name, share in labels.items():
            if (share < config.min_share and name != top) or (wanted is not None and name not in wanted):
                continue
            s = seen.setdefault(name, {"first": scenes.first[i][name], "scene": i, "peak": 0.0, "mass": 0.0})
            s["peak"] = max(s["peak"], share)
            s["mass"] += share * float(scenes.count[i])
    out = []
    for name, s in sorted(seen.items(), key=lambda kv: (kv[1]["first"], -kv[1]["peak"], kv[0])):
        i = int(s["scene"])
        span = Evidence(source=source, t0=s["first"], t1=float(scenes.t1[i]), score=round(s["peak"], 4),
                        labels=[name], why=f'"{name}" first seen in scene {i + 1} of {len(scenes)}')
        out.append(CueFinding(cue=name, kind="label", confidence=round(min(1.0, s["peak"]), 4), spans=[span],
                              stats={"first": round(s["first"], 3), "peak": round(s["peak"], 4),
                                     "mass": round(s["mass"] / max(1, slots.n_segments), 4)}))
    return out


def _chapters(slots: Any, source: str, wanted: frozenset[str] | None, config: SummaryConfig) -> list[Evidence]:
    ch, out = slots.chapters, []
    for i in range(len(ch)):
        labels = {k: v for k, v in ch.labels[i].items() if wanted is None or k in wanted}
        best = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[: config.chapter_labels]
        lo, hi = (int(x) for x in ch.children[i])
        out.append(Evidence(
            source=source, t0=float(ch.t0[i]), t1=float(ch.t1[i]), score=round(sum(v for _, v in best), 4),
            labels=[k for k, _ in best], text=" | ".join(t for t, _ in ch.texts[i])[:300],
            why=f"chapter {i + 1} of {len(ch)}: {int(ch.count[i])} segments in {hi - lo} scene(s)"))
    return out


def recall_summary(plan: Plan, store: Any = None, *, reader: Any = None, source: str | None = None,
                   vocabulary: Callable[[str], Any] | None = None, live: Mapping[str, Any] | None = None,
                   config: SummaryConfig = SummaryConfig()) -> Findings:
    """The findings of a summary plan, read from the latent slots of each source asked about.

    Args:
        plan: A plan of kind ``summary``; its subject is the kind of thing asked for ("animal"),
            or empty for an outline.
        store: The open episodic store (`memory.store.EpisodicStore`); slots are cached beside it.
        reader: Without a store, a `MemoryReader`: slots are built in memory from its records
            (labels and text only: scenes follow changes of the top label).
        source: Restrict to one source id; None outlines up to ``config.max_sources`` sources.
        vocabulary: Expands a word into the frame encoder's label names (`Toolkit.vocabulary`).
        live: Source -> the online slots of a live stream open on it (`Toolkit.live_slots`);
            read instead of the store's slots.
        config: Thresholds.

    Returns:
        Findings: ``context`` holds the chapters (span, top labels, texts), ``cues`` one ``label``
        finding per distinct label seen (first sighting as its span), ``items`` the asked kind's
        label names when the vocabulary knows the kind; ``vocab_sim`` is 1.0 when the asked
        kind names label names of the frame encoder, 0.0 when it names none (then every label
        is listed, with a note), None for an outline or "objects".
    """
    from memory.slot_files import load_slots
    from memory.slots import SlotConfig, build_slots

    if store is None and reader is None:
        raise ValueError("recall_summary needs a store or a reader")
    slot_config = config.slots or SlotConfig()
    sources = [source] if source else list((store or reader).sources())[: config.max_sources]
    findings = Findings(question=plan.question, kind=plan.kind.value, subject=plan.subject, window=plan.window)
    wanted, understood = _wanted(plan.subject, vocabulary)
    if plan.subject not in GENERIC_KINDS:
        findings.vocab_sim = 1.0 if understood else 0.0
    for src in sources:
        if store is None:
            slots = build_slots(reader.records(src), slot_config, source=src)
        else:
            slots = _live_snapshot(live, src, slot_config)
            if slots is None:
                slots = load_slots(store, src, slot_config)
        findings.n_records += slots.n_segments
        findings.context += _chapters(slots, src, wanted, config)
        findings.cues += _sightings(slots, src, wanted, config)
    return findings


def _outline(f: Findings) -> tuple[str, list[str], list[str]]:
    """Per chapter "mm:ss-mm:ss: labels; on-screen text "..."" per chapter; the labels and texts named."""
    several = len({e.source for e in f.context}) > 1
    parts, labels, texts = [], [], []
    for e in f.context:
        where = (f"{e.source[:8]}@" if several else "") + format_span(e.t0, e.t1)
        what = ", ".join(e.labels) or "nothing recognised"
        line = f"{where}: {what}"
        shown = [t for t in e.text.split(" | ") if t]
        if shown:
            line += "; on-screen text " + ", ".join(f'"{t}"' for t in shown[:3])
        parts.append(line)
        labels += [x for x in e.labels if x not in labels]
        texts += [t for t in shown if t not in texts]
    return ". ".join(parts) + ".", labels, texts


def compose_summary(f: Findings, lm: Any, config: AnswerConfig) -> Draft:
    """An outline by chapter, or the distinct things of the asked kind with their first times."""
    f = f.model_copy(update={"context": sorted(f.context, key=lambda e: (e.source, e.t0))})
    return _kinds_answer(f, config, f.subject) if f.subject else _outline_answer(f, config)


def _outline_answer(f: Findings, config: AnswerConfig) -> Draft:
    text, labels, texts = _outline(f)
    total = sum(e.t1 - e.t0 for e in f.context) or 1.0
    # label mass the outline names, per chapter, weighted by the chapter's length
    named = sum(e.score * (e.t1 - e.t0) for e in f.context) / total if f.context else 0.0
    by_mass = sorted(f.cues, key=lambda c: -c.stats.get("mass", 0.0))
    value_labels = [c.cue for c in by_mass if c.cue in labels] + [x for x in labels if x not in {c.cue for c in by_mass}]
    n = len(f.context)
    lead = f"In {n} chapter{'s' if n != 1 else ''}: "
    return draft_answer(f, lead + text, named, f.context, config, "Not sure what the frames show; a best-effort outline: " + text,
                        value=AnswerValue(labels=value_labels, texts=texts),
                        features={"n_chapters": float(n), "n_labels": float(len(labels)), "named_mass": named})


def _kinds_answer(f: Findings, config: AnswerConfig, kind: str) -> Draft:
    plural = "people" if kind == "person" else kind + ("es" if kind.endswith(("s", "x", "ch", "sh")) else "s")
    found = f.cues[:MAX_NAMES]
    note = ""
    if f.vocab_sim == 0.0:
        note = f' (the frame encoder has no label names under "{kind}", so this lists everything it recognised)'
    if not found:
        span = format_span(min((e.t0 for e in f.context), default=0.0), max((e.t1 for e in f.context), default=0.0))
        return draft_answer(f, f"No {plural} recognised in memory ({span}).", 0.5, f.context, config,
                            value=AnswerValue(labels=[]), features={"n_labels": 0.0, "peak": 0.0})
    several = len({c.spans[0].source for c in found}) > 1
    listed = [f"{c.cue} (first at " + (f"{c.spans[0].source[:8]}@" if several else "")
              + format_span(c.spans[0].t0, c.spans[0].t0) + ")" for c in found]
    peak = sum(c.confidence for c in found) / len(found)
    raw = peak * (0.5 if note else 1.0)
    names = [c.cue for c in found]
    evidence = [e for e in f.context if set(e.labels) & set(names) or any(
        e.source == c.spans[0].source and e.t0 <= c.spans[0].t0 <= e.t1 for c in found)]
    text = f"{plural[0].upper()}{plural[1:]} seen{note}: " + "; ".join(listed) + "."
    return draft_answer(f, text, raw, evidence, config, f"Not sure which {plural} are shown; best guess: " + "; ".join(listed) + ".",
                        value=AnswerValue(labels=names), features={"n_labels": float(len(found)), "peak": peak})
