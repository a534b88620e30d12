"""Small DiT for 32 px RGB images, trained with flow matching (rectified flow).

Peebles & Xie, "Scalable Diffusion Models with Transformers", 2023
(https://arxiv.org/abs/2212.09748): patch tokens, adaLN-Zero conditioning on the timestep,
a linear decoder back to patches. Unconditional; the network predicts the velocity
``noise - image`` of the straight path ``x_t = (1 - t) * image + t * noise``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiTConfig:
    image_size: int = 32
    patch_size: int = 2
    in_channels: int = 3
    dim: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of ``t`` in [0, 1] (scaled by 1000 as in DDPM-style models). [B] -> [B, dim]"""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding. -> [grid * grid, dim]"""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    out = [torch.sin(ys.flatten()[:, None] * omega), torch.cos(ys.flatten()[:, None] * omega)]
    out += [torch.sin(xs.flatten()[:, None] * omega), torch.cos(xs.flatten()[:, None] * omega)]
    return torch.cat(out, dim=1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero: the timestep sets shift, scale and gate."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.norm1 = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.norm2 = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, cfg.dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 6 * cfg.dim))

    def modulated_input(self, x: torch.Tensor, c: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """The timestep-modulated normalised input (TeaCache's change indicator)."""
        shift, scale = self.ada(c).chunk(6, dim=-1)[:2]
        return modulate(self.norm1(x), shift, scale)

    def forward(self, x: torch.Tensor, c: torch.Tensor, attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, N, D] tokens; c: [B, D] conditioning; attn_bias: optional [B, 1, 1, N] additive bias."""
        b, n, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), sh1, sc1)
        q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # [B, H, N, hd]
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        x = x + g1[:, None] * self.proj(h.transpose(1, 2).reshape(b, n, d))
        x = x + g2[:, None] * self.mlp(modulate(self.norm2(x), sh2, sc2))
        return x


class DiT(nn.Module):
    """Velocity predictor ``v(x_t, t)`` for 32 px images in [-1, 1]."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, d = cfg.patch_size, cfg.dim
        self.grid = cfg.image_size // p
        self.patch = nn.Conv2d(cfg.in_channels, d, kernel_size=p, stride=p)
        self.register_buffer("pos", sincos_2d(self.grid, d)[None], persistent=False)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList([DiTBlock(cfg) for _ in range(cfg.depth)])
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, p * p * cfg.in_channels)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:  # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(blk.ada[-1].weight)
            nn.init.zeros_(blk.ada[-1].bias)
        nn.init.zeros_(self.ada_out[-1].weight)
        nn.init.zeros_(self.ada_out[-1].bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image [B, C, H, W] and time [B] -> tokens [B, N, D] and conditioning [B, D]."""
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return tokens, self.t_mlp(timestep_embedding(t, self.cfg.dim))

    def head(self, tokens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Tokens [B, N, D] -> velocity image [B, C, H, W]."""
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        y = self.out(modulate(self.norm_out(tokens), shift, scale))  # [B, N, p*p*C]
        b, p, g, ch = y.shape[0], self.cfg.patch_size, self.grid, self.cfg.in_channels
        return y.reshape(b, g, g, p, p, ch).permute(0, 5, 1, 3, 2, 4).reshape(b, ch, g * p, g * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tokens, c = self.embed(x, t)
        for blk in self.blocks:
            tokens = blk(tokens, c)
        return self.head(tokens, c)


@torch.no_grad()
def sample(model: nn.Module, noise: torch.Tensor, steps: int = 50) -> torch.Tensor:
    """Euler integration of the flow from t = 1 (noise) to t = 0 (image). Returns [-1, 1] images."""
    x = noise
    ts = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for i in range(steps):
        t = ts[i].expand(x.shape[0])
        v = model(x, t).to(x.dtype)
        x = x + (ts[i + 1] - ts[i]) * v
    return x.clamp(-1, 1)


def save_weights(model: DiT, path: str) -> None:
    """Atomic safetensors write (bf16) with the config in the metadata."""
    import json
    import os
    import tempfile

    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in model.state_dict().items()}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp, metadata={"config": json.dumps(model.cfg.to_dict())})
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_weights(path: str, device: str = "cpu") -> DiT:
    """Load a DiT saved by :func:`save_weights` (float32)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as fh:
        cfg = DiTConfig(**json.loads(fh.metadata()["config"]))
    model = DiT(cfg)
    model.load_state_dict({k: v.float() for k, v in load_file(path).items()})
    return model.to(device).eval()
