"""Questions about EEG answered from memory records, with evidence time spans.

The EEG observations (windows, artifacts, annotations, one recording summary) are written to
the same episodic store as video, on the caller's time axis. `answer_eeg` reads them through the
controller's `MemoryReader` protocol (`records(source)`), so it works on the store or on any
reader, and returns the controller's `Answer`. It handles the EEG question families below and
returns None for anything else, so the general controller can take over; it is written as a
function of (question, reader, source) for the controller to absorb as one more question kind.

Families: band power extremes ("when was alpha power highest?"), artifacts ("were there blink
artifacts?"), bad channels ("which channels were bad?"), eyes open/closed of a segment
(posterior alpha, Berger effect), annotations ("when was the 'stimulus' marker?").
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable

import numpy as np

from agentkit.controller.evidence import Record
from agentkit.controller.findings import record_evidence
from agentkit.eeg.report import mmss
from agentkit.schemas import Answer, Evidence
from agentkit.timefmt import find_times
from perception.eeg.features import BANDS

logger = logging.getLogger(__name__)

ARTIFACT_WORDS = {
    "blink": "blink", "eye": "blink", "flat": "flat", "clip": "clipped", "saturat": "clipped",
    "burst": "burst", "high-amplitude": "burst", "missing": "missing", "muscle": "ica:muscle artifact",
    "heart": "ica:heart beat", "ecg": "ica:heart beat", "line noise": "ica:line noise",
}


class ListReader:
    """`MemoryReader` over observations held in this process (no store)."""

    def __init__(self, observations: Iterable[Any]):
        self._records = [Record(id=i, source=o.source, t0=float(o.t0), t1=float(o.t1), labels=dict(o.labels),
                                text=o.text, meta=dict(o.meta, kind=o.kind, modality=o.modality))
                         for i, o in enumerate(observations)]

    def records(self, source: str | None = None) -> list[Record]:
        return sorted((r for r in self._records if source is None or r.source == source), key=lambda r: (r.source, r.t0))

    def similarity(self, space, vector, source=None) -> dict[int, float]:
        return {}

    def sources(self) -> list[str]:
        return sorted({r.source for r in self._records})


def _kind(r: Record) -> str:
    return r.meta.get("kind") or ("window" if "window" in r.meta else "artifact" if "artifact" in r.meta
                                  and isinstance(r.meta["artifact"], str) else "event")


def eeg_records(records: list[Record]) -> list[Record]:
    """The EEG records among ``records`` (the ones the EEG question families read)."""
    return [r for r in records if r.meta.get("modality", "eeg") == "eeg" and "recipe" in r.meta]


def _asked_span(q: str, around: float) -> tuple[float, float]:
    """The span a question asks about: between its first two times, ``around`` seconds either
    side of a single time, or the whole recording when it names none."""
    times = [t for t, _ in find_times(q)]
    if len(times) >= 2:
        return min(times[:2]), max(times[:2])
    if len(times) == 1:
        return times[0] - around, times[0] + around
    return -np.inf, np.inf


def _merge(records: list[Record], gap: float = 0.0) -> list[tuple[float, float, list[Record]]]:
    out: list[tuple[float, float, list[Record]]] = []
    for r in sorted(records, key=lambda r: r.t0):
        if out and r.t0 <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], r.t1), out[-1][2] + [r])
        else:
            out.append((r.t0, r.t1, [r]))
    return out


def answer_eeg(question: str, reader: Any, source: str | None = None) -> Answer | None:
    """Answer an EEG question from memory, or None when it is not an EEG question we handle."""
    q = question.lower()
    records = eeg_records(reader.records(source))
    if not records:
        return None
    windows = [r for r in records if _kind(r) == "window"]
    artifacts = [r for r in records if _kind(r) == "artifact"]
    summary = next((r for r in records if r.meta.get("summary")), None)

    encoded = [r for r in records if _trained(r)]
    if encoded:
        classes = encoded[0].meta.get("classes", [])
        named = [c for c in classes if len(c) >= 3 and re.search(rf"\b{re.escape(c.lower())}\b", q)]
        if named:
            return _classify(question, encoded, classes)
    windows = [r for r in windows if not _trained(r)]
    if "eye" in q and any(w in q for w in ("open", "closed", "shut")):
        return _eyes(question, windows, summary)
    band = next((b for b in BANDS if b in q), None)
    if band and any(w in q for w in ("highest", "most", "strongest", "peak", "max", "lowest", "least", "weakest", "min")):
        return _band_extreme(question, band, windows, low=any(w in q for w in ("lowest", "least", "weakest", "min")))
    if "channel" in q and any(w in q for w in ("bad", "noisy", "broken", "flat", "poor")):
        return _bad_channels(question, artifacts, summary)
    kind = next((v for k, v in ARTIFACT_WORDS.items() if k in q), None)
    if kind or "artifact" in q or "artefact" in q:
        return _artifacts(question, kind, artifacts, summary)
    quoted = re.findall(r"[\"'“‘]([^\"'”’]+)[\"'”’]", question)
    if quoted or "annotation" in q or "marker" in q:
        return _annotations(question, quoted, [r for r in records if r.labels.get("annotation")])
    return None


def _trained(r: Record) -> bool:
    """A window scored by a trained trial encoder (the transformer, or any `perception.eeg.encoders` one)."""
    return r.meta.get("encoder") == "eeg_transformer" or bool(r.meta.get("trained_encoder"))


def ask_memory(question: str, reader: Any, source: str | None = None) -> Answer:
    """EEG families first (`answer_eeg`); any other question goes to the general controller
    (cues -> recall -> compose, no language model), over the same records."""
    answer = answer_eeg(question, reader, source)
    if answer is not None:
        return answer
    from agentkit.controller.compose import compose_answer
    from agentkit.controller.plan import QuestionKind, parse_question
    from agentkit.controller.recall import recall
    from agentkit.controller.summary import recall_summary

    plan = parse_question(question)
    if plan.kind is QuestionKind.SUMMARY:
        return compose_answer(recall_summary(plan, reader=reader, source=source))
    return compose_answer(recall(plan, reader, None, source=source))


def _classify(question: str, windows: list[Record], classes: list[str]) -> Answer:
    """Mean calibrated class probability of a trained encoder's windows in the asked span."""
    lo, hi = _asked_span(question, around=1.0)
    inside = [w for w in windows if w.t0 < hi and w.t1 > lo]
    if not inside:
        return Answer(question=question, text="No encoded EEG window covers that segment.", confidence=0.0, abstained=True)
    p = np.mean([[w.labels.get(c, 0.0) for c in classes] for w in inside], axis=0)
    best = int(np.argmax(p))
    span = f"{mmss(inside[0].t0)}-{mmss(inside[-1].t1)}"
    text = (f"{classes[best]} during {span} (trained encoder, mean calibrated probability {p[best]:.2f} over "
            f"{len(inside)} windows).")
    return Answer(question=question, text=text, confidence=round(float(p[best]), 3), abstained=bool(p[best] < 0.6),
                  evidence=[record_evidence(w, f"p({classes[best]})={w.labels.get(classes[best], 0):.2f}", w.labels.get(classes[best], 0))
                            for w in inside[:8]])


