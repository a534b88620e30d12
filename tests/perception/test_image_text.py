"""Cheap text detector on real pictures and rendered signs; OCR reads a code word."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from perception.image.textdetect import TextDetector, has_text
from agentkit.demo_video import render_sign

SIGNS = ["CODE WORD: KUMQUAT", "EXIT 42", "STOP", "OPEN 24 HOURS", "PLATFORM 9\nLONDON"]


@pytest.mark.parametrize("name", ["page"])
def test_detector_fires_on_printed_text(name):
    assert has_text(getattr(skimage.data, name)())


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "camera",
                                  "coins", "gravel", "grass", "brick"])
def test_detector_quiet_on_pictures_without_text(name):
    assert not has_text(getattr(skimage.data, name)())


@pytest.mark.parametrize("text", SIGNS)
@pytest.mark.parametrize("size", [(320, 180), (1280, 720)])
def test_detector_fires_on_rendered_signs(text, size):
    plain = render_sign(text, size)
    over_photo = render_sign(text, size, skimage.data.coffee())
    assert has_text(plain) and has_text(over_photo)


def test_detector_lines_locate_the_sign():
    img = np.zeros((360, 640, 3), np.uint8)
    img[:180] = render_sign("KUMQUAT 77", (640, 180))
    lines = TextDetector().lines(img)
    assert lines
    # Thumbnail is 320 wide: the sign's text sits in the upper half (y < 90).
    assert all(y1 <= 95 for _, _, _, y1, _ in lines)


def test_ocr_reads_the_code_word(ocr_reader):
    img = render_sign("CODE WORD: KUMQUAT", (640, 360), skimage.data.coffee())
    lines = ocr_reader.read(img)
    assert any("KUMQUAT" in ln.text.replace(" ", "") for ln in lines), lines
    ln = next(ln for ln in lines if "KUMQUAT" in ln.text)
    assert 0.5 <= ln.score <= 1.0 and len(ln.box) == 4
    xs = [p[0] for p in ln.box]
    assert 0 <= min(xs) < max(xs) <= 640


def test_ocr_reads_printed_page(ocr_reader):
    page = np.repeat(skimage.data.page()[..., None], 3, axis=2)
    text = " ".join(ln.text for ln in ocr_reader.read(page)).lower()
    assert "segmentation" in text


def test_ocr_rejects_wrong_arrays(ocr_reader):
    with pytest.raises(ValueError, match="image"):
        ocr_reader.read(np.zeros((10, 10), np.float32))
