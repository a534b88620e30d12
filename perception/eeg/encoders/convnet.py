"""Convolutional EEG networks through braindecode (EEGNet, ShallowFBCSPNet), trained on a CPU.

The network is braindecode's own module; training is a short plain-PyTorch loop (AdamW, cosine
schedule, a fixed number of epochs and an optional wall-clock budget), so no skorch object is
kept and the model saves as safetensors. A stratified fifth of the training trials is held out:
the network never trains on it, and its logits fit the Platt calibration.

- EEGNet (Lawhern et al. 2018): temporal convolution, depthwise spatial filters, separable
  convolution; ~2k parameters on the UEA sets. Reads slow potentials as well as rhythms.
- ShallowFBCSPNet (Schirrmeister et al. 2017): temporal + spatial convolution, squaring, mean
  pooling and log: a learned filter-bank CSP, built for band power (motor imagery).

Inputs are divided by the training trials' standard deviation (kept with the model).
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from perception.eeg.encoders.base import TrialEncoder, stratified_split

logger = logging.getLogger(__name__)

ARCHS = ("eegnet", "shallow")


@dataclass(frozen=True)
class ConvNetConfig:
    """Settings of a braindecode network encoder.

    Args:
        arch: "eegnet" (braindecode.models.EEGNet) or "shallow" (ShallowFBCSPNet).
        epochs: passes over the training trials.
        batch, lr, weight_decay: optimiser settings (AdamW, cosine decay to 0).
        held_out: fraction of the training trials kept for calibration.
        max_seconds: stop training after this many seconds (0: no limit); the epoch reached is logged.
        threads: torch threads while training and predicting (restored afterwards). One is the
            fastest for these small networks on a shared CPU, and setting it explicitly matters:
            aeon's numba transforms (OpenMP layer) change the process-wide thread count.
    """

    arch: str = "eegnet"
    epochs: int = 40
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    held_out: float = 0.2
    max_seconds: float = 0.0
    threads: int = 1

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


@contextmanager
def torch_threads(n: int):
    """Run a block with `n` torch threads, then put the previous count back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _build(arch: str, n_chans: int, n_outputs: int, n_times: int):
    import torch  # noqa: F401  (braindecode needs it imported first)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from braindecode.models import EEGNet, ShallowFBCSPNet

        if arch == "eegnet":
            return EEGNet(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times)
        return ShallowFBCSPNet(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, final_conv_length="auto")


class ConvNetEncoder(TrialEncoder):
    """A braindecode network (EEGNet by default) trained from scratch, Platt-calibrated on a held-out fifth."""

    name = "eegnet"
    Config = ConvNetConfig

    def _fit(self, X, y, rng):
        with torch_threads(self.config.threads):
            return self._train(X, y, rng)

    def _train(self, X, y, rng):
        import torch
        import torch.nn.functional as F

        cfg = self.config
        torch.manual_seed(self.seed)
        fit, held = stratified_split(y, cfg.held_out, rng)
        self.input_scale = float(X[fit].std() + 1e-6)
        self.net = _build(cfg.arch, X.shape[1], len(self.info.classes), X.shape[2])
        Xt = torch.as_tensor(X[fit] / self.input_scale)
        yt = torch.as_tensor(y[fit])
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = cfg.epochs * math.ceil(len(fit) / cfg.batch)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        t0 = time.perf_counter()
        for epoch in range(cfg.epochs):
            self.net.train()
            order = torch.as_tensor(rng.permutation(len(fit)))
            for i in range(0, len(fit), cfg.batch):
                idx = order[i:i + cfg.batch]
                if len(idx) < 2:  # batch norm needs two trials
                    continue
                loss = F.cross_entropy(self.net(Xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if cfg.max_seconds and time.perf_counter() - t0 > cfg.max_seconds and epoch + 1 < cfg.epochs:
                logger.warning("%s: stopped after epoch %d of %d (max_seconds=%g)", self.name, epoch + 1, cfg.epochs,
                               cfg.max_seconds)
                break
        self.net.eval()
        return self._logits(X[held]), y[held]

    def _logits(self, X):
        import torch

        self.net.eval()
        with torch.no_grad(), torch_threads(self.config.threads):
            out = [self.net(torch.as_tensor(X[i:i + 256] / self.input_scale)) for i in range(0, len(X), 256)]
        return torch.cat(out).double().numpy()

    def _arrays(self):
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays["input_scale"] = np.array([self.input_scale])
        return arrays

    def _restore(self, arrays):
        import torch

        self.input_scale = float(arrays["input_scale"][0])
        self.net = _build(self.config.arch, self.info.n_channels, len(self.info.classes), self.info.n_samples)
        state = {k[4:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("net.")}
        self.net.load_state_dict(state)
        self.net.eval()


class ShallowNetEncoder(ConvNetEncoder):
    """braindecode's ShallowFBCSPNet, same training and calibration as `ConvNetEncoder`."""

    name = "shallow"

    def __init__(self, config=None, *, seed: int = 0, **settings):
        if config is None:
            settings.setdefault("arch", "shallow")
        super().__init__(config, seed=seed, **settings)
