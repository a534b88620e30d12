"""A compact transformer over (channel-group x time-patch) tokens of EEG trials.

Each token is one group of neighbouring channels over one time patch, linearly embedded, plus a
learned group embedding and a learned patch-position embedding; a class token reads out the
trial. Attention goes through `accel.attention` when the accel package provides it, and through
`torch.nn.functional.scaled_dot_product_attention` otherwise (import guarded). Small enough to train on a CPU in
minutes; saved as safetensors plus a JSON config.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from perception.errors import InputError
from perception.files import write_bytes_atomic

logger = logging.getLogger(__name__)

def _find_accel_attention():
    """accel's attention function if it exists yet: `accel.attention` as a function, or the
    `attention` function inside the `accel.attention` package; None otherwise."""
    try:
        import accel.attention as mod  # type: ignore[import-not-found]
    except ImportError:
        return None
    if callable(mod):
        return mod
    fn = getattr(mod, "attention", None)
    return fn if callable(fn) else None


_accel_attention = _find_accel_attention()


def _find_accel_merge():
    """accel's ToMe-style (bipartite_soft_matching, merge_weighted) if present, else None."""
    try:
        from accel.tokens import bipartite_soft_matching, merge_weighted  # type: ignore[import-not-found]
    except ImportError:
        return None
    return bipartite_soft_matching, merge_weighted


_accel_merge = _find_accel_merge()


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """[B, H, T, D] attention: accel's (with `backend`) when present, else torch SDPA (the reference path)."""
    if _accel_attention is not None:
        return _accel_attention(q, k, v, backend=backend)
    return F.scaled_dot_product_attention(q, k, v)


def attention_backend() -> str:
    """'accel' or 'sdpa': which attention this process uses."""
    return "accel" if _accel_attention is not None else "sdpa"


