"""Choose an encoder by cross-validation on the training trials, and report every candidate.

Each candidate is fitted `folds` times on the other folds (with its own calibration inside) and
scored on the held fold with its calibrated probabilities: accuracy, NLL and ECE. The winner
has the highest mean accuracy; a tie within half a held-out trial goes to the lower NLL. It is
then fitted once more on all the training trials. An optional time budget stops the
cross-validation between folds; what it cut short is reported and never chosen.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from perception.eeg.encoders.base import TrialEncoder, check_labels, check_trials, stratified_folds

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES = ("minirocket", "tangent", "eegnet")
"""What `select_encoder` (and `agentkit eeg train`) tries by default: together under two
minutes on two cores on each UEA set we ship (docs/benchmarks.md)."""


@dataclass
class CandidateScore:
    """Cross-validated scores of one candidate on the training trials."""

    name: str
    accuracy: float
    nll: float
    ece: float
    fold_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of all its fold fits."""
    error: str | None = None
    """Why the candidate could not be scored (it is then never chosen)."""


def select_encoder(X, y, *, classes: Sequence[str] | None = None, candidates: Sequence[str] = DEFAULT_CANDIDATES,
                   folds: int = 3, seed: int = 0, sfreq: float | None = None, ch_names: Sequence[str] | None = None,
                   source: str = "trials", settings: dict[str, dict] | None = None, budget_s: float | None = None
                   ) -> tuple[TrialEncoder, list[CandidateScore]]:
    """Cross-validate `candidates` on (X, y), fit the best on all of it, return it and every score.

    Args:
        X, y, classes, sfreq, ch_names, source: as for `TrialEncoder.fit`.
        candidates: encoder names (see `perception.eeg.encoders.ENCODERS`).
        folds: k of the stratified k-fold split (capped by the smallest class).
        seed: seeds the split and every encoder.
        settings: per-encoder keyword settings, e.g. {"eegnet": {"epochs": 20}}.
        budget_s: wall-clock seconds for the cross-validation. Candidates run in the given order;
            the first always runs all its folds, and after it no new fold starts once the budget
            is spent: a candidate cut short is reported with `error` set ("time budget ...") and
            is not chosen. None: no limit.

    Raises:
        InputError: bad trials or labels (checked once, before any fitting).
        RuntimeError: no candidate could be scored.
    """
    from perception.eeg.classify import ece  # scipy, like the encoders' own libraries, loads on use
    from perception.eeg.encoders import make_encoder

    X = check_trials(X, source)
    y, classes = check_labels(y, len(X), classes, source)
    settings = settings or {}
    k = max(2, min(folds, int(np.bincount(y, minlength=len(classes)).min()) // 2))
    parts = stratified_folds(y, k, np.random.default_rng(seed))
    scores: list[CandidateScore] = []
    start = time.perf_counter()
    for name in candidates:
        t0 = time.perf_counter()
        probs = np.zeros((len(y), len(classes)))
        fold_acc = []
        try:
            for i, part in enumerate(parts):
                if budget_s is not None and scores and time.perf_counter() - start > budget_s:
                    raise TimeoutError(f"time budget of {budget_s:g} s spent after {i} of {len(parts)} folds")
                train = np.setdiff1d(np.arange(len(y)), part)
                enc = make_encoder(name, seed=seed, **settings.get(name, {}))
                enc.fit(X[train], y[train], classes=classes, sfreq=sfreq, ch_names=ch_names, source=source)
                probs[part] = enc.predict_proba(X[part], ch_names=ch_names, source=source)
                fold_acc.append(float((probs[part].argmax(1) == y[part]).mean()))
        except (ImportError, MemoryError, TimeoutError) as err:  # a missing library, memory or time: report, go on
            scores.append(CandidateScore(name, float("nan"), float("nan"), float("nan"), fold_accuracy=fold_acc,
                                         error=f"{type(err).__name__}: {err}", seconds=time.perf_counter() - t0))
            logger.warning("%s: candidate %s failed: %s", source, name, err)
            continue
        nll = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
        scores.append(CandidateScore(name, float((probs.argmax(1) == y).mean()), nll, ece(probs, y), fold_acc,
                                     time.perf_counter() - t0))
        logger.info("%s: %s cv accuracy %.3f nll %.3f (%.1f s)", source, name, scores[-1].accuracy, nll,
                    scores[-1].seconds)
    ok = [s for s in scores if s.error is None]
    if not ok:
        raise RuntimeError(f"{source}: no encoder could be scored: " + "; ".join(f"{s.name}: {s.error}" for s in scores))
    tie = 0.5 / len(y)
    top = max(s.accuracy for s in ok)
    best = min((s for s in ok if s.accuracy >= top - tie), key=lambda s: s.nll)
    enc = make_encoder(best.name, seed=seed, **settings.get(best.name, {}))
    enc.fit(X, y, classes=classes, sfreq=sfreq, ch_names=ch_names, source=source)
    return enc, scores
