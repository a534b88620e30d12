"""Trial classification on weights-free features, temperature scaling and calibration error.

A multinomial logistic regression (L2, L-BFGS in numpy/scipy) over standardised features is the
readable baseline; `fit_temperature` calibrates any model's logits on held-out trials
(Guo et al. 2017, "On Calibration of Modern Neural Networks"); `ece` measures what is left.

Where the temperature's held-out trials come from: `calibration_split` keeps a quarter of the
training set aside (the model never trains on it); `out_of_fold_logits` gives every training
trial a logit from a model that did not see it (k-fold), so the temperature rests on all of them
and the final model can train on the whole set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize
from scipy.special import log_softmax, softmax

from perception.eeg.features import FEATURE_NAMES, band_features, line_length, psd


def trial_features(X: np.ndarray, sfreq: float, *, slow: bool = True) -> np.ndarray:
    """Flattened per-channel features of each trial: (n_trials, n_channels * k).

    Each trial is one window: the 12 `FEATURE_NAMES` per channel (NaN bands -> 0), plus with
    `slow=True` the channel's mean (µV) and linear slope (µV/s), which carry the slow cortical
    potentials that band powers above 1 Hz cannot see.
    """
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(-1, keepdims=True)
    f, p = psd(centred, sfreq)
    feats = band_features(f, p, sfreq)
    feats[..., -1] = np.log10(line_length(centred, sfreq) + 1e-9)
    parts = [np.nan_to_num(feats)]
    if slow:
        t = np.arange(X.shape[-1]) / sfreq
        t = t - t.mean()
        slope = (centred * t).sum(-1) / (t ** 2).sum()
        parts += [X.mean(-1)[..., None], slope[..., None]]
    return np.concatenate(parts, axis=-1).reshape(len(X), -1)


@dataclass
class LogisticModel:
    """Standardise -> linear -> softmax. `predict_logits` returns uncalibrated logits."""

    mean: np.ndarray
    scale: np.ndarray
    W: np.ndarray  # (n_features, n_classes)
    b: np.ndarray  # (n_classes,)

    def predict_logits(self, F: np.ndarray) -> np.ndarray:
        return ((F - self.mean) / self.scale) @ self.W + self.b


def fit_logistic(F: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float = 1.0) -> LogisticModel:
    """Multinomial logistic regression with an L2 penalty `l2 * ||W||^2 / 2` (per trial mean loss)."""
    if len(F) != len(y):
        raise ValueError(f"F and y: {len(F)} rows vs {len(y)} labels")
    mean, scale = F.mean(0), F.std(0) + 1e-8
    Z = (F - mean) / scale
    n, d = Z.shape
    Y = np.eye(n_classes)[y]

    def loss(theta):
        W, b = theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes:]
        logits = Z @ W + b
        lp = log_softmax(logits, axis=1)
        P = np.exp(lp)
        value = -(Y * lp).sum() / n + 0.5 * l2 * (W ** 2).sum() / n
        G = (P - Y) / n
        gW = Z.T @ G + l2 * W / n
        return value, np.concatenate([gW.ravel(), G.sum(0)])

    res = optimize.minimize(loss, np.zeros(d * n_classes + n_classes), jac=True, method="L-BFGS-B",
                            options={"maxiter": 500})
    theta = res.x
    return LogisticModel(mean, scale, theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes:])


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) on held-out labels."""
    def nll(log_t):
        return -log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean()
    res = optimize.minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
    return float(np.exp(res.x))


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-label confidence, equal-width bins."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def calibration_split(y: np.ndarray, fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, calibrate) index split of the training set."""
    rng = np.random.default_rng(seed)
    fit, cal = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, int(round(fraction * len(idx))))
        cal.extend(idx[:k])
        fit.extend(idx[k:])
    return np.sort(fit), np.sort(cal)


def stratified_folds(y: np.ndarray, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """`folds` disjoint index sets covering y, each class dealt round-robin after a shuffle."""
    y = np.asarray(y)
    if not 2 <= folds <= len(y):
        raise ValueError(f"folds must be between 2 and the number of trials ({len(y)}), got {folds}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for c in np.unique(y):
        for j, i in enumerate(rng.permutation(np.flatnonzero(y == c))):
            parts[(offset + j) % folds].append(int(i))
        offset += int((y == c).sum())  # the next class starts where this one stopped: even fold sizes
    return [np.sort(np.array(p, dtype=int)) for p in parts]


def out_of_fold_logits(y: np.ndarray, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                       folds: int = 5, seed: int = 0) -> np.ndarray:
    """Logits of every trial from a model trained without it: (n_trials, n_classes).

    Args:
        y: integer labels of the training trials (folds are stratified by them).
        fit_predict: fit_predict(train_idx, held_idx) trains a fresh model on the trials
            `train_idx` (the same way the final model will be trained) and returns its logits
            for `held_idx`.
        folds, seed: k of the k-fold split and its shuffle.

    Fitting `fit_temperature` on these uses every training trial as held-out evidence, instead
    of the quarter `calibration_split` sets aside; the price is `folds` extra trainings.
    """
    parts = stratified_folds(y, folds, seed)
    out = None
    for held in parts:
        train = np.setdiff1d(np.arange(len(y)), held)
        logits = np.asarray(fit_predict(train, held), dtype=np.float64)
        if logits.shape[0] != len(held):
            raise ValueError(f"fit_predict returned {logits.shape[0]} rows of logits for {len(held)} held-out trials")
        if out is None:
            out = np.zeros((len(y), logits.shape[1]))
        out[held] = logits
    return out


def evaluate(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> dict[str, float]:
    """Accuracy, NLL and ECE of softmax(logits / temperature)."""
    probs = softmax(logits / temperature, axis=1)
    nll = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
    return {"accuracy": float((probs.argmax(1) == y).mean()), "nll": nll, "ece": ece(probs, y)}


__all__ = ["FEATURE_NAMES", "trial_features", "LogisticModel", "fit_logistic", "fit_temperature", "ece",
           "calibration_split", "stratified_folds", "out_of_fold_logits", "evaluate"]