def _band_extreme(question: str, band: str, windows: list[Record], low: bool) -> Answer:
    clean = [w for w in windows if not w.meta.get("artifact")]
    if len(clean) < 3:
        return Answer(question=question, text=f"Not enough artifact-free EEG windows to compare {band} power.",
                      confidence=0.0, abstained=True)
    use_post = band == "alpha" and all(w.meta.get("alpha_posterior") is not None for w in clean)
    vals = np.array([w.meta["alpha_posterior"] if use_post else w.labels.get(band, 0.0) for w in clean])
    order = np.argsort(vals)
    best = order[0] if low else order[-1]
    top = vals[best]
    # windows within 10% of the extreme (relative to the spread) form the answer span(s)
    spread = float(vals.max() - vals.min()) + 1e-12
    near = [clean[i] for i in range(len(clean)) if abs(vals[i] - top) <= 0.1 * spread]
    spans = _merge(near)
    spans.sort(key=lambda s: -max(abs(r.meta.get("alpha_posterior") or 0) if use_post else r.labels.get(band, 0) for r in s[2]))
    z = abs(top - np.median(vals)) / (np.median(np.abs(vals - np.median(vals))) * 1.4826 + 1e-9)
    conf = float(min(0.95, 0.4 + 0.1 * z)) if len(spans) <= 3 else float(min(0.6, 0.2 + 0.05 * z))
    where = "posterior" if use_post else "mean over channels"
    word = "lowest" if low else "highest"
    t0, t1, rs = spans[0]
    text = (f"Relative {band} power ({where}) was {word} at {mmss(t0)}-{mmss(t1)} ({top * 100:.0f}% of 1-45 Hz power)"
            + (f"; {len(spans) - 1} other span(s) come close" if len(spans) > 1 else "") + ".")
    ev = [record_evidence(r, f"{band} relative power {(r.meta['alpha_posterior'] if use_post else r.labels.get(band, 0)) * 100:.0f}%", 1.0)
          for s in spans[:3] for r in s[2][:3]]
    return Answer(question=question, text=text, confidence=round(conf, 3), evidence=ev)


