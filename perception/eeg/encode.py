"""Run a trained model over the windows of a recording: timed class probabilities (and, for the
`EEGTransformer`, embeddings) as observations, on the same preprocessing and time axis as
everything else. `encoder_observations` does the same for any `perception.eeg.encoders` encoder.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from perception.eeg.features import Windower
from perception.eeg.recipe import Preprocessor, Recipe
from perception.eeg.recording import Recording
from perception.types import Observation


def _picks(rec: Recording, cfg) -> list[int]:
    eeg = rec.eeg_picks or list(range(len(rec.ch_names)))
    if cfg.ch_names:
        lower = {rec.ch_names[i].lower(): i for i in eeg}
        missing = [c for c in cfg.ch_names if c.lower() not in lower]
        if missing:
            raise ValueError(f"model: channels {missing} are not in {rec.path}")
        return [lower[c.lower()] for c in cfg.ch_names]
    if len(eeg) != cfg.n_channels:
        raise ValueError(f"model: expects {cfg.n_channels} channels, {rec.path} has {len(eeg)} EEG channels "
                         "(save the model with ch_names to pick them by name)")
    return eeg


def embed_recording(rec: Recording, model, *, recipe: Recipe | None = None, step_s: float | None = None,
                    chunk_s: float = 60.0, batch: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (window starts s, embeddings (k, d_model), calibrated probabilities (k, n_classes)).

    Windows have the model's length (`n_samples` at `sfreq`); the recording is resampled to the
    model's rate by the recipe (default: `Recipe(resample=model.cfg.sfreq)`).

    Raises:
        ValueError: the model has no sampling rate, or the recording lacks its channels.
    """
    import torch

    cfg = model.cfg
    if not cfg.sfreq:
        raise ValueError("model: its config has no sfreq; set it when training")
    picks = _picks(rec, cfg)
    recipe = (recipe or Recipe(resample=cfg.sfreq)).resolve(rec)
    pre = Preprocessor(recipe, rec)
    if abs(pre.sfreq - cfg.sfreq) > 1e-6:
        raise ValueError(f"recipe: resamples to {pre.sfreq:g} Hz, the model needs {cfg.sfreq:g} Hz")
    rows = [pre.picks.index(i) for i in picks]
    window_s = cfg.n_samples / cfg.sfreq
    win = Windower(pre.sfreq, window_s, step_s or window_s / 2)
    model.eval()
    for _, x in pre.stream(chunk_s):
        t, w = win.push(x[rows])
        for b in range(0, len(t), batch):
            xb = torch.as_tensor(np.ascontiguousarray(w[b:b + batch]), dtype=torch.float32)
            with torch.no_grad():
                feats = model.forward_features(xb)
                probs = torch.softmax(model.head(feats) / cfg.temperature, dim=1)
            yield t[b:b + batch], feats.numpy(), probs.numpy()


def transformer_observations(rec: Recording, model, *, source: str, offset: float = 0.0,
                             recipe: Recipe | None = None, step_s: float | None = None) -> Iterator[Observation]:
    """One `kind="window"` observation per model window: vector "eeg_transformer", class
    probabilities as labels, the recipe hash and the model's classes in meta."""
    cfg = model.cfg
    recipe = (recipe or Recipe(resample=cfg.sfreq)).resolve(rec)
    window_s = cfg.n_samples / cfg.sfreq
    for t, emb, probs in embed_recording(rec, model, recipe=recipe, step_s=step_s):
        for ti, e, p in zip(t, emb, probs):
            best = int(np.argmax(p))
            yield Observation(
                source=source, t0=float(ti + offset), t1=float(ti + window_s + offset), modality="eeg", kind="window",
                vectors={"eeg_transformer": e.astype(np.float32)},
                labels={c: float(v) for c, v in zip(cfg.classes, p)},
                text=f"EEG window classified {cfg.classes[best]} (p={p[best]:.2f})",
                meta={"recipe": recipe.hash, "encoder": "eeg_transformer", "classes": list(cfg.classes)},
            )


def encoder_observations(rec: Recording, encoder, *, source: str, offset: float = 0.0,
                         recipe: Recipe | None = None, step_s: float | None = None,
                         chunk_s: float = 60.0, batch: int = 64) -> Iterator[Observation]:
    """One `kind="window"` observation per window of a trained `TrialEncoder`: its calibrated
    class probabilities as labels and as the vector "eeg_class_probs", `meta["trained_encoder"]`
    set, so `agentkit eeg ask` answers questions naming the classes from them.

    Windows have the encoder's length at its sampling rate (half-overlapping by default); the
    recording is resampled to that rate by the recipe, and channels are picked by name when the
    encoder knows them.

    Raises:
        ValueError: the encoder has no sampling rate, or the recording lacks its channels.
    """
    info = encoder.info
    if not info.sfreq:
        raise ValueError(f"{encoder.name} encoder: no sampling rate saved with it; train it with sfreq set")
    picks = _picks(rec, info)
    recipe = (recipe or Recipe(resample=info.sfreq)).resolve(rec)
    pre = Preprocessor(recipe, rec)
    rows = [pre.picks.index(i) for i in picks]
    window_s = info.n_samples / info.sfreq
    win = Windower(pre.sfreq, window_s, step_s or window_s / 2)
    for _, x in pre.stream(chunk_s):
        t, w = win.push(x[rows])
        for b in range(0, len(t), batch):
            probs = encoder.predict_proba(w[b:b + batch], source=str(rec.path))
            for ti, p in zip(t[b:b + batch], probs):
                best = int(np.argmax(p))
                yield Observation(
                    source=source, t0=float(ti + offset), t1=float(ti + window_s + offset), modality="eeg",
                    kind="window", vectors={"eeg_class_probs": p.astype(np.float32)},
                    labels={c: float(v) for c, v in zip(info.classes, p)},
                    text=f"EEG window classified {info.classes[best]} (p={p[best]:.2f}, {encoder.name})",
                    meta={"recipe": recipe.hash, "encoder": f"eeg_{encoder.name}", "trained_encoder": True,
                          "classes": list(info.classes)},
                )
