"""Redundancy skipping, segments, OCR and resume on real (composed and generated) videos."""
from __future__ import annotations

import numpy as np
import pytest

from perception.errors import InputError
from perception.video import (IndexStats, RedundancyFilter, iter_frames, observe_video,
                              signature_of)
from perception_media import write_video


def test_static_video_gives_one_segment(media_dir, encoder):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    frames = [np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255)
              .astype(np.uint8) for _ in range(60)]  # 12 s of a still with sensor noise
    path = write_video(media_dir / "static.mp4", frames, fps=5)
    stats = IndexStats()
    obs = list(observe_video(path, source="static", encoder=encoder, stats=stats))
    assert stats.sampled == 12 and stats.kept == 1 and len(obs) == 1
    assert obs[0].t0 == 0.0 and obs[0].t1 == pytest.approx(12.0)
    assert obs[0].meta["frames"] == 12
    # Skipping off: every sampled frame becomes its own segment.
    obs_all = list(observe_video(path, source="static", encoder=encoder, skip=False))
    assert len(obs_all) == 12
    assert [o.t0 for o in obs_all] == pytest.approx([float(i) for i in range(12)])


def test_every_cut_starts_a_new_segment(composed):
    filt = RedundancyFilter()
    kept = {f.t for f in iter_frames(composed.path, fps=1.0)
            if filt.keep(signature_of(f.thumbnail()), f.t)}
    cuts = {t0 for t0, _, _ in composed.scenes}
    assert cuts <= {round(t) for t in kept}, sorted(cuts - {round(t) for t in kept})
    assert len(kept) < 60  # and it skips something: within-shot seconds are merged


def test_signature_distance_orders_similarity(clips):
    frames = list(iter_frames(clips["bikes"], fps=1.0))
    a, b = signature_of(frames[0].thumbnail()), signature_of(frames[1].thumbnail())
    c = signature_of(next(iter(iter_frames(clips["world"], fps=1.0))).thumbnail())
    assert a.distance(a) == 0.0
    assert a.distance(b) < a.distance(c)
    with pytest.raises(ValueError, match="threshold"):
        RedundancyFilter(threshold=2.0)


def test_composed_video_segments_cover_time_in_order(composed, composed_observations):
    obs, stats = composed_observations
    assert stats.sampled == 60 and 0 < stats.kept < 60
    assert obs[0].t0 == 0.0 and obs[-1].t1 == pytest.approx(composed.duration)
    for a, b in zip(obs, obs[1:]):
        assert a.t1 == b.t0 and a.t0 < a.t1
    assert sum(o.meta["frames"] for o in obs) == 60
    for o in obs:
        assert o.modality == "video" and o.kind == "segment" and o.source == "composed"
        assert set(o.vectors) == {"visual", "concept"} and len(o.labels) == 5
        assert o.vectors["visual"].shape == (1280,) and o.vectors["concept"].shape == (384,)


def test_needles_are_found_where_they_are(composed, composed_observations, encoder):
    obs, stats = composed_observations
    img_truth = next(n for n in composed.needles if n.kind == "image")
    txt_truth = next(n for n in composed.needles if n.kind == "text")
    # Text needle: OCR on the segment overlapping the sign reads the code word.
    hits = [o for o in obs if "KUMQUAT" in o.text.replace(" ", "")]
    assert hits and all(o.t0 < txt_truth.t1 and txt_truth.t0 < o.t1 for o in hits)
    assert hits[0].meta["ocr"] and hits[0].meta["ocr_run"]
    # OCR ran on a minority of kept frames (the detector gates it).
    assert stats.ocr_calls < stats.kept / 2
    # Image needle: a segment starts exactly at the needle (a cut), and its visual vector is
    # the nearest to the encoded needle picture.
    import skimage.data

    from agentkit.demo_video.clips import fit_frame

    probe_vec = encoder.encode([fit_frame(skimage.data.astronaut(), (320, 180))]).visual[0]
    best = max(obs, key=lambda o: float(o.vectors["visual"] @ probe_vec))
    assert best.t0 == img_truth.t0 and best.t1 <= img_truth.t1 + 1


