"""ROCKET-family encoders through aeon: random convolution features, a linear head, Platt calibration.

MiniRocket (Dempster et al. 2021) and MultiRocket (Tan et al. 2022) turn each trial into
thousands of pooled random-convolution features; the aeon transformers compute them. A linear
head reads them out:

- ``head="ridge"`` (default): scikit-learn's `RidgeClassifierCV` on standardised features, the
  head the ROCKET papers and aeon's classifiers use; its decision values are the logits.
- ``head="logistic"``: an L2 logistic regression. On Blink it is 12 points less accurate than the
  ridge head with the same features (0.85 vs 0.97, 2026-12-02): with ten thousand features and
  500 trials the classes separate at once and L-BFGS stops after ~15 iterations, far from the
  minimum-norm solution that ridge finds.

Either way the probabilities come from Platt scaling (`base.fit_platt`) fitted on out-of-fold
logits: the feature transform is fitted once on all training trials (it is unsupervised: only
dilations and bias quantiles), the head is refitted `folds` times on the other folds, and the
final head is fitted on all trials.

Saved state: the transformer's fitted parameter arrays (dilations, features per dilation,
biases, channel choices) and the head's coefficients; on load a fresh aeon transformer is
fitted on two dummy trials of the right shape and its parameters are replaced by the saved ones.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from perception.eeg.encoders.base import LinearHead, TrialEncoder, fit_linear_head, stratified_folds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RocketConfig:
    """Settings of a ROCKET-family encoder.

    Args:
        n_kernels: kernels of the transform (aeon's defaults: 10,000 for MiniRocket, 6,250 for
            MultiRocket).
        head: "ridge" or "logistic" (see the module docstring).
        C: inverse L2 strength of the logistic head.
        folds: k of the out-of-fold logits the calibration is fitted on.
        n_jobs: threads of the numba transform.
    """

    n_kernels: int = 10_000
    head: str = "ridge"
    C: float = 1.0
    folds: int = 5
    n_jobs: int = 1


class _RocketBase(TrialEncoder):
    Config = RocketConfig
    _param_attrs: tuple[str, ...] = ()

    def _transformer(self):
        raise NotImplementedError

    def _features(self, X: np.ndarray) -> np.ndarray:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.transform.transform(X), dtype=np.float64)  # (n, n_features)

    def _fit(self, X, y, rng):
        self.transform = self._transformer().fit(X)
        F = self._features(X)
        folds = stratified_folds(y, max(2, min(self.config.folds, int(np.bincount(y).min()))), rng)
        k = len(self.info.classes)
        held = np.zeros((len(y), k))
        for part in folds:
            train = np.setdiff1d(np.arange(len(y)), part)
            head, _ = fit_linear_head(F[train], y[train], self.config.head, C=self.config.C)
            held[part] = head.logits(F[part])
        self.head, self.head_info = fit_linear_head(F, y, self.config.head, C=self.config.C)
        logger.info("%s: %d features, head %s %s", self.name, F.shape[1], self.config.head, self.head_info)
        return held, y

    def _logits(self, X):
        return self.head.logits(self._features(X))

    def _arrays(self):
        out = self.head.arrays("head.")
        for attr in self._param_attrs:
            for i, a in enumerate(getattr(self.transform, attr)):
                out[f"{attr}.{i}"] = np.asarray(a)
        return out

    def _restore(self, arrays):
        info = self.info
        dummy = np.random.default_rng(0).normal(size=(2, info.n_channels, info.n_samples)).astype(np.float32)
        self.transform = self._transformer().fit(dummy)
        for attr in self._param_attrs:
            old = getattr(self.transform, attr)
            new = tuple(arrays[f"{attr}.{i}"] for i in range(len(old)))
            for i, (a, b) in enumerate(zip(old, new)):
                if np.asarray(a).dtype != b.dtype:
                    raise ValueError(f"{attr}.{i}: saved dtype {b.dtype}, aeon expects {np.asarray(a).dtype}")
            setattr(self.transform, attr, new)
        self.head = LinearHead.from_arrays(arrays, "head.")


class MiniRocketEncoder(_RocketBase):
    """aeon's MiniRocket features + a ridge (or logistic) head, Platt-calibrated."""

    name = "minirocket"
    _param_attrs = ("parameters",)

    def _transformer(self):
        from aeon.transformations.collection.convolution_based import MiniRocket

        return MiniRocket(n_kernels=self.config.n_kernels, n_jobs=self.config.n_jobs, random_state=self.seed)


@dataclass(frozen=True)
class MultiRocketConfig(RocketConfig):
    n_kernels: int = 6_250


class MultiRocketEncoder(_RocketBase):
    """aeon's MultiRocket features (four pooling operators, raw and first difference) + a linear
    head, Platt-calibrated. Five times the features of MiniRocket and about ten times slower."""

    name = "multirocket"
    Config = MultiRocketConfig
    _param_attrs = ("parameter", "parameter1")

    def _transformer(self):
        from aeon.transformations.collection.convolution_based import MultiRocket

        return MultiRocket(n_kernels=self.config.n_kernels, n_jobs=self.config.n_jobs, random_state=self.seed)
