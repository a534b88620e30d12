"""Riemannian tangent-space encoder through pyriemann: covariances -> tangent space -> logistic.

Each trial's spatial covariance (a shrinkage estimate: OAS by default) is a point on the manifold
of symmetric positive-definite matrices. Mapped to the tangent space at the training set's
Riemannian mean (Barachant et al. 2012, "Multiclass brain-computer interface classification by
Riemannian geometry") it becomes a vector of c(c+1)/2 numbers that a linear model can read.
The L2 strength of the logistic head is chosen from `Cs` by out-of-fold NLL, and those
out-of-fold logits fit the Platt calibration.

Covariances carry power and coupling between channels, not the sign or the slow drift of the
signal: this encoder is strong for rhythms (motor imagery, alpha) and blind to slow cortical
potentials (SelfRegulationSCP1: chance).

Saved state: the reference mean (c x c) and the head's coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.eeg.encoders.base import LinearHead, TrialEncoder, fit_linear_head, stratified_folds


@dataclass(frozen=True)
class TangentSpaceConfig:
    """Settings of the tangent-space encoder.

    Args:
        estimator: pyriemann covariance estimator ("oas", "lwf", "scm", ...).
        metric: Riemannian metric of the mean and the tangent map.
        Cs: inverse L2 strengths tried for the logistic head.
        folds: k of the out-of-fold logits (C choice and calibration).
    """

    estimator: str = "oas"
    metric: str = "riemann"
    Cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    folds: int = 5

    def __post_init__(self):
        object.__setattr__(self, "Cs", tuple(float(c) for c in self.Cs))


class TangentSpaceEncoder(TrialEncoder):
    """pyriemann covariances -> tangent space at the Riemannian mean -> logistic regression."""

    name = "tangent"
    Config = TangentSpaceConfig

    def _vectors(self, X: np.ndarray) -> np.ndarray:
        from pyriemann.geometry.covariance import covariances
        from pyriemann.geometry.tangentspace import tangent_space

        X = X.astype(np.float64)
        C = covariances(X - X.mean(-1, keepdims=True), estimator=self.config.estimator)  # (n, c, c)
        return tangent_space(C, self.reference, metric=self.config.metric)  # (n, c(c+1)/2)

    def _fit(self, X, y, rng):
        from pyriemann.geometry.covariance import covariances
        from pyriemann.geometry.mean import gmean

        X64 = X.astype(np.float64)
        C = covariances(X64 - X64.mean(-1, keepdims=True), estimator=self.config.estimator)
        self.reference = gmean(C, metric=self.config.metric)  # (c, c)
        V = self._vectors(X)
        folds = stratified_folds(y, max(2, min(self.config.folds, int(np.bincount(y).min()))), rng)
        k = len(self.info.classes)
        best = None
        for C_ in self.config.Cs:
            held = np.zeros((len(y), k))
            for part in folds:
                train = np.setdiff1d(np.arange(len(y)), part)
                head, _ = fit_linear_head(V[train], y[train], "logistic", C=C_)
                held[part] = head.logits(V[part])
            z = held - held.max(1, keepdims=True)
            nll = float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())
            if best is None or nll < best[0]:
                best = (nll, C_, held)
        _, self.C, held = best
        self.head, _ = fit_linear_head(V, y, "logistic", C=self.C)
        return held, y

    def _logits(self, X):
        return self.head.logits(self._vectors(X))

    def _arrays(self):
        return {"reference": self.reference, "C": np.array([self.C]), **self.head.arrays("head.")}

    def _restore(self, arrays):
        self.reference = arrays["reference"]
        self.C = float(arrays["C"][0])
        self.head = LinearHead.from_arrays(arrays, "head.")
