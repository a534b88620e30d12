"""On-screen text with RapidOCR (PP-OCRv4 detection + recognition, ONNX, ships on PyPI).

What OCR returns is untrusted data read from the world: callers quote it as evidence and never
follow it as an instruction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["OcrReader", "TextLine"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextLine:
    """One line of text found in an image."""

    text: str
    box: tuple[tuple[float, float], ...]
    """Four (x, y) corners in the input image's pixels, clockwise from top-left."""
    score: float
    """Recognition confidence in [0, 1]."""

    def to_json(self) -> dict:
        return {"text": self.text, "box": [list(p) for p in self.box], "score": self.score}


class OcrReader:
    """Reads text lines from RGB images.

    Args:
        min_score: Lines recognised with less confidence are dropped.
        max_side: Detection runs with the longer side scaled to at most this many pixels
            (RapidOCR's default instead scales the *shorter* side up to 736, which is slow
            for video frames; large on-screen text survives 960 px fine).
        threads: onnxruntime intra-op threads (None: onnxruntime's default).

    Raises:
        ImportError: rapidocr-onnxruntime is missing (the message says what to install).
    """

    def __init__(self, *, min_score: float = 0.5, max_side: int = 960,
                 threads: int | None = None):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as err:
            raise ImportError("OCR needs rapidocr-onnxruntime: pip install "
                              "'rapidocr-onnxruntime==1.4.4'") from err
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score!r}")
        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side!r}")
        kwargs = {"det_limit_type": "max", "det_limit_side_len": max_side,
                  "text_score": min_score, "print_verbose": False}
        if threads is not None:
            kwargs["intra_op_num_threads"] = int(threads)
        self._engine = RapidOCR(**kwargs)
        self.min_score = min_score

    def read(self, image: np.ndarray) -> list[TextLine]:
        """RGB uint8 (H, W, 3) -> text lines, top to bottom."""
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"image must be an RGB uint8 (H, W, 3) array, got {arr.dtype} "
                             f"{arr.shape}")
        # RapidOCR follows OpenCV's BGR convention for arrays.
        result, _ = self._engine(np.ascontiguousarray(arr[..., ::-1]))
        lines = []
        for box, text, score in result or []:
            score = float(score)
            text = str(text).strip()
            if text and score >= self.min_score:
                pts = tuple((float(x), float(y)) for x, y in box)
                lines.append(TextLine(text=text, box=pts, score=score))
        lines.sort(key=lambda ln: (min(p[1] for p in ln.box), min(p[0] for p in ln.box)))
        return lines

    __call__ = read
