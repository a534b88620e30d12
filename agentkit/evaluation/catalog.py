"""What the generated evaluation shows and asks about: pictures the offline frame encoder can
name, their accepted ImageNet labels and near misses, concepts never shown, and sign words.

Near misses come from the same branch of the label hierarchy as a shown picture (a lion or a
tiger when a cat is shown: `perception.image.imagenet_groups` puts them under "big cat" beside
"cat"), so a "yes" to them is the confident-wrong answer the calibrator must learn to doubt.
Far negatives are concepts none of the packaged clips shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Picture", "PICTURES", "FAR_NEGATIVES", "UNRECOGNISABLE", "SIGN_WORDS", "picture_pixels"]


@dataclass(frozen=True)
class Picture:
    """A real picture shown full-frame as a needle."""

    key: str
    """How questions name it ("cat")."""
    loader: Callable[[], np.ndarray]
    accept: tuple[str, ...]
    """ImageNet label names that count as recognising it."""
    near: tuple[str, ...]
    """Near misses: concepts from the same branch of the label hierarchy, never shown."""


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return np.asarray(getattr(skimage.data, name)())
    return load


def _motorcycle() -> np.ndarray:
    import skimage.data

    return np.asarray(skimage.data.stereo_motorcycle()[0])


def _china() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image("china.jpg"))


PICTURES: dict[str, Picture] = {p.key: p for p in (
    Picture("cat", _skimage("chelsea"), ("Egyptian Mau", "tiger cat", "tabby cat", "Persian cat", "Siamese cat", "lynx"),
            ("lion", "tiger", "leopard", "cheetah")),
    Picture("cup of coffee", _skimage("coffee"), ("espresso", "cup", "coffee mug", "consomme"),
            ("teapot", "glass of wine", "beer bottle")),
    Picture("tripod", _skimage("camera"), ("tripod",), ("binoculars", "microphone")),
    Picture("palace", _china, ("palace", "monastery", "bell-cot", "pagoda", "stupa"),
            ("church", "castle", "mosque")),
    Picture("scooter", _motorcycle, ("motor scooter", "scooter", "moped"), ("tractor", "snowmobile", "go-kart")),
    Picture("rocket", _skimage("rocket"), ("space shuttle", "missile", "projectile", "obelisk", "drilling rig"),
            ("airliner", "airship")),
)}

FAR_NEGATIVES = ("elephant", "zebra", "penguin", "shark", "guitar", "piano", "pizza", "banana",
                 "umbrella", "sailboat", "snake", "violin", "tractor", "lighthouse", "volcano", "submarine",
                 "jellyfish", "accordion", "flamingo")
"""Concepts that no packaged clip or picture shows, each with an ImageNet class of its own (so
"no" is a meaningful answer for the offline encoder)."""

UNRECOGNISABLE = {"astronaut": _skimage("astronaut")}
"""Concepts the offline ImageNet encoder has no name for (the picture may still be shown)."""

SIGN_WORDS = ("KUMQUAT", "ZEPHYR", "QUOKKA", "MARLIN", "JUNIPER", "TUNDRA", "OBSIDIAN", "PELICAN", "SAFFRON",
              "VORTEX", "WALNUT", "GLACIER", "MAGPIE", "CITRON", "FALCON", "NEBULA", "TOPAZ", "HARBOR",
              "LANTERN", "CANYON", "ORCHID", "BISON", "COMET", "EMBER")
"""Code words printed on signs."""


def picture_pixels(loader: Callable[[], np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The picture as RGB uint8, cropped to a random 80-100 % window and maybe mirrored, so repeats differ."""
    img = np.asarray(loader())
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = (255 * img.astype(np.float64) / max(1e-9, float(img.max()))).astype(np.uint8)
    h, w = img.shape[:2]
    s = rng.uniform(0.8, 1.0)
    ch, cw = int(h * s), int(w * s)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = img[y:y + ch, x:x + cw]
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)
