"""A cheap "is there text here?" test, so OCR (hundreds of ms) runs only where it can pay off.

The idea is MSER-like and costs about a millisecond on a 320-px thumbnail: pixels much darker
(or lighter) than their neighbourhood form blobs; blobs of character size and shape that line up
in a row with similar heights and small gaps form a text line. A frame "has text" when it holds a
line of at least ``long_line`` such blobs, or a line of at least ``min_chars`` blobs (even in
height when shorter than 6) that is not lost among many other blobs (texture such as gravel, grass or lit windows makes many blobs and
the odd accidental row of them). Known misses: tiny text (below ~5 px high in the thumbnail)
and joined cursive handwriting (``skimage.data.text()``: its words are single blobs). A false
alarm only costs one OCR call that finds nothing.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["TextDetector", "has_text"]


class TextDetector:
    """Character-chain detector over a grayscale thumbnail.

    Args:
        width: Thumbnail width the image is reduced to before detection.
        contrast: Grey-level difference from the local mean that marks a stroke pixel.
        min_chars: Character blobs needed in one line to say "text".
        long_line: A line this long counts whatever surrounds it.
        min_share: Otherwise, characters in lines over all blobs of that polarity must reach
            this share (rejects textures).
        window: Local-mean window, pixels in the thumbnail.
    """

    def __init__(self, width: int = 320, contrast: float = 28.0, min_chars: int = 4,
                 long_line: int = 8, min_share: float = 0.04, window: int = 21):
        if width < 32:
            raise ValueError(f"width must be >= 32, got {width!r}")
        if min_chars < 2:
            raise ValueError(f"min_chars must be >= 2, got {min_chars!r}")
        self.width, self.contrast, self.min_chars, self.window = width, contrast, min_chars, window
        self.long_line, self.min_share = long_line, min_share

    def gray_thumbnail(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) or gray (H, W) -> float32 gray of width ``self.width``."""
        arr = np.asarray(image)
        if arr.ndim == 3:
            arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        elif arr.ndim != 2:
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {arr.shape}")
        arr = arr.astype(np.float32)
        if arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        h, w = arr.shape
        if w > self.width:
            step = w / self.width
            # Box-average down-sampling (area), cheap and alias-free enough for this test.
            nh = max(8, int(round(h / step)))
            ys = (np.arange(nh + 1) * h / nh).astype(int)
            xs = (np.arange(self.width + 1) * w / self.width).astype(int)
            c = np.pad(arr.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            s = c[ys[1:]][:, xs[1:]] - c[ys[:-1]][:, xs[1:]] - c[ys[1:]][:, xs[:-1]] \
                + c[ys[:-1]][:, xs[:-1]]
            area = np.outer(np.diff(ys), np.diff(xs))
            arr = s / np.maximum(area, 1)
        return arr

    def lines(self, image: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        """Text-line candidates as (x0, y0, x1, y1, n_chars) in thumbnail pixels."""
        g = self.gray_thumbnail(image)
        local = ndimage.uniform_filter(g, size=self.window, mode="nearest")
        out = []
        for mask in (g < local - self.contrast, g > local + self.contrast):
            lab, n = ndimage.label(mask)
            chains = self._chains(mask, lab, n, g.shape)
            in_lines = sum(c[4] for c in chains)
            if any(c[4] >= self.long_line for c in chains) or (
                    chains and in_lines >= self.min_share * n):
                out += chains
        return out

    def __call__(self, image: np.ndarray) -> bool:
        """True when ``image`` likely shows text."""
        return bool(self.lines(image))

    def _chains(self, mask: np.ndarray, lab: np.ndarray, n: int, shape: tuple[int, int]):
        H, W = shape
        if n == 0 or n > 4000:  # nothing, or noise/texture everywhere
            return []
        boxes = ndimage.find_objects(lab)
        areas = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
        chars = []
        for (sy, sx), a in zip(boxes, areas):
            h, w = sy.stop - sy.start, sx.stop - sx.start
            if not (5 <= h <= 0.6 * H and 1 <= w <= 2.0 * h and h <= 6 * w + 4):
                continue
            fill = a / (h * w)
            if 0.12 <= fill <= 0.95:
                chars.append((sx.start, sy.start, sx.stop, sy.stop))
        if len(chars) < self.min_chars or len(chars) > 1500:
            return []
        chars.sort()
        c = np.array(chars, dtype=np.float32)
        hgt = c[:, 3] - c[:, 1]
        cy = (c[:, 1] + c[:, 3]) / 2
        used = np.zeros(len(c), bool)
        lines = []
        for i in range(len(c)):
            if used[i]:
                continue
            chain = [i]
            last = i
            for j in range(i + 1, len(c)):
                if used[j]:
                    continue
                gap = c[j, 0] - c[last, 2]
                if gap > 1.6 * max(hgt[last], hgt[j]):
                    if c[j, 0] - c[last, 2] > 4 * hgt[last]:
                        break
                    continue
                ratio = hgt[j] / hgt[last]
                if 0.6 <= ratio <= 1.6 and abs(cy[j] - cy[last]) <= 0.35 * hgt[last]:
                    chain.append(j)
                    last = j
            if len(chain) >= self.min_chars:
                used[chain] = True
                sel = c[chain]
                h = sel[:, 3] - sel[:, 1]
                # Short rows must be even in height (printed words); rows of 6+ may vary
                # (lower-case ascenders). Rows of windows or leaves rarely satisfy either.
                if len(chain) < 6 and h.std() > 0.12 * h.mean():
                    continue
                lines.append((int(sel[:, 0].min()), int(sel[:, 1].min()), int(sel[:, 2].max()),
                              int(sel[:, 3].max()), len(chain)))
        return lines


_DEFAULT = TextDetector()


def has_text(image: np.ndarray) -> bool:
    """True when ``image`` (RGB or gray) likely shows text (default :class:`TextDetector`)."""
    return _DEFAULT(image)
