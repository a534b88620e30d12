"""A seeded set of labelled questions over videos composed from the real packaged clips.

Each video is background scenes with needles at known times: pictures the frame encoder can name
(1-3 times each), code-word signs, and a gate sign that changes state. Some needles sit back to
back so "right after X" and "between A and B" have one true answer. Questions of every family
are written from that ground truth, including never-shown concepts (far and near misses) and
unanswerable ones. Videos are split into fit and test, so no video is in both.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from agentkit.evaluation.cases import Case
from agentkit.evaluation.catalog import FAR_NEGATIVES, PICTURES, SIGN_WORDS, UNRECOGNISABLE, picture_pixels
from agentkit.timefmt import format_time

__all__ = ["DEFAULT_LENGTHS", "GeneratedVideo", "plan_video", "generate_set"]

DEFAULT_LENGTHS = (60, 75, 90, 120, 150, 180, 240, 300, 420, 600, 900, 3600)
"""Video lengths (s) of each split: one minute to one hour."""
SIZE = (320, 180)
PER_FAMILY = 4
"""Questions per family per video (fewer where the video cannot pose more)."""
WIDE = {"whether": 3, "when": 3, "choice": 3}
"""Families asked this many times more often: their calibration (and conformal sets) need the numbers."""


@dataclass
class _Needle:
    t0: int
    dur: int
    kind: str            # "picture", "sign", "gate", "unknown"
    key: str             # picture key, sign word, "GATE n OPEN"...

    @property
    def span(self) -> tuple[float, float]:
        return float(self.t0), float(self.t0 + self.dur)


@dataclass
class GeneratedVideo:
    """One planned video: its needles and questions."""

    name: str
    duration: int
    seed: int
    needles: list[_Needle]
    cases: list[Case]


def _layout(units: list[list[tuple[str, str, int]]], duration: int, rng: random.Random) -> list[_Needle]:
    """Place units (back-to-back needle runs) in random order with random gaps of >= 2 s."""
    rng.shuffle(units)
    busy = sum(d for u in units for _, _, d in u)
    free = duration - busy - 4
    if free < 2 * (len(units) + 1):
        raise ValueError(f"{duration} s is too short for {len(units)} needle runs")
    weights = [rng.random() + 0.3 for _ in range(len(units) + 1)]
    gaps = [2 + int((free - 2 * len(weights)) * w / sum(weights)) for w in weights]
    out, t = [], 2 + gaps[0]
    for unit, gap in zip(units, gaps[1:]):
        for kind, key, dur in unit:
            out.append(_Needle(t, dur, kind, key))
            t += dur
        t += gap
    return out


def plan_video(name: str, duration: int, seed: int, split: str) -> GeneratedVideo:
    """Choose needles and write questions for one video (deterministic in ``seed``)."""
    rng = random.Random(seed)
    long = duration >= 300
    keys = rng.sample(sorted(PICTURES), k=min(len(PICTURES), rng.randint(3, 5) + (1 if long else 0)))
    occurrences = {k: rng.randint(1, 3 if duration < 120 else 4) for k in keys}
    runs = 2 if duration < 90 else 3
    words = rng.sample(SIGN_WORDS, 3 * runs)
    gate = rng.randint(1, 9)
    states = [rng.choice(["OPEN", "CLOSED"])]
    for _ in range(rng.randint(1, 2)):
        states.append("CLOSED" if states[-1] == "OPEN" else "OPEN")
    dur = lambda: rng.randint(2, 3)  # noqa: E731
    # "after": a sign, then a picture right after it; "between": sign, picture, sign.
    units: list[list[tuple[str, str, int]]] = []
    for r in range(runs):
        after_pic, between_pic = rng.choice(keys), rng.choice(keys)
        units.append([("sign", words[3 * r], 2), ("picture", after_pic, dur())])
        units.append([("sign", words[3 * r + 1], 2), ("picture", between_pic, dur()), ("sign", words[3 * r + 2], 2)])
        occurrences[after_pic] = max(0, occurrences[after_pic] - 1)
        occurrences[between_pic] = max(0, occurrences[between_pic] - 1)
    # A short video holds fewer repeats: each needle run needs about 7 s with its gaps.
    room = (duration - 4) // 7 - len(units) - len(states) - 1
    while sum(occurrences.values()) > room and any(occurrences.values()):
        k = max(occurrences, key=lambda x: (occurrences[x], x))
        occurrences[k] -= 1
    for k, n in occurrences.items():
        units += [[("picture", k, dur())] for _ in range(n)]
    if rng.random() < 0.5:
        units.append([("unknown", "astronaut", 2)])
    gate_units = [[("gate", f"GATE {gate} {s}", 2)] for s in states]
    needles = _layout(units + gate_units, duration, rng)
    # The gate's states are in the planned order whatever order the layout gave their slots.
    gate_slots = sorted((n for n in needles if n.kind == "gate"), key=lambda n: n.t0)
    for n, s in zip(gate_slots, states):
        n.key = f"GATE {gate} {s}"
    cases = _questions(name, duration, needles, gate, split, rng)
    return GeneratedVideo(name, duration, seed, needles, cases)


class _Questions:
    """The questions of one video, by family, written in a fixed order so a seed gives one set."""

    def __init__(self, needles: list[_Needle], rng: random.Random):
        self.rng = rng
        self.pics: dict[str, list[_Needle]] = {}
        for n in needles:
            if n.kind == "picture":
                self.pics.setdefault(n.key, []).append(n)
        self.shown = sorted(self.pics)
        self.out: dict[str, list[dict]] = {}

    def add(self, family: str, question: str, truth: dict, options: list[str] | None = None,
            negative: str | None = None) -> None:
        self.out.setdefault(family, []).append({"family": family, "question": question, "truth": truth,
                                                "options": options or [], "negative": negative})

    @staticmethod
    def labels(key: str) -> list[str]:
        return list(PICTURES[key].accept)

    def picture(self, k: str) -> None:
        """When, whether (and its near and far negatives), count, first/last, around, at, choice, and
        one question that takes a never-shown thing for granted."""
        rng, add = self.rng, self.add
        spans = [list(n.span) for n in self.pics[k]]
        add("when", rng.choice([f"When does the {k} appear?", f"When is the {k} shown?", f"At what time can I see the {k}?"]),
            {"spans": spans})
        add("whether", rng.choice([f"Does {_article(k)} appear?", f"Is there {_article(k)} in the video?"]), {"yes": True})
        add("count", rng.choice([f"How many times does the {k} appear?", f"How many times is the {k} shown?"]),
            {"count": len(spans)})
        if len(spans) >= 2:
            which = rng.choice(["first", "last"])
            target = spans[0] if which == "first" else spans[-1]
            add("first_last", f"When does the {k} appear for the {which} time?", {"spans": [target]})
        occ = rng.choice(self.pics[k])
        t = occ.t0 + rng.randint(0, occ.dur - 1)
        add("around", f"What is shown around {format_time(t)}?", {"labels": self.labels(k)})
        add("at_time", rng.choice([f"What is on screen at {format_time(t)}?", f"What object is shown at {format_time(t)}?"]),
            {"labels": self.labels(k)})
        nm = rng.choice(list(PICTURES[k].near))
        add("whether", rng.choice([f"Does {_article(nm)} appear?", f"Is there {_article(nm)} in the video?"]),
            {"yes": False}, negative="near")
        far = rng.choice(FAR_NEGATIVES)
        add("whether", f"Does {_article(far)} appear?", {"yes": False}, negative="far")
        opts = [k, *rng.sample(FAR_NEGATIVES, 2)]
        rng.shuffle(opts)
        add("choice", "Which of these appears in the video? " + _options(opts), {"option": opts.index(k)})
        others = [o for o in self.shown if o != k]
        if others:
            opts = [k, rng.choice(others), rng.choice(FAR_NEGATIVES)]
            rng.shuffle(opts)
            add("choice", f"What is shown at {format_time(t)}? " + _options(opts), {"option": opts.index(k)})
        for _ in spans[1:]:
            add("when", f"When is {_article(k)} on screen?", {"spans": spans})
        self.never_shown(k)

    def never_shown(self, k: str) -> None:
        """Questions that take for granted a thing that is never shown (a near miss of ``k`` or a
        far one): when, how many times, first/last; right only when the answer says it is not there."""
        rng, add = self.rng, self.add
        kind = rng.choice(["near", "far"])
        x = rng.choice(list(PICTURES[k].near)) if kind == "near" else rng.choice(FAR_NEGATIVES)
        family = rng.choice(["when", "when", "count", "first_last"])
        if family == "when":
            add("when", rng.choice([f"When does the {x} appear?", f"At what time is {_article(x)} shown?"]),
                {"spans": []}, negative=kind)
        elif family == "count":
            add("count", f"How many times does the {x} appear?", {"count": 0}, negative=kind)
        else:
            add("first_last", f"When does the {x} appear for the {rng.choice(['first', 'last'])} time?",
                {"spans": []}, negative=kind)

    def sign(self, s: _Needle) -> None:
        t = s.t0 + self.rng.randint(0, s.dur - 1)
        self.add("text", self.rng.choice([f"What text appears on screen around {format_time(t)}?",
                                          f"What does the sign at {format_time(t)} say?"]), {"text": s.key})
        self.add("when", f"When is the code word {s.key} shown?", {"spans": [list(s.span)]})

    def neighbours(self, needles: list[_Needle]) -> None:
        """"After X" and "between A and B" where a picture sits right after (and before) a sign."""
        by_t = sorted(needles, key=lambda n: n.t0)
        for i, n in enumerate(by_t[:-1]):
            nxt = by_t[i + 1]
            if n.kind != "sign" or nxt.kind != "picture" or nxt.t0 != n.t0 + n.dur:
                continue
            if i + 2 < len(by_t) and by_t[i + 2].kind == "sign" and by_t[i + 2].t0 == nxt.t0 + nxt.dur:
                self.add("between", f"What appears between the {n.key} sign and the {by_t[i + 2].key} sign?",
                         {"labels": self.labels(nxt.key)})
            elif i == 0 or not (by_t[i - 1].kind == "sign" and by_t[i - 1].t0 + by_t[i - 1].dur == n.t0):
                self.add("after", self.rng.choice([f"What appears right after the {n.key} sign?",
                                                   f"What is shown after the {n.key} sign?"]),
                         {"labels": self.labels(nxt.key)})

    def order(self) -> None:
        for _ in range(PER_FAMILY):
            if len(self.shown) >= 2:
                items = self.rng.sample(self.shown, min(len(self.shown), self.rng.choice([2, 3])))
                truth = sorted(items, key=lambda k: self.pics[k][0].t0)
                listed = ", ".join(f"the {k}" for k in items[:-1]) + f" and the {items[-1]}"
                self.add("order", f"In what order do {listed} first appear?", {"order": truth})

    def state(self, needles: list[_Needle], gate: int, duration: int) -> None:
        gates = sorted((n for n in needles if n.kind == "gate"), key=lambda n: n.t0)
        opts = ["open", "closed"]
        self.add("state", f"Is gate {gate} open or closed at the end of the video?",
                 {"option": opts.index(gates[-1].key.split()[-1].lower())}, options=opts)
        for g_prev, g in zip(gates, gates[1:] + [None]):
            end = g.t0 if g is not None else duration
            if end - g_prev.t0 - g_prev.dur >= 2:
                t = self.rng.randint(g_prev.t0 + g_prev.dur, end - 1)
                self.add("state", f"Is gate {gate} open or closed at {format_time(t)}?",
                         {"option": opts.index(g_prev.key.split()[-1].lower())}, options=opts)

    def unanswerable(self, needles: list[_Needle], duration: int) -> None:
        astronaut = any(n.kind == "unknown" for n in needles)
        self.add("unanswerable", self.rng.choice(["Does an astronaut appear?", "When does the astronaut appear?"]),
                 {"decline": True, "shown": astronaut})
        for _ in range(2):
            beyond = duration + self.rng.randint(30, 600)
            self.add("unanswerable", self.rng.choice([f"What is shown at {format_time(beyond)}?",
                                                      f"What is on screen at {format_time(beyond)}?"]), {"decline": True})


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _options(opts: list[str]) -> str:
    return " ".join(f"({chr(97 + i)}) {_article(o)}" for i, o in enumerate(opts))


def _questions(name: str, duration: int, needles: list[_Needle], gate: int, split: str,
               rng: random.Random) -> list[Case]:
    q = _Questions(needles, rng)
    for k in q.shown:
        q.picture(k)
    for s in (n for n in needles if n.kind == "sign"):
        q.sign(s)
    q.neighbours(needles)
    q.order()
    q.state(needles, gate, duration)
    q.unanswerable(needles, duration)
    cases = []
    for family in sorted(q.out):
        items = q.out[family]
        rng.shuffle(items)
        limit = PER_FAMILY * WIDE.get(family, 1) * (2 if duration >= 900 else 1)
        for i, item in enumerate(items[:limit]):
            cases.append(Case(id=f"{name}/{family}-{i}", video=f"videos/{name}.mp4", split=split, group=name, **item))
    return cases


def generate_set(folder: str | Path, *, seed: int = 2026, lengths: tuple[int, ...] = DEFAULT_LENGTHS,
                 progress: Callable[[str, float, float], None] | None = None) -> Path:
    """Synthesise the videos (skipped when already there) and write ``cases.jsonl``; returns its path.

    One fit and one test video per entry of ``lengths``.
    """
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video
    from agentkit.evaluation.cases import write_cases

    folder = Path(folder)
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    planned = []
    for split_i, split in enumerate(("fit", "test")):
        for i, length in enumerate(lengths):
            planned.append(plan_video(f"{split}-{i:02d}", int(length), seed * 1000 + split_i * 100 + i, split))
    total = float(sum(v.duration for v in planned))
    done = 0.0
    cases = []
    for video in planned:
        path = folder / "videos" / f"{video.name}.mp4"
        if not path.exists():
            rng = np.random.default_rng(video.seed)
            needles = []
            for n in video.needles:
                if n.kind == "picture":
                    needles.append(ImageNeedle(picture_pixels(PICTURES[n.key].loader, rng), t0=n.t0, duration=n.dur, name=n.key))
                elif n.kind == "unknown":
                    needles.append(ImageNeedle(picture_pixels(UNRECOGNISABLE[n.key], rng), t0=n.t0, duration=n.dur, name=n.key))
                else:
                    text = f"CODE WORD\n{n.key}" if n.kind == "sign" else n.key.replace(" OPEN", "\nOPEN").replace(" CLOSED", "\nCLOSED")
                    needles.append(TextNeedle(text, t0=n.t0, duration=n.dur))
            synthesize_video(path, video.duration, size=SIZE, fps=25, needles=needles, seed=video.seed)
        done += video.duration
        if progress is not None:
            progress("compose", done, total)
        cases += video.cases
    return write_cases(folder / "cases.jsonl", cases, relative_to=folder)
