"""Needles for synthetic videos: a picture or a sign shown for whole seconds at a known time."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentkit.demo_video.clips import encode_chunk, fit_frame
from perception.video.reader import iter_frames

__all__ = ["ImageNeedle", "NeedleSpan", "TextNeedle", "render_sign"]


@dataclass(frozen=True)
class ImageNeedle:
    """A still picture shown full-frame for ``duration`` seconds.

    Args:
        image: A ``skimage.data`` function name ("astronaut", "coffee", "chelsea", "rocket",
            ...) or an RGB uint8 array.
        t0: Start in seconds (rounded to a whole second); None: a seeded random time.
        duration: Whole seconds (>= 1).
        name: Payload reported in the ground truth (defaults to the image name).
    """

    image: str | np.ndarray = "astronaut"
    t0: float | None = None
    duration: int = 2
    name: str | None = None


@dataclass(frozen=True)
class TextNeedle:
    """A sign with ``text`` rendered large over a still of a scene, for ``duration`` s.

    Args:
        text: The words on the sign (e.g. a code word); one or two short lines read best.
        t0: Start in seconds (rounded to a whole second); None: a seeded random time.
        duration: Whole seconds (>= 1).
    """

    text: str = "CODE WORD: KUMQUAT"
    t0: float | None = None
    duration: int = 2


@dataclass(frozen=True)
class NeedleSpan:
    """Ground truth for one inserted needle."""

    kind: str
    """"image" or "text"."""
    t0: float
    t1: float
    payload: str
    """Image name or sign text."""



def render_sign(text: str, size: tuple[int, int], background: np.ndarray | None = None,
                *, seed: int = 0) -> np.ndarray:
    """Render ``text`` on a white board with a dark frame, large enough for OCR.

    Args:
        text: Words on the sign; "\\n" splits lines.
        size: (width, height) of the returned picture.
        background: Optional RGB picture (any size) put behind the board, dimmed.

    Returns:
        RGB uint8 array (height, width, 3).
    """
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    if background is not None:
        bg = Image.fromarray(background).convert("RGB").resize((w, h))
        img = Image.fromarray((np.asarray(bg) * 0.55).astype(np.uint8))
    else:
        rng = np.random.default_rng(seed)
        img = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(40, 120, 3)))
    draw = ImageDraw.Draw(img)
    lines = text.split("\n")
    # Largest font whose widest line fits 80% of the width and whole block 60% of the height.
    font_size = max(10, int(h * 0.6 / max(1, len(lines)) / 1.25))
    while True:
        font = ImageFont.load_default(size=font_size)
        boxes = [draw.textbbox((0, 0), ln, font=font) for ln in lines]
        tw = max(b[2] - b[0] for b in boxes)
        line_h = max(b[3] - b[1] for b in boxes)
        if (tw <= 0.8 * w and line_h * 1.25 * len(lines) <= 0.6 * h) or font_size <= 10:
            break
        font_size = int(font_size * 0.9)
    block_h = int(line_h * 1.25 * len(lines))
    pad = max(6, font_size // 3)
    x0, y0 = (w - tw) // 2 - pad, (h - block_h) // 2 - pad
    draw.rectangle([x0, y0, x0 + tw + 2 * pad, y0 + block_h + 2 * pad], fill=(245, 245, 235),
                   outline=(30, 30, 30), width=max(2, pad // 3))
    for i, (ln, b) in enumerate(zip(lines, boxes)):
        lw = b[2] - b[0]
        draw.text(((w - lw) // 2 - b[0], y0 + pad + int(i * line_h * 1.25) - b[1]), ln,
                  font=font, fill=(15, 15, 15))
    return np.asarray(img)


def _skimage_picture(name: str) -> np.ndarray:
    import skimage.data

    fn = getattr(skimage.data, name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"ImageNeedle.image: skimage.data has no picture {name!r}")
    arr = np.asarray(fn())
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = (255 * (arr.astype(np.float64) / max(1e-9, float(arr.max())))).astype(np.uint8)
    return arr[..., :3]


def place_needles(needles: Sequence[ImageNeedle | TextNeedle], total: int,
                   rng: random.Random) -> list[tuple[int, ImageNeedle | TextNeedle]]:
    taken: list[tuple[int, int]] = []
    fixed, free = [], []
    for nd in needles:
        if not isinstance(nd, (ImageNeedle, TextNeedle)):
            raise TypeError(f"needles must hold ImageNeedle or TextNeedle, got {type(nd).__name__}")
        if not isinstance(nd.duration, int) or nd.duration < 1:
            raise ValueError(f"needle duration must be a whole number of seconds >= 1, "
                             f"got {nd.duration!r}")
        (fixed if nd.t0 is not None else free).append(nd)
    out = []
    for nd in fixed:
        t0 = int(round(nd.t0))
        if t0 < 0 or t0 + nd.duration > total:
            raise ValueError(f"needle at t0={nd.t0} does not fit in {total} s")
        if any(t0 < b and a < t0 + nd.duration for a, b in taken):
            raise ValueError(f"needle at t0={nd.t0} overlaps another needle")
        taken.append((t0, t0 + nd.duration))
        out.append((t0, nd))
    for nd in free:
        margin = 2 if total >= nd.duration + 4 else 0
        choices = [t0 for t0 in range(margin, total - nd.duration - margin + 1)
                   if not any(t0 < b + 1 and a - 1 < t0 + nd.duration for a, b in taken)]
        if not choices:
            raise ValueError(f"no room for a {nd.duration} s needle in {total} s")
        t0 = rng.choice(choices)
        taken.append((t0, t0 + nd.duration))
        out.append((t0, nd))
    return out


def needle_chunk(needle, lib, size, fps, folder: Path, rng: random.Random, i: int):
    """Encode one needle as a chunk; returns (path, payload, kind)."""
    if isinstance(needle, ImageNeedle):
        if isinstance(needle.image, str):
            pic = _skimage_picture(needle.image)
            payload = needle.name or needle.image
        else:
            pic = np.asarray(needle.image, dtype=np.uint8)
            if pic.ndim != 3 or pic.shape[2] < 3:
                raise ValueError("ImageNeedle.image must be a skimage.data name or an RGB array")
            pic = pic[..., :3]
            payload = needle.name or "image"
        frame = fit_frame(np.ascontiguousarray(pic), size)
        kind = "image"
    else:
        # The sign stands over a dimmed still of a random scene.
        name = rng.choice(sorted(lib))
        chunk, secs = lib[name]
        bg = None
        for tf in iter_frames(chunk, fps=1.0, start=float(rng.randint(0, max(0, secs - 1)))):
            bg = tf.image
            break
        frame = render_sign(needle.text, size, bg, seed=rng.randint(0, 1 << 30))
        payload, kind = needle.text, "text"
    path = folder / f"needle-{i}.mp4"
    encode_chunk(path, iter([frame] * (needle.duration * fps)), size, fps)
    return path, payload, kind
