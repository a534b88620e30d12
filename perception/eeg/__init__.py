"""EEG: read (EDF/EDF+, BDF, FIF, BrainVision, arrays) in bounded memory, preprocess by a recorded
recipe, find artifacts, measure windows, and emit timed `Observation`s.

The transformer encoder (`perception.eeg.transformer`) needs torch and is imported on demand, so
reading and feature extraction stay light. So are the trial encoders behind one interface
(`perception.eeg.encoders`: aeon's MiniRocket/MultiRocket, pyriemann's tangent space,
braindecode's EEGNet/ShallowFBCSPNet, our transformer) and BIDS input (`perception.eeg.bids`).
Rhythm measurements behind the report (spectral peaks, alpha episodes) are in
`perception.eeg.rhythms`; band names and edges are `BANDS`, the one definition.
"""
from perception.eeg.artifacts import Artifact, ArtifactConfig
from perception.eeg.features import BANDS, FEATURE_NAMES, Windower, window_features
from perception.eeg.pipeline import EEGAnalysis, analyze, observations
from perception.eeg.recipe import Preprocessor, Recipe, detect_mains
from perception.eeg.recording import (
    Annotation, EEGWarning, Recording, check_recording, from_array, open_recording,
)
from perception.eeg.uea import TrialSet, load_uea, read_ts

__all__ = [
    "Annotation", "Artifact", "ArtifactConfig", "BANDS", "EEGAnalysis", "EEGWarning", "FEATURE_NAMES",
    "Preprocessor", "Recipe", "Recording", "TrialSet", "Windower", "analyze", "check_recording",
    "detect_mains", "from_array", "load_uea", "observations", "open_recording", "read_ts", "window_features",
]