def _artifacts(question: str, kind: str | None, artifacts: list[Record], summary: Record | None) -> Answer:
    if kind == "blink" and summary is not None and not summary.meta.get("frontal"):
        return Answer(question=question, text="Blinks cannot be assessed: the recording has no frontal channel.",
                      confidence=0.0, abstained=True)
    if kind and kind.startswith("ica:") and summary is not None and not summary.meta.get("ica"):
        return Answer(question=question, text=f"{kind[4:].capitalize()} components need ICA, which was not run "
                      "on this recording (use --ica).", confidence=0.0, abstained=True)
    hits = [r for r in artifacts if kind is None or kind in r.labels]
    name = (kind or "artifact").replace("ica:", "")
    if not hits:
        return Answer(question=question, text=f"No {name} artifacts were found.", confidence=0.7,
                      evidence=[record_evidence(summary, "whole recording checked", 0.7)] if summary else [])
    score = float(np.mean([max(r.labels.values()) for r in hits]))
    kinds = sorted({k for r in hits for k in r.labels})
    text = (f"Yes: {len(hits)} {name} span(s), first at {mmss(hits[0].t0)}"
            + (f", kinds: {', '.join(kinds)}" if kind is None else "") + ".")
    return Answer(question=question, text=text, confidence=round(min(0.95, score), 3),
                  evidence=[record_evidence(r, f"detected {', '.join(r.labels)}", max(r.labels.values())) for r in hits[:10]])


def _bad_channels(question: str, artifacts: list[Record], summary: Record | None) -> Answer:
    bad = list(summary.meta.get("bad_channels", [])) if summary else []
    if not bad:
        return Answer(question=question, text="No channel was flat, clipped or missing for most of the recording.",
                      confidence=0.8, evidence=[record_evidence(summary, "channel checks over the whole recording", 0.8)] if summary else [])
    ev = [record_evidence(r, f"{', '.join(r.labels)} on {', '.join(r.meta.get('channels', [])[:6])}", max(r.labels.values()))
          for r in artifacts if set(r.meta.get("channels", [])) & set(bad) and set(r.labels) & {"flat", "clipped", "missing"}]
    return Answer(question=question, text=f"Bad channels: {', '.join(bad)}.", confidence=0.9, evidence=ev[:10])


def _eyes(question: str, windows: list[Record], summary: Record | None) -> Answer:
    if summary is not None and not summary.meta.get("posterior"):
        return Answer(question=question, text="Cannot tell: no posterior (occipital/parietal) channel to read alpha from.",
                      confidence=0.0, abstained=True)
    lo, hi = _asked_span(question, around=2.0)
    inside = [w for w in windows if w.t0 < hi and w.t1 > lo and not w.meta.get("artifact")
              and w.meta.get("alpha_posterior") is not None]
    if not inside:
        return Answer(question=question, text="No artifact-free EEG window covers that segment.", confidence=0.0, abstained=True)
    alpha = float(np.mean([w.meta["alpha_posterior"] for w in inside]))
    # Berger effect: closing the eyes raises posterior alpha. A fixed logistic map of the posterior
    # relative alpha power (1-30 Hz), centred at 0.30: a heuristic, not a trained classifier.
    p_closed = float(1 / (1 + np.exp(-(alpha - 0.30) / 0.05)))
    state = "eyes closed" if p_closed >= 0.5 else "eyes open"
    conf = max(p_closed, 1 - p_closed)
    span = f"{mmss(inside[0].t0)}-{mmss(inside[-1].t1)}"
    if conf < 0.65:
        return Answer(question=question, text=f"Unclear for {span}: posterior alpha is {alpha * 100:.0f}% of 1-30 Hz power, "
                      "between the eyes-open and eyes-closed ranges.", confidence=round(conf, 3), abstained=True,
                      evidence=[record_evidence(w, "posterior alpha", 0.5) for w in inside[:5]])
    return Answer(question=question, text=f"Most likely {state} during {span}: posterior alpha is {alpha * 100:.0f}% "
                  "of 1-30 Hz power (alpha rises when the eyes close; heuristic, not a trained classifier).",
                  confidence=round(conf * 0.9, 3), evidence=[record_evidence(w, f"posterior alpha {w.meta['alpha_posterior'] * 100:.0f}%", conf)
                                                             for w in inside[:5]])


def _annotations(question: str, quoted: list[str], events: list[Record]) -> Answer:
    if not events:
        return Answer(question=question, text="The recording has no annotations.", confidence=0.8)
    hits = [e for e in events if not quoted or any(q.lower() in e.text.lower() for q in quoted)]
    if not hits:
        return Answer(question=question, text=f"No annotation matches {', '.join(quoted)}.", confidence=0.7)
    return Answer(question=question, text=f"{len(hits)} annotation(s), first at {mmss(hits[0].t0)}.", confidence=0.9,
                  evidence=[record_evidence(e, "file annotation (text from the file, unverified)", 1.0) for e in hits[:10]])
