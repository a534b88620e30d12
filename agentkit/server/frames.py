"""Evidence thumbnails: one frame decoded from the indexed file at a time, as a small JPEG."""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["FrameCache", "decode_thumbnail"]

THUMB_WIDTH = 320
"""Width of a thumbnail in pixels (height follows the video's aspect)."""


def decode_thumbnail(path: str | Path, t: float, *, width: int = THUMB_WIDTH, quality: int = 80) -> bytes:
    """JPEG bytes of the frame shown at ``t`` seconds in the video at ``path``.

    Seeks to the key frame before ``t`` and decodes forward to the first frame at or after it
    (the last frame when ``t`` lies past the end).

    Raises:
        perception.errors.InputError: The file cannot be opened as a video.
        LookupError: The file has no decodable frame.
    """
    from perception.video.reader import open_video

    container, stream = open_video(path)
    try:
        stream.thread_type = "AUTO"
        base = stream.time_base
        start = stream.start_time or 0
        if t > 0 and base:
            container.seek(int(t / base) + start, stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time + 1e-3 >= t:
                break
        if chosen is None:
            raise LookupError(f"{path}: no frame could be decoded at {t:.2f} s")
        scale = min(1.0, width / chosen.width)
        w, h = max(2, round(chosen.width * scale)), max(2, round(chosen.height * scale))
        image = chosen.reformat(width=w, height=h, format="rgb24").to_image()
    finally:
        container.close()
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FrameCache:
    """The last ``size`` thumbnails, keyed by (path, time to a tenth of a second)."""

    def __init__(self, size: int = 256):
        self._size = size
        self._items: OrderedDict[tuple[str, float], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, t: float) -> bytes:
        key = (path, round(float(t), 1))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = decode_thumbnail(path, key[1])
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return data
