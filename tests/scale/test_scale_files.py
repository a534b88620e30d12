"""Which files a job takes, and how one file is cut into time ranges and joined again (no models)."""
from __future__ import annotations

import numpy as np
import pytest

from agentkit.scale.files import VIDEO_EXTENSIONS, find_files
from agentkit.scale.ranges import GRID_EPS, plan_ranges
from agentkit.scale.stitch import FileStitcher
from agentkit.scale.work import RangeResult, RangeTask
from perception.errors import InputError
from perception.types import Observation
from perception.video import FrameMark, KeepRule, ObserveSettings
from perception.video.signature import FrameSignature


def test_folders_are_searched_recursively_by_extension(tmp_path):
    for name in ["b.mp4", "sub/a.MKV", "sub/deep/c.mov", "sub/notes.txt", "sub/deep/clip.mp4.part"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = find_files([tmp_path], VIDEO_EXTENSIONS)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["b.mp4", "sub/a.MKV", "sub/deep/c.mov"]
    # a file named on its own is taken whatever its name, and a file reached twice is listed once
    again = find_files([tmp_path / "sub" / "notes.txt", tmp_path / "b.mp4", tmp_path], VIDEO_EXTENSIONS)
    assert [p.name for p in again] == ["notes.txt", "b.mp4", "a.MKV", "c.mov"]


def test_bad_paths_name_the_file(tmp_path):
    empty = tmp_path / "holiday_photos"
    (empty / "inner").mkdir(parents=True)
    (empty / "inner" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="holiday_photos.*no video files"):
        find_files([empty], VIDEO_EXTENSIONS)
    with pytest.raises(InputError, match="missing_clip.mp4.*no such file"):
        find_files([tmp_path / "missing_clip.mp4"], VIDEO_EXTENSIONS)
    with pytest.raises(ValueError, match="at least one"):
        find_files([], VIDEO_EXTENSIONS)


def test_ranges_start_on_the_sampling_grid_at_key_frames():
    keys = [0.0, 1.3, 2.6, 3.9, 5.2, 6.5, 7.8, 9.1]
    ranges = plan_ranges(keys, start=0.0, fps=2.0, duration=10.0, min_seconds=3.0)
    # key frame 2.6 s -> grid point 3.0 s; 5.2 s is too near; 6.5 s is on the grid; 9.1 s leaves too short a tail
    assert [r.start for r in ranges] == [0.0, 3.0, 6.5]
    assert [r.end for r in ranges] == [3.0 - GRID_EPS, 6.5 - GRID_EPS, None]
    # resuming at 2.25 s: the grid's origin moves there, and a short tail joins the range before it
    resumed = plan_ranges(keys, start=2.25, fps=2.0, duration=8.0, min_seconds=3.0)
    assert [r.start for r in resumed] == [2.25, 5.25]
    assert plan_ranges([0.0], start=0.0, fps=1.0, duration=30.0, min_seconds=4.0)[0].end is None


# ---- joining ranges: a toy world of frames whose signatures drift, so fresh starts disagree ----
def _marks(n: int, seed: int = 7) -> list[FrameMark]:
    rng = np.random.default_rng(seed)
    level, out = 0.5, []
    for i in range(n):
        level = float(np.clip(level + rng.normal(0, 0.06), 0, 1))
        gray = np.full((18, 32), level, np.float32)
        hist = np.zeros(24, np.float32)
        hist[[0, 8, 16]] = 1.0
        out.append(FrameMark(float(i), FrameSignature(gray=gray, hist=hist), bool(i in (9, 10, 11))))
    return out


def _observe(marks: list[FrameMark], task: RangeTask) -> RangeResult:
    """What a worker starting afresh at the range's first frame keeps (the rule of observe_video)."""
    rule, obs = KeepRule(ObserveSettings()), []
    for m in marks:
        if rule.keep(m):
            obs.append(Observation(source="s", t0=m.t, t1=m.t + 1, modality="video", labels={f"f{int(m.t)}": 1.0},
                                   text="SIGN" if m.text else "", meta={"t_frame": m.t, "frames": 1}))
    return RangeResult(task=task, marks=list(marks) if not task.single else [], observations=obs)


def _stitch(marks, cuts) -> tuple[list[tuple], int, int]:
    bounds = [0, *cuts, len(marks)]
    st = FileStitcher("s", "toy.mp4", duration=float(len(marks)), fps=1.0, n_ranges=len(bounds) - 1)
    results = [_observe(marks[a:b], RangeTask("toy.mp4", "s", i, float(a), None, 1.0))
               for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    out, asked = [], 0
    for r in reversed(results):  # ranges arrive out of order
        st.add(r)
        out += st.take()
        for t in st.missing():
            asked += 1
            st.add(_observe([marks[int(t)]], RangeTask("toy.mp4", "s", -1, t, None, 1.0)))
            out += st.take()
    assert st.finished
    return [(o.t0, o.t1, o.meta["frames"], tuple(o.labels), o.text) for o in out], asked, st.dropped


def test_ranges_joined_give_the_segments_of_one_run():
    marks = _marks(40)
    whole, asked, dropped = _stitch(marks, [])
    assert asked == 0 and dropped == 0
    assert 5 < len(whole) < 40  # the toy world does skip frames
    assert whole[-1][1] == 40.0 and sum(s[2] for s in whole) == 40
    assert [s[4] for s in whole if s[4]] == ["SIGN"]  # the text frames' change starts a segment
    split, asked, dropped = _stitch(marks, [7, 16, 23, 31])
    assert split == whole
    # fresh starts disagreed with the one run: frames were asked for again and others dropped
    assert asked > 0 and dropped > 0
