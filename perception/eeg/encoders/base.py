"""The one interface every EEG trial encoder follows, its input checks, calibration and safe saving.

A `TrialEncoder` is fitted on equal-length trials `X[n, channels, samples]` (µV) with integer
labels, and returns calibrated class probabilities. Each encoder supplies four things:

- `_fit(X, y, rng)`: train on the trials, return held-out logits (n_held, k) and their labels
  for calibration (out-of-fold logits for linear heads, a held-out split for networks);
- `_logits(X)`: uncalibrated logits of new trials;
- `_arrays()` / `_restore(arrays)`: its fitted state as named numpy arrays (and back).

The base class does the rest: input checks with errors that name the file and the problem,
Platt calibration (a scale and per-class biases on the logits, fitted by NLL on the held-out
logits), and saving as `encoder.json` + `arrays.safetensors`. Nothing is pickled: scikit-learn
and torch parts are stored as their coefficient arrays and rebuilt on load.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from perception.errors import InputError
from perception.files import write_bytes_atomic

logger = logging.getLogger(__name__)

FORMAT = "agentkit.eeg.encoder"
FORMAT_VERSION = 1
CONFIG_FILE = "encoder.json"
ARRAYS_FILE = "arrays.safetensors"


# ----------------------------------------------------------------------------- input checks

def check_trials(X: Any, source: str, *, what: str = "trials") -> np.ndarray:
    """Trials as a float32 (n, channels, samples) array, or an InputError naming `source`.

    Accepts an array or a sequence of (channels, samples) arrays; trials (or channels within a
    trial) of unequal length, NaN/inf samples, an empty set and the wrong number of dimensions
    are refused.
    """
    if isinstance(X, np.ndarray) and X.dtype != object:
        arr = X
    else:
        trials = [np.asarray(t) for t in X]
        if not trials:
            raise InputError(source, f"no {what}")
        for i, t in enumerate(trials):
            if t.ndim != 2:
                raise InputError(source, f"{what}: trial {i} has shape {t.shape}; each trial must be (channels, samples)")
        shapes = {t.shape for t in trials}
        if len(shapes) > 1:
            ref = trials[0].shape
            bad = next(i for i, t in enumerate(trials) if t.shape != ref)
            raise InputError(source, f"{what} of unequal length: trial {bad} is {trials[bad].shape[0]} channels x "
                                     f"{trials[bad].shape[1]} samples, trial 0 is {ref[0]} x {ref[1]} "
                                     "(cut or pad them to one length first)")
        arr = np.stack(trials)
    if arr.ndim != 3:
        raise InputError(source, f"{what}: expected (trials, channels, samples), got an array of shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(source, f"no {what}")
    if arr.shape[2] < 9:
        raise InputError(source, f"{what}: {arr.shape[2]} samples per trial; need at least 9")
    arr = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        trial, ch, s = np.argwhere(~finite)[0]
        n_bad = int((~finite.all(axis=(1, 2))).sum())
        raise InputError(source, f"{what}: NaN/inf samples in {n_bad} trial(s), first in trial {trial} channel {ch} "
                                 f"sample {s} (interpolate or drop those trials)")
    return arr


def check_labels(y: Any, n: int, classes: Sequence[str] | None, source: str) -> tuple[np.ndarray, list[str]]:
    """Integer labels 0..k-1 and class names; refuses one-class data and a length mismatch."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise InputError(source, f"{len(y) if y.ndim == 1 else y.shape} labels for {n} trials")
    if classes is None:
        names = sorted({str(v) for v in y.tolist()})
        y = np.array([names.index(str(v)) for v in y.tolist()])
        classes = names
    else:
        classes = [str(c) for c in classes]
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(classes):
            raise InputError(source, f"labels must be integers in [0, {len(classes)}) indexing the classes {classes}")
    present = np.unique(y)
    if len(present) < 2:
        only = classes[int(present[0])] if len(present) else "none"
        raise InputError(source, f"training trials hold one class only ({only!r}); need at least 2 classes")
    return y.astype(np.int64), list(classes)


