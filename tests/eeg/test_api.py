"""The public EEG API is pinned, and the library never loads pickles."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import agentkit.eeg
import perception.eeg


def test_public_api_is_pinned():
    assert sorted(perception.eeg.__all__) == sorted([
        "Annotation", "Artifact", "ArtifactConfig", "BANDS", "EEGAnalysis", "EEGWarning", "FEATURE_NAMES",
        "Preprocessor", "Recipe", "Recording", "TrialSet", "Windower", "analyze", "check_recording",
        "detect_mains", "from_array", "load_uea", "observations", "open_recording", "read_ts", "window_features",
    ])
    assert sorted(agentkit.eeg.__all__) == sorted([
        "EEGReport", "EEGSession", "ListReader", "Statement", "analyze_file", "answer_eeg", "ask_memory",
        "build_report", "file_source_id", "open_session", "remember", "render_text",
    ])
    for name in perception.eeg.__all__:
        assert getattr(perception.eeg, name) is not None


def test_no_pickle_in_the_library():
    root = pathlib.Path(perception.eeg.__file__).parents[2]
    for folder in ("perception/eeg", "agentkit/eeg"):
        for f in (root / folder).rglob("*.py"):
            assert "import pickle" not in f.read_text() and "pickle.load" not in f.read_text(), f


def test_reading_stack_stays_light():
    # reading and analysing must not pull in torch or scipy (memory budget for long recordings)
    code = ("import sys, perception.eeg; "
            "print(int('torch' in sys.modules), int('scipy' in sys.modules), int('mne' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0", "0"]
