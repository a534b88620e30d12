"""Train the small DiT with flow matching for a fixed time budget.

Usage: ``python -m benchmarks.dit.train DATA.npy OUT.safetensors [--seconds 240] [--batch 256]``

Reproducible: fixed seeds, the data set from ``benchmarks.dit.data`` (seed 0, 16000 crops),
AdamW (lr 4e-4, 200 warm-up steps, cosine decay to 10 %), bf16 autocast, EMA 0.999 of the
weights saved. The step count depends on the GPU (logged with the loss).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time

import numpy as np
import torch

from .model import DiT, DiTConfig, save_weights

logger = logging.getLogger(__name__)


def train(data: np.ndarray, seconds: float, batch: int, device: str, seed: int = 0, max_steps: int | None = None) -> tuple[DiT, dict]:
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
        if elapsed > seconds or step >= est_steps:
            break
        frac = min(elapsed / seconds, 1.0)
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