def match_channels(model_names: Sequence[str] | None, n_model: int, names: Sequence[str] | None,
                   n_given: int, source: str) -> list[int] | None:
    """Row order that maps the given channels onto the model's, or an InputError.

    Names are matched case-insensitively and reordered; without names on either side only the
    count is checked. Returns None when the order is already right.
    """
    if model_names and names:
        lower = {c.lower(): i for i, c in enumerate(names)}
        if len(lower) != len(names):
            raise InputError(source, f"duplicate channel names in {list(names)}")
        missing = [c for c in model_names if c.lower() not in lower]
        extra = [c for c in names if c.lower() not in {m.lower() for m in model_names}]
        if missing:
            raise InputError(source, f"channels do not match the model: missing {missing}"
                                     + (f", not in the model {extra}" if extra else "")
                                     + f" (the model was trained on {list(model_names)})")
        order = [lower[c.lower()] for c in model_names]
        return None if order == list(range(n_given)) else order
    if n_given != n_model:
        raise InputError(source, f"{n_given} channels, the model was trained on {n_model}")
    return None


# ----------------------------------------------------------------------------- calibration

def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_platt(logits: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[float, np.ndarray]:
    """Scale a > 0 and biases b (b[0] = 0) minimising the NLL of softmax(a * logits + b).

    Platt scaling (Platt 1999) written for k classes: the temperature of Guo et al. (2017)
    plus a bias per class, so a model whose logits carry no signal falls back to the class
    prior instead of to 1/k. A small L2 pull on log a keeps it finite on separable logits.
    """
    from scipy import optimize

    logits = np.asarray(logits, dtype=np.float64)
    Y = np.eye(n_classes)[y]
    n = len(y)

    def loss(theta):
        log_a, b = theta[0], np.concatenate([[0.0], theta[1:]])
        a = np.exp(log_a)
        z = a * logits + b
        P = softmax(z)
        value = -(Y * np.log(P + 1e-300)).sum() / n + 1e-3 * log_a ** 2
        G = (P - Y) / n
        g_log_a = (G * logits).sum() * a + 2e-3 * log_a
        return value, np.concatenate([[g_log_a], G.sum(0)[1:]])

    res = optimize.minimize(loss, np.zeros(n_classes), jac=True, method="L-BFGS-B",
                            bounds=[(-8.0, 6.0)] + [(-20.0, 20.0)] * (n_classes - 1))
    return float(np.exp(res.x[0])), np.concatenate([[0.0], res.x[1:]])


def stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held) indices; each class keeps `fraction` of its trials (at least one) held out."""
    fit, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = min(len(idx) - 1, max(1, int(round(fraction * len(idx))))) if len(idx) > 1 else 0
        held.extend(idx[:k])
        fit.extend(idx[k:])
    return np.sort(np.array(fit, dtype=int)), np.sort(np.array(held, dtype=int))


def stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`folds` disjoint, class-balanced index sets covering y (a class smaller than `folds` is
    dealt to as many folds as it has trials)."""
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for c in np.unique(y):
        for j, i in enumerate(rng.permutation(np.flatnonzero(y == c))):
            parts[(offset + j) % folds].append(int(i))
        offset += int((y == c).sum())
    return [np.sort(np.array(p, dtype=int)) for p in parts if p]


# ----------------------------------------------------------------------------- the interface

@dataclass
class EncoderInfo:
    """What a fitted encoder knows about its data (saved in encoder.json)."""

    classes: list[str]
    n_channels: int
    n_samples: int
    sfreq: float | None = None
    ch_names: list[str] | None = None
    scale: float = 1.0
    """Platt scale a of softmax(a * logits + b)."""
    bias: list[float] = field(default_factory=list)
    """Platt biases b, one per class (the first is 0)."""
    n_train: int = 0
    fit_seconds: float = 0.0


