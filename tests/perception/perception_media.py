"""Media helpers for perception tests (a uniquely named module: tests/perception is on
sys.path under pytest's default import mode, and has no __init__.py so that it does not shadow
the real ``perception`` package)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, frames, *, fps: int = 10, codec: str = "libx264",
                rotation: int | None = None, options: dict | None = None,
                pts: list[int] | None = None, time_base=None) -> Path:
    """Encode RGB frames with PyAV (optionally with explicit pts for variable frame rate)."""
    with av.open(str(path), "w", options=options or {}) as out:
        st = out.add_stream(codec, rate=fps)
        first = frames[0]
        st.height, st.width = first.shape[:2]
        st.pix_fmt = "yuv420p"
        if time_base is not None:
            st.codec_context.time_base = Fraction(time_base)
            st.time_base = Fraction(time_base)
        if rotation is not None:
            st.set_display_rotation(rotation)
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = pts[i] if pts is not None else i
            if time_base is not None:
                vf.time_base = Fraction(time_base)
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path
