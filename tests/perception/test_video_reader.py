"""Decoding the packaged clips and generated files: durations, time stamps, grid, rotation."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from perception.video import iter_frames, probe
from perception_media import write_video


@pytest.mark.parametrize("name, duration, fps, size, frames", [
    ("bikes", 10.0, 25.0, (640, 272), 250),
    ("bigbuckbunny", 5.312, 25.0, (1280, 720), 132),
    ("city", 7.6, 25.0, (720, 405), 190),
    ("world", 30.53, 30.0, (480, 270), 901),
])
def test_probe_packaged_clips(clips, name, duration, fps, size, frames):
    info = probe(clips[name])
    assert info.duration == pytest.approx(duration, abs=0.02)
    assert info.fps == pytest.approx(fps)
    assert (info.width, info.height) == size
    assert info.rotation == 0
    assert abs(info.frame_count - frames) <= 1


@pytest.mark.parametrize("name", ["bikes", "city", "world"])
def test_one_fps_grid_matches_duration(clips, name):
    info = probe(clips[name])
    ts = [f.t for f in iter_frames(clips[name], fps=1.0)]
    # One frame per whole second, each at (or within a frame of) its grid point.
    assert len(ts) == int(info.duration) + (info.duration % 1 > 1 / info.fps)
    for k, t in enumerate(ts):
        assert k <= t < k + 1.5 / info.fps


def test_frames_are_rgb_uint8(clips):
    f = next(iter(iter_frames(clips["bigbuckbunny"], fps=1.0)))
    assert f.image.shape == (720, 1280, 3) and f.image.dtype == np.uint8
    small = f.short_side(224)
    assert min(small.shape[:2]) == 224 and small.shape[1] > small.shape[0]
    assert f.thumbnail().shape == (18, 32, 3)


def test_grid_with_start_and_rate(clips):
    ts = [f.t for f in iter_frames(clips["bikes"], fps=2.0, start=3.3, end=6.0)]
    assert len(ts) == 6
    for k, t in enumerate(ts):
        assert 3.3 + k * 0.5 <= t < 3.3 + k * 0.5 + 0.04 + 1e-6
    # fps above the stream rate gives every frame exactly once.
    all_ts = [f.t for f in iter_frames(clips["bikes"], fps=100.0)]
    assert len(all_ts) == 250 and np.all(np.diff(all_ts) > 0)


def test_variable_frame_rate_uses_pts(media_dir):
    # Frames at irregular times (ms): a 2.5 s gap in the middle.
    pts = [0, 100, 300, 700, 1000, 1100, 3600, 3700, 4200, 5050]
    frames = [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(len(pts))]
    path = write_video(media_dir / "vfr.mp4", frames, fps=10, pts=pts,
                       time_base=Fraction(1, 1000))
    got = [round(f.t, 3) for f in iter_frames(path, fps=1.0)]
    # Grid 0,1,2,... takes the first frame at/after each point; points inside the gap are
    # skipped rather than filled with a duplicate.
    assert got == [0.0, 1.0, 3.6, 4.2, 5.05]


@pytest.mark.parametrize("ccw", [90, 180, 270])
def test_rotation_metadata_is_applied(media_dir, ccw):
    img = np.zeros((32, 64, 3), np.uint8)
    img[:, :16] = 255  # white band on the left of the stored picture
    path = write_video(media_dir / f"rot{ccw}.mp4", [img] * 5, fps=5, rotation=ccw)
    info = probe(path)
    assert info.rotation == (360 - ccw) % 360
    assert (info.width, info.height) == ((32, 64) if ccw in (90, 270) else (64, 32))
    out = next(iter(iter_frames(path))).image
    expect = np.rot90(img, k=ccw // 90)  # display = stored turned counter-clockwise
    assert out.shape == expect.shape
    assert np.abs(out.astype(int) - expect.astype(int)).mean() < 12


def test_decode_modes_trade_frames_for_speed(clips):
    full = [f.t for f in iter_frames(clips["world"], fps=1.0, mode="all")]
    nonref = [f.t for f in iter_frames(clips["world"], fps=1.0, mode="nonref")]
    key = [f.t for f in iter_frames(clips["world"], fps=1.0, mode="key")]
    assert len(nonref) >= len(full) - 1
    assert 0 < len(key) < len(full)          # one frame per GOP only
    assert set(key) <= {round(t, 6) for t in key}


@pytest.mark.parametrize("kw, name", [({"fps": 0}, "fps"), ({"fps": -1}, "fps"),
                                      ({"start": -2}, "start"), ({"mode": "fast"}, "mode")])
def test_bad_arguments_name_the_argument(clips, kw, name):
    with pytest.raises(ValueError, match=name):
        next(iter(iter_frames(clips["bikes"], **kw)))


def test_probe_opens_a_file_version_once(tmp_path, monkeypatch):
    import perception.video.reader as reader

    frames = [np.full((32, 48, 3), 40, np.uint8)] * 10
    path = write_video(tmp_path / "v.mp4", frames, fps=10)
    opened = []
    real_open = reader.open_video
    monkeypatch.setattr(reader, "open_video", lambda p: opened.append(p) or real_open(p))
    first = probe(path)
    assert probe(str(path)) == reader.VideoInfo(**{**first.__dict__, "path": str(path)})
    assert len(opened) == 1
    write_video(path, frames * 2, fps=10)  # a new version of the file is probed again
    assert probe(path).duration == pytest.approx(2.0, abs=0.15) and len(opened) == 2