class TrialEncoder:
    """Base of every EEG trial encoder: fit, predict_proba, save, load.

    Subclasses set `name` and `Config` (a dataclass of their settings, saved as JSON) and
    implement `_fit`, `_logits`, `_arrays` and `_restore`.

    Example:
        ```python
        from perception.eeg.encoders import load_encoder, make_encoder

        enc = make_encoder("minirocket", seed=0).fit(X, y, classes=["a", "b"], sfreq=256.0, source="a.ts")
        probs = enc.predict_proba(X_new)          # (n_new, 2), calibrated
        enc.save("model/")
        enc = load_encoder("model/")
        ```
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type] = dict

    def __init__(self, config=None, *, seed: int = 0, **settings):
        if config is None:
            config = self.Config(**settings)
        elif settings:
            raise TypeError("give either a config or keyword settings, not both")
        self.config = config
        self.seed = int(seed)
        self.info: EncoderInfo | None = None

    # -- to implement -------------------------------------------------------------------
    def _fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _logits(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- public surface -----------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return self._fitted().classes

    def fit(self, X, y, *, classes: Sequence[str] | None = None, sfreq: float | None = None,
            ch_names: Sequence[str] | None = None, source: str = "trials") -> "TrialEncoder":
        """Train on trials X (n, channels, samples) in µV and labels y, then calibrate.

        Args:
            X: equal-length trials (an array or a list of (channels, samples) arrays).
            y: integer class indices into `classes`, or class names when `classes` is None.
            classes: class names in logit order.
            sfreq: sampling rate (Hz), kept with the model.
            ch_names: channel names in row order, so later input can be matched by name.
            source: the file (or set) the trials came from; every error names it.

        Raises:
            InputError: unequal lengths, NaN/inf samples, one class only, or labels and
                channel names that do not fit the trials.
        """
        import time

        X = check_trials(X, source)
        y, classes = check_labels(y, len(X), classes, source)
        if ch_names is not None and len(ch_names) != X.shape[1]:
            raise InputError(source, f"{len(ch_names)} channel names for {X.shape[1]} channels")
        counts = np.bincount(y, minlength=len(classes))
        if counts.min() < 2:
            worst = int(counts.argmin())
            raise InputError(source, f"class {classes[worst]!r} has {counts[worst]} training trial(s); "
                                     "need at least 2 per class to train and calibrate")
        self.info = EncoderInfo(classes=list(classes), n_channels=X.shape[1], n_samples=X.shape[2],
                                sfreq=float(sfreq) if sfreq else None,
                                ch_names=[str(c) for c in ch_names] if ch_names is not None else None, n_train=len(X))
        rng = np.random.default_rng(self.seed)
        t0 = time.perf_counter()
        held_logits, held_y = self._fit(X, y, rng)
        a, b = fit_platt(held_logits, held_y, len(classes))
        self.info.scale, self.info.bias = a, [float(v) for v in b]
        self.info.fit_seconds = time.perf_counter() - t0
        logger.info("%s: fitted on %d trials in %.1f s (Platt scale %.3g)", self.name, len(X), self.info.fit_seconds, a)
        return self

    def predict_logits(self, X, *, ch_names: Sequence[str] | None = None, source: str = "trials") -> np.ndarray:
        """Uncalibrated logits (n, k) of trials, checked and reordered to the model's channels."""
        return self._logits(self._prepare(X, ch_names, source))

    def predict_proba(self, X, *, ch_names: Sequence[str] | None = None, source: str = "trials") -> np.ndarray:
        """Calibrated class probabilities (n, k): softmax(a * logits + b)."""
        info = self._fitted()
        return softmax(info.scale * self.predict_logits(X, ch_names=ch_names, source=source).astype(np.float64)
                       + np.asarray(info.bias))

    def predict(self, X, **kw) -> np.ndarray:
        return self.predict_proba(X, **kw).argmax(1)

    def size_bytes(self) -> int:
        """Bytes of the saved arrays (the model's size on disk, less its JSON)."""
        return int(sum(a.nbytes for a in self._arrays().values()))

    def save(self, folder: str | Path) -> Path:
        """Write `encoder.json` and `arrays.safetensors` into `folder` (created), each atomically."""
        from safetensors.numpy import save as st_save

        info = self._fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "encoder": self.name, "seed": self.seed,
                "config": asdict(self.config), "info": asdict(info)}
        write_bytes_atomic(folder / ARRAYS_FILE, st_save(arrays))
        write_bytes_atomic(folder / CONFIG_FILE, json.dumps(meta, indent=2).encode())
        return folder

    @staticmethod
    def load(folder: str | Path) -> "TrialEncoder":
        """Rebuild an encoder saved by `save` (JSON + safetensors: no code runs on load)."""
        from safetensors.numpy import load_file

        from perception.eeg.encoders import ENCODERS

        folder = Path(folder)
        try:
            meta = json.loads((folder / CONFIG_FILE).read_text())
            arrays = load_file(str(folder / ARRAYS_FILE))
        except FileNotFoundError as err:
            raise InputError(folder, f"not a saved EEG encoder ({Path(err.filename).name} missing)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(folder, f"{CONFIG_FILE} is not valid JSON: {err}") from None
        except Exception as err:  # safetensors raises its own error types
            raise InputError(folder, f"{ARRAYS_FILE} cannot be read: {err}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(folder, f"{CONFIG_FILE} is not an EEG encoder file (format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{CONFIG_FILE} is not an EEG encoder file")
        if meta.get("version") != FORMAT_VERSION:
            raise InputError(folder, f"encoder format version {meta.get('version')!r}; this build reads {FORMAT_VERSION}")
        cls = ENCODERS.get(meta.get("encoder"))
        if cls is None:
            raise InputError(folder, f"unknown encoder {meta.get('encoder')!r}; known: {sorted(ENCODERS)}")
        try:
            known = {f.name for f in fields(cls.Config)}
            config = cls.Config(**{k: v for k, v in meta["config"].items() if k in known})
            enc = cls(config, seed=meta.get("seed", 0))
            enc.info = EncoderInfo(**meta["info"])
            enc._restore(arrays)
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(folder, f"saved {meta.get('encoder')} encoder is inconsistent: {err}") from None
        return enc

    # -- helpers --------------------------------------------------------------------------
    def _fitted(self) -> EncoderInfo:
        if self.info is None:
            raise RuntimeError(f"{self.name} encoder is not fitted; call fit() or TrialEncoder.load() first")
        return self.info

    def _prepare(self, X, ch_names, source) -> np.ndarray:
        info = self._fitted()
        X = check_trials(X, source)
        order = match_channels(info.ch_names, info.n_channels, ch_names, X.shape[1], source)
        if order is not None:
            X = X[:, order]
        if X.shape[2] != info.n_samples:
            raise InputError(source, f"trials have {X.shape[2]} samples, the model was trained on {info.n_samples}"
                                     + (f" ({info.n_samples / info.sfreq:g} s at {info.sfreq:g} Hz)" if info.sfreq else ""))
        return X

    def __repr__(self) -> str:
        state = f"{len(self.info.classes)} classes" if self.info else "unfitted"
        return f"{type(self).__name__}({self.config}, seed={self.seed}, {state})"


@dataclass
class LinearHead:
    """Standardise -> linear: the coefficients of a fitted scikit-learn linear model as arrays."""

    mean: np.ndarray
    scale: np.ndarray
    W: np.ndarray  # (n_features, k) or (n_features, 1) for a binary decision
    b: np.ndarray  # (k,) or (1,)

    def logits(self, F: np.ndarray) -> np.ndarray:
        d = ((F - self.mean) / self.scale) @ self.W + self.b
        return np.concatenate([np.zeros_like(d), d], axis=1) if d.shape[1] == 1 else d

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale, f"{prefix}W": self.W, f"{prefix}b": self.b}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "LinearHead":
        return cls(*(arrays[f"{prefix}{k}"] for k in ("mean", "scale", "W", "b")))


def fit_linear_head(F: np.ndarray, y: np.ndarray, kind: str, *, alphas: Sequence[float] = (), C: float = 1.0
                    ) -> tuple[LinearHead, dict[str, float]]:
    """Fit a ridge classifier (alpha chosen by efficient leave-one-out over `alphas`) or an L2
    logistic regression on standardised features; return its coefficients as a `LinearHead`."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifierCV

    mean = F.mean(0)
    scale = F.std(0)
    scale[scale < 1e-8] = 1.0
    Z = (F - mean) / scale
    if kind == "ridge":
        model = RidgeClassifierCV(alphas=tuple(alphas) or tuple(np.logspace(-3, 3, 10))).fit(Z, y)
        extra = {"alpha": float(model.alpha_)}
    elif kind == "logistic":
        model = LogisticRegression(C=C, max_iter=2000).fit(Z, y)
        extra = {"C": C}
    else:
        raise ValueError(f"head must be 'ridge' or 'logistic', got {kind!r}")
    W = np.reshape(model.coef_, (-1, F.shape[1])).T.astype(np.float64)  # binary: (d, 1) (sklearn may give (d,))
    b = np.atleast_1d(model.intercept_).astype(np.float64)
    return LinearHead(mean.astype(np.float64), scale.astype(np.float64), W, b), extra

