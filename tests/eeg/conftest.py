"""Shared EEG fixtures: real recordings from installed packages and generated signals with known content."""
from __future__ import annotations

import importlib.util
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from perception.eeg.edf import write_edf

NAMES_12 = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "T7", "T8"]


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.fail(f"package {package} is not installed (see Makefile NODEPS)")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


def load_spkit_eeg() -> tuple[np.ndarray, float, list[str]]:
    """spkit's 14-channel Emotiv EEG (128 Hz, 16 s, µV), as (channels, samples).

    The file is a pickle: it is read here, in a test helper, from an installed package we trust,
    and never by the library (which loads no pickle).
    """
    with open(package_file("spkit", "data", "files", "EEG16SecData.pkl"), "rb") as fh:
        X, names = pickle.load(fh)
    return np.asarray(X, dtype=np.float64).T, 128.0, list(names)


def synth(seconds: float = 120.0, fs: float = 256.0, onset: float = 47.0, mains: float | None = 60.0,
          seed: int = 1, flat: bool = True, clipped: bool = True, blinks=(20.0, 35.0, 80.0)) -> np.ndarray:
    """12 channels of noise + random walk (µV); a 10 Hz posterior rhythm from `onset`; mains;
    channel F4 flat, C4 clipped at ±15 µV; blinks (150 µV Gaussian bumps) on Fp1/Fp2."""
    n = int(fs * seconds)
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 8, (12, n)) + np.cumsum(rng.normal(0, 1, (12, n)), axis=1) * 0.3
    x -= x.mean(1, keepdims=True)
    if onset is not None:
        x[6:10] += 30 * np.sin(2 * np.pi * 10 * t) * (t >= onset)
    if mains:
        x += 20 * np.sin(2 * np.pi * mains * t + 0.3)
    if flat:
        x[3] = 0.0
    if clipped:
        x[5] = np.clip(x[5], -15, 15)
    for b in blinks:
        x[0:2] += 150 * np.exp(-((t - b) / 0.08) ** 2)
    return x


@pytest.fixture(scope="session")
def spkit_eeg():
    return load_spkit_eeg()


@pytest.fixture(scope="session")
def eeg_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eeg")


@pytest.fixture(scope="session")
def synth_edf(eeg_dir) -> Path:
    """120 s generated EDF+ with known content (see `synth`) and two annotations."""
    path = eeg_dir / "synth.edf"
    write_edf(path, synth(), 256.0, NAMES_12, annotations=[(30.0, 0.0, "eyes closed cue"), (60.0, 1.5, "stimulus")])
    return path


@pytest.fixture(scope="session")
def synth_analysis(synth_edf):
    from perception.eeg import analyze, open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(open_recording(synth_edf))


@pytest.fixture(scope="session")
def pyedflib_edf() -> Path:
    return package_file("pyedflib", "data", "test_generator.edf")


@pytest.fixture(autouse=True)
def _quiet_threads():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield
