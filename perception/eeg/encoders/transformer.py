"""Our EEG transformer (`perception.eeg.transformer`) behind the common encoder interface.

Trained on 80% of the training trials; the held-out fifth fits the Platt calibration. The patch
length defaults to a sixteenth of the trial (at least 8 samples), a shape-agnostic default and
not a tuned one (on Blink `demean=True` matters); docs/benchmarks.md shows where it stands
against the other encoders. `merge` (default 0.4) sets ToMe-style token merging
(`EEGTransformerConfig.merge_r`) as a fraction of the trial's tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from perception.eeg.encoders.base import TrialEncoder, stratified_split
from perception.eeg.encoders.convnet import torch_threads


MAX_MERGE = 0.5
"""ToMe's bipartite matching can remove at most half the tokens in one step."""


@dataclass(frozen=True)
class TransformerEncoderConfig:
    """Settings of the transformer encoder (see `EEGTransformerConfig` for the shape fields).

    Args:
        patch: samples per time patch (0: n_samples // 16, at least 8).
        group, d_model, depth, heads, demean: model shape.
        epochs: training passes.
        held_out: fraction of the training trials kept for calibration.
        threads: torch threads while training and predicting (see `ConvNetConfig.threads`).
        merge: fraction of the trial's tokens merged away (ToMe-style, `accel.tokens`), split
            evenly over the blocks but the last (`merge_r` per block, at least 1 when merge > 0);
            in [0, 0.5]; 0, depth 1 or accel absent: no merging. The model merges while training
            and predicting alike. Default 0.4: 1.1-1.4x faster training at equal accuracy on the
            UEA sets (docs/benchmarks.md, "EEG trial encoders"). An encoder saved before this
            option existed loads without merging, as it was trained.
    """

    patch: int = 0
    group: int = 1
    d_model: int = 64
    depth: int = 2
    heads: int = 4
    demean: bool = False
    epochs: int = 40
    held_out: float = 0.2
    threads: int = 1
    merge: float = 0.4

    def __post_init__(self):
        m = self.merge
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 <= m <= MAX_MERGE:
            raise ValueError(f"merge must be a fraction of the tokens in [0, {MAX_MERGE}] "
                             f"(0: no merging), got {m!r}")

    def merge_r(self, n_tokens: int) -> int:
        """Tokens merged away after each block but the last, for a model of `n_tokens` tokens."""
        if self.merge <= 0 or self.depth < 2:
            return 0
        return max(1, round(self.merge * n_tokens / (self.depth - 1)))


class TransformerEncoder(TrialEncoder):
    """Channel-group x time-patch transformer (ours), Platt-calibrated on a held-out fifth."""

    name = "transformer"
    Config = TransformerEncoderConfig

    def _model_config(self):
        from perception.eeg.transformer import EEGTransformerConfig

        c, info = self.config, self.info
        patch = c.patch or max(8, info.n_samples // 16)
        cfg = EEGTransformerConfig(n_channels=info.n_channels, n_samples=info.n_samples, classes=list(info.classes),
                                   patch=patch, group=c.group, d_model=c.d_model, depth=c.depth, heads=c.heads,
                                   demean=c.demean, sfreq=info.sfreq, ch_names=info.ch_names)
        cfg.merge_r = c.merge_r(cfg.n_groups * cfg.n_patches)
        return cfg

    def _fit(self, X, y, rng):
        from perception.eeg.transformer import TrainSettings, train

        fit, held = stratified_split(y, self.config.held_out, rng)
        with torch_threads(self.config.threads):
            self.model = train(self._model_config(), X[fit], y[fit],
                               TrainSettings(epochs=self.config.epochs, seed=self.seed))
        return self._logits(X[held]), y[held]

    def _logits(self, X):
        with torch_threads(self.config.threads):
            return self.model.logits(X).astype(np.float64)

    def _arrays(self):
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        arrays["input_scale"] = np.array([self.model.cfg.input_scale])
        arrays["merge_r"] = np.array([self.model.cfg.merge_r], dtype=np.int64)
        return arrays

    def _restore(self, arrays):
        import torch

        from perception.eeg.transformer import EEGTransformer

        if "merge_r" not in arrays:  # saved before the merge option: the model was trained without merging
            self.config = replace(self.config, merge=0.0)
        cfg = self._model_config()
        cfg.input_scale = float(arrays["input_scale"][0])
        if "merge_r" in arrays:  # the count the model trained with, whatever the current default
            cfg.merge_r = int(arrays["merge_r"][0])
        self.model = EEGTransformer(cfg)
        self.model.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("net.")})
        self.model.eval()


__all__ = ["TransformerEncoder", "TransformerEncoderConfig"]