@dataclass
class EEGTransformerConfig:
    """Shape of the model and of the trials it reads.

    Args:
        n_channels: channels per trial.
        n_samples: samples per trial (cut or zero-padded to a whole number of patches).
        patch: samples per time patch.
        group: channels per channel group (the last group is zero-padded).
        d_model, depth, heads, mlp_ratio, dropout: transformer size.
        classes: class names, in logit order.
        sfreq: sampling rate the model was trained at.
        input_scale: trials are divided by this (µV) before embedding; set from training data.
        temperature: softmax temperature from calibration (1.0: uncalibrated).
        ch_names: channel names in input order, so recordings can be matched by name (optional).
        merge_r: tokens merged away after each block but the last (ToMe-style bipartite matching
            from `accel.tokens`; 0 or accel absent: no merging). The class token is never merged.
        demean: subtract each trial's per-channel mean first (removes electrode offsets that
            differ between subjects; keep False where slow potentials carry the class).
        attn_backend: `accel.attention` backend; ignored when accel is absent (SDPA).
    """

    n_channels: int
    n_samples: int
    classes: list[str]
    patch: int = 32
    group: int = 1
    d_model: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    sfreq: float | None = None
    input_scale: float = 1.0
    temperature: float = 1.0
    attn_backend: str = "auto"
    demean: bool = False
    merge_r: int = 0
    ch_names: list[str] | None = None

    def __post_init__(self):
        for name in ("n_channels", "n_samples", "patch", "group", "d_model", "depth", "heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if len(self.classes) < 2:
            raise ValueError(f"classes: need at least 2, got {self.classes!r}")

    @property
    def n_groups(self) -> int:
        return -(-self.n_channels // self.group)

    @property
    def n_patches(self) -> int:
        return max(1, self.n_samples // self.patch)


class SelfAttention(nn.Module):
    def __init__(self, cfg: EEGTransformerConfig):
        super().__init__()
        self.heads = cfg.heads
        self.backend = cfg.attn_backend
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, T, D) each
        y = attention(q, k, v, self.backend)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: EEGTransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        hidden = int(cfg.d_model * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, hidden), nn.GELU(), nn.Linear(hidden, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class EEGTransformer(nn.Module):
    """Trials (B, n_channels, n_samples) µV -> class logits (B, n_classes)."""

    def __init__(self, cfg: EEGTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.group * cfg.patch, cfg.d_model)
        self.group_pos = nn.Parameter(torch.zeros(1, cfg.n_groups, 1, cfg.d_model))
        self.time_pos = nn.Parameter(torch.zeros(1, 1, cfg.n_patches, cfg.d_model))
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        nn.init.normal_(self.group_pos, std=0.02)
        nn.init.normal_(self.time_pos, std=0.02)
        nn.init.normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, len(cfg.classes))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, N) -> (B, n_groups * n_patches, d_model) embedded tokens."""
        cfg = self.cfg
        B, C, N = x.shape
        if C != cfg.n_channels:
            raise ValueError(f"x: expected {cfg.n_channels} channels, got {C}")
        if cfg.demean:
            x = x - x.mean(-1, keepdim=True)
        need = cfg.n_patches * cfg.patch
        x = x[..., :need] if N >= need else F.pad(x, (0, need - N))
        x = F.pad(x, (0, 0, 0, cfg.n_groups * cfg.group - C)) / cfg.input_scale  # (B, G*g, need)
        x = x.view(B, cfg.n_groups, cfg.group, cfg.n_patches, cfg.patch).permute(0, 1, 3, 2, 4)
        x = x.reshape(B, cfg.n_groups, cfg.n_patches, cfg.group * cfg.patch)  # (B, G, P, g*p)
        h = self.embed(x) + self.group_pos + self.time_pos  # (B, G, P, d)
        return h.reshape(B, cfg.n_groups * cfg.n_patches, cfg.d_model)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x)
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)  # (B, 1 + T, d)
        size = None
        merge = _accel_merge if self.cfg.merge_r > 0 else None
        for i, block in enumerate(self.blocks):
            h = block(h)
            if merge is not None and i < len(self.blocks) - 1:
                plan = merge[0](h, self.cfg.merge_r, protect_first=True)
                h, size = merge[1](plan, h, size)  # (B, T', d), T' = T - r
        return self.norm(h[:, 0])  # (B, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray, batch: int = 256) -> np.ndarray:
        """Calibrated class probabilities (softmax(logits / temperature)) of trials in µV."""
        self.eval()
        out = [torch.softmax(self(torch.as_tensor(X[i:i + batch], dtype=torch.float32)) / self.cfg.temperature, dim=1)
               for i in range(0, len(X), batch)]
        return torch.cat(out).numpy()

    @torch.no_grad()
    def logits(self, X: np.ndarray, batch: int = 256) -> np.ndarray:
        self.eval()
        return torch.cat([self(torch.as_tensor(X[i:i + batch], dtype=torch.float32))
                          for i in range(0, len(X), batch)]).numpy()


@dataclass
class TrainSettings:
    """Optimiser settings for `train`."""

    epochs: int = 40
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    augment_shift: int = 8  # random circular time shift in samples, a cheap augmentation
    threads: int | None = None


def train(cfg: EEGTransformerConfig, X: np.ndarray, y: np.ndarray, settings: TrainSettings | None = None
          ) -> EEGTransformer:
    """Train from scratch on trials X (n, C, N) µV with integer labels y; sets cfg.input_scale."""
    s = settings or TrainSettings()
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    cfg.input_scale = float(np.std(X - X.mean(-1, keepdims=True) if cfg.demean else X) + 1e-6)
    model = EEGTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    steps = s.epochs * math.ceil(len(X) / s.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=steps, pct_start=0.1)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.long)
    for epoch in range(s.epochs):
        model.train()
        order = rng.permutation(len(X))
        total = 0.0
        for i in range(0, len(X), s.batch):
            idx = order[i:i + s.batch]
            xb = Xt[idx]
            if s.augment_shift:
                xb = torch.roll(xb, int(rng.integers(-s.augment_shift, s.augment_shift + 1)), dims=-1)
            loss = F.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        logger.debug("epoch %d loss %.4f", epoch, total / len(X))
    model.eval()
    return model


def save(model: EEGTransformer, folder: str | Path) -> Path:
    """Write `config.json` and `model.safetensors` into `folder` (created), atomically each."""
    from safetensors.torch import save as st_save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / "model.safetensors", st_save({k: v.contiguous() for k, v in model.state_dict().items()}))
    write_bytes_atomic(folder / "config.json", json.dumps(asdict(model.cfg), indent=2).encode())
    return folder


def load(folder: str | Path) -> EEGTransformer:
    """Rebuild a model saved by `save` (safetensors: no code runs on load)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        cfg = EEGTransformerConfig(**json.loads((folder / "config.json").read_text()))
        state = load_file(str(folder / "model.safetensors"))
    except FileNotFoundError as err:
        raise InputError(folder, f"not a saved EEG transformer ({Path(err.filename).name} missing)") from None
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise InputError(folder, f"config.json does not describe an EEG transformer: {err}") from None
    model = EEGTransformer(cfg)
    model.load_state_dict(state)
    model.eval()
    return model
