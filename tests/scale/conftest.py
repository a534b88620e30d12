"""Two short generated videos in a folder tree, and their serial index (the reference).

Videos are composed from the packaged clips at 320x180 (16 s and 12 s, needles at known times),
so the whole folder indexes in a few seconds on 2 shared cores.
"""
from __future__ import annotations

import pytest

SIZE = (320, 180)
CAT_SIGN = "NO PARKING"
CODE_SIGN = "CODE WORD: KUMQUAT"


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory):
    """archive/a.mp4 (sign at 4-6 s, cat at 10-12 s) and archive/day2/b.mp4 (code word at 6-8 s),
    plus a text file the folder search must pass over."""
    from agentkit.demo_video import ImageNeedle, TextNeedle, synthesize_video

    root = tmp_path_factory.mktemp("archive")
    synthesize_video(root / "a.mp4", 16, size=SIZE, fps=25, seed=3,
                     needles=[TextNeedle(CAT_SIGN, t0=4, duration=2), ImageNeedle("chelsea", t0=10, duration=2, name="cat")])
    synthesize_video(root / "day2" / "b.mp4", 12, size=SIZE, fps=25, seed=5,
                     needles=[TextNeedle(CODE_SIGN, t0=6, duration=2)])
    (root / "day2" / "notes.txt").write_text("not a video\n")
    return root


@pytest.fixture(scope="session")
def eeg_folder(tmp_path_factory):
    """Two 30 s, 12-channel EDF recordings (a 10 Hz posterior rhythm from 10 s) in a folder tree,
    and a file named .edf that is not one."""
    import numpy as np

    from perception.eeg.edf import write_edf

    names = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "T7", "T8"]
    root = tmp_path_factory.mktemp("eeg")
    for i, p in enumerate([root / "a.edf", root / "night2" / "b.edf"]):
        p.parent.mkdir(parents=True, exist_ok=True)
        fs, n = 256.0, 30 * 256
        t = np.arange(n) / fs
        x = np.random.default_rng(i).normal(0, 8, (12, n))
        x[6:10] += 30 * np.sin(2 * np.pi * 10 * t) * (t > 10)
        write_edf(p, x, fs, names)
    (root / "night2" / "broken.edf").write_bytes(b"0" * 500)
    (root / "night2" / "notes.txt").write_text("not a recording\n")
    return root