def test_resume_reproduces_the_uninterrupted_run(composed, composed_observations, encoder,
                                                 ocr_reader):
    obs, _ = composed_observations
    cut = obs[len(obs) // 2].t1
    resumed = list(observe_video(composed.path, source="composed", encoder=encoder,
                                 ocr=ocr_reader, start=cut))
    tail = [o for o in obs if o.t0 >= cut]
    assert [(o.t0, o.t1, o.text) for o in resumed] == [(o.t0, o.t1, o.text) for o in tail]
    np.testing.assert_allclose(resumed[0].vectors["visual"], tail[0].vectors["visual"],
                               atol=1e-4)


def test_progress_callback_and_offset(media_dir, encoder):
    frames = [np.full((36, 64, 3), 40 * (i // 10), np.uint8) for i in range(50)]
    path = write_video(media_dir / "steps.mp4", frames, fps=10)
    seen = []
    obs = list(observe_video(path, source="s", encoder=encoder, time_offset=100.0,
                             progress=lambda t, d: seen.append((t, d))))
    assert [t for t, _ in seen] == pytest.approx([0, 1, 2, 3, 4])
    assert all(d == pytest.approx(5.0) for _, d in seen)
    assert [o.t0 for o in obs] == pytest.approx([100, 101, 102, 103, 104])


def test_corrupt_tail_yields_completed_segments_then_raises(faststart_mp4, tmp_path, encoder):
    p = tmp_path / "cut.mp4"
    data = faststart_mp4.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])
    got = []
    with pytest.raises(InputError):
        for o in observe_video(p, source="cut", encoder=encoder, skip=False):
            got.append(o)
    assert got and all(o.t1 <= 8.0 for o in got)


def test_bad_file_fails_at_call_time(tmp_path, encoder):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4"):
        observe_video(empty, source="e", encoder=encoder)  # no iteration needed
    with pytest.raises(ValueError, match="fps"):
        observe_video(empty, source="e", encoder=encoder, fps=0)


def test_bad_arguments(composed, encoder):
    with pytest.raises(ValueError, match="source"):
        next(observe_video(composed.path, source="", encoder=encoder))
    with pytest.raises(TypeError, match="encoder"):
        next(observe_video(composed.path, source="x", encoder=object()))


def test_pipeline_thread_gives_the_same_segments(media_dir, encoder):
    frames = [np.full((36, 64, 3), 30 * (i // 15), np.uint8) for i in range(60)]
    path = write_video(media_dir / "steps2.mp4", frames, fps=10)
    a = list(observe_video(path, source="p", encoder=encoder, pipeline=True))
    b = list(observe_video(path, source="p", encoder=encoder, pipeline=False))
    assert [(o.t0, o.t1, o.meta["frames"]) for o in a] == [(o.t0, o.t1, o.meta["frames"])
                                                           for o in b]
    assert len(a) == 4
    # Stopping early closes the decode thread cleanly.
    gen = observe_video(path, source="p", encoder=encoder, batch_size=1)
    first = next(gen)
    gen.close()
    assert first.t0 == 0.0


def test_ocr_boxes_are_in_original_frame_pixels(media_dir, encoder, ocr_reader):
    from agentkit.demo_video import render_sign

    sign = render_sign("EXIT 42", (1280, 720))
    path = write_video(media_dir / "sign720.mp4", [sign] * 10, fps=5)
    obs = list(observe_video(path, source="s", encoder=encoder, ocr=ocr_reader))
    assert len(obs) == 1 and "EXIT" in obs[0].text
    box = np.array(obs[0].meta["ocr"][0]["box"])
    # OCR ran on a 960-px copy; the box is mapped back to the 1280x720 frame (sign centred).
    assert box[:, 0].max() <= 1280 and box[:, 1].max() <= 720
    assert abs(box[:, 0].mean() - 640) < 60 and abs(box[:, 1].mean() - 360) < 60
    assert box[:, 0].max() - box[:, 0].min() > 400  # wide, as rendered at full size


def test_settings_object_and_keywords_give_the_same_segments(media_dir, encoder):
    from perception.video import ObserveSettings

    frames = [np.full((36, 64, 3), 30 * (i // 15), np.uint8) for i in range(60)]
    path = write_video(media_dir / "steps3.mp4", frames, fps=10)
    settings = ObserveSettings(fps=2.0, batch_size=2, time_offset=5.0)
    a = list(observe_video(path, settings, source="s", encoder=encoder))
    b = list(observe_video(path, source="s", encoder=encoder, fps=2.0, batch_size=2, time_offset=5.0))
    c = list(observe_video(path, ObserveSettings(fps=7.0), source="s", encoder=encoder, fps=2.0, batch_size=2,
                           time_offset=5.0))  # keywords apply over the settings object
    key = [(o.t0, o.t1, o.meta["frames"]) for o in a]
    assert key == [(o.t0, o.t1, o.meta["frames"]) for o in b] == [(o.t0, o.t1, o.meta["frames"]) for o in c]
    assert a[0].t0 == 5.0 and settings.sampling.fps == 2.0


@pytest.mark.parametrize("kw, name", [({"fps": 0}, "fps"), ({"fps": float("nan")}, "fps"), ({"start": -1}, "start"),
                                      ({"mode": "fast"}, "mode"), ({"batch_size": 0}, "batch_size"),
                                      ({"threads": -1}, "threads")])
def test_settings_are_checked_once_when_made(kw, name):
    from perception.video import ObserveSettings, VideoSampling

    with pytest.raises(ValueError, match=name):
        ObserveSettings(**kw)
    if name != "batch_size":
        with pytest.raises(ValueError, match=name):
            VideoSampling(**kw)
    with pytest.raises(TypeError):
        ObserveSettings(frames_per_second=2.0)
