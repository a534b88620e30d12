"""A dozen bad inputs: each must end in one InputError line naming the file."""
from __future__ import annotations

import av
import numpy as np
import pytest

from perception.errors import InputError
from perception.video import iter_frames, probe


def _audio_only(path):
    with av.open(str(path), "w") as out:
        st = out.add_stream("aac", rate=16000)
        for i in range(20):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                            layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


def _make(kind, d, faststart, clips):
    p = d / f"{kind}.mp4"
    good = faststart.read_bytes()
    if kind == "zero_bytes":
        p.write_bytes(b"")
    elif kind == "random_bytes":
        p.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, np.uint8).tobytes())
    elif kind == "text_renamed":
        p.write_text("this is a shopping list, not a video\neggs\nmilk\n" * 50)
    elif kind == "json_renamed":
        p.write_text('{"video": false, "frames": []}')
    elif kind == "header_only":
        p.write_bytes(good[:200])
    elif kind == "truncated_moov_at_end":
        data = clips["bikes"].read_bytes()  # bikes.mp4 stores its index at the end
        p.write_bytes(data[: len(data) // 3])
    elif kind == "truncated_mid_stream":
        p.write_bytes(good[: int(len(good) * 0.5)])
    elif kind == "audio_only":
        p = d / "audio_only.m4a"
        _audio_only(p)
    elif kind == "subtitles_only":
        p = d / "subs.srt"
        p.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    elif kind == "unknown_codec":
        data = bytearray(good)
        i = data.find(b"avc1", 100)  # the sample entry, not the brand in ftyp
        data[i:i + 4] = b"zzzz"
        p.write_bytes(bytes(data))
    elif kind == "missing":
        p = d / "does_not_exist.mp4"
    elif kind == "directory":
        p = d / "a_folder.mp4"
        p.mkdir(exist_ok=True)
    elif kind == "broken_symlink":
        p = d / "dangling.mp4"
        if not p.is_symlink():
            p.symlink_to(d / "nowhere.mp4")
    return p


KINDS = ["zero_bytes", "random_bytes", "text_renamed", "json_renamed", "header_only",
         "truncated_moov_at_end", "truncated_mid_stream", "audio_only", "subtitles_only",
         "unknown_codec", "missing", "directory", "broken_symlink"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_gives_one_line_input_error(kind, tmp_path_factory, faststart_mp4, clips):
    d = tmp_path_factory.mktemp("bad")
    path = _make(kind, d, faststart_mp4, clips)
    with pytest.raises(InputError) as info:
        for _ in iter_frames(path, fps=1.0):
            pass
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400
    assert msg.startswith(str(path)) and path.name in msg
    assert info.value.problem and "Traceback" not in msg
    # InputError is raised with its cause suppressed: no FFmpeg traceback chained to it.
    assert info.value.__suppress_context__ or info.value.__cause__ is None


def test_truncated_stream_keeps_frames_already_read(faststart_mp4, tmp_path):
    p = tmp_path / "cut.mp4"
    data = faststart_mp4.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])
    got = []
    with pytest.raises(InputError, match="truncated|corrupt"):
        for f in iter_frames(p, fps=1.0):
            got.append((f.t, f.image.copy()))
    assert len(got) >= 1  # what was decoded before the cut stayed valid
    assert all(img.shape == (48, 64, 3) for _, img in got)
    assert probe(faststart_mp4).duration == pytest.approx(8.0, abs=0.2)


def test_probe_also_reports_bad_input(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe(p)


def test_wrong_path_type_is_type_error():
    with pytest.raises(TypeError, match="path"):
        probe(123)
