"""Step caching on our trained DiT: speed-up against PSNR/SSIM of the final samples.

For each policy (FBCache, TeaCache, TeaCache with coefficients fitted on this model, SenCache)
and a sweep of thresholds: sample N images with the same seed as the uncached run, report
steps computed/reused, the policy's predicted error and the measured error of reused steps
(a second run with ``measure_error=True``), wall-clock speed-up against the uncached run
measured in the same process, and PSNR/SSIM against the uncached samples.

Usage: ``python -m benchmarks.step_cache [WEIGHTS.safetensors] [--samples 256] [--steps 50]
[--json OUT.json]``. Runs on CUDA when present (bf16 autocast), else CPU (fp32).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time

import numpy as np
import torch

import accel.cache as sc
from benchmarks.dit.model import load_weights, sample
from benchmarks.dit.train import bench_weights
from benchmarks.dit.metrics import psnr, ssim

logger = logging.getLogger(__name__)

SWEEPS = {
    "FBCache": (sc.FBCacheConfig, "threshold", [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2, 0.3]),
    "TeaCache": (sc.TeaCacheConfig, "threshold", [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8]),
    "TeaCache-fitted": (sc.TeaCacheConfig, "threshold", [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8]),
    "SenCache": (sc.SenCacheConfig, "budget", [0.01, 0.02, 0.04, 0.06, 0.1, 0.15, 0.2, 0.3]),
}


def timed(fn, device: str, repeats: int = 2):
    out, best = None, math.inf
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return out, best


@torch.no_grad()
def fit_teacache_coefficients(model, noise: torch.Tensor, steps: int) -> tuple[float, ...]:
    """Fit output-change = poly(indicator-change) (degree 2) on an uncached run of another seed."""
    x = noise
    ts = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    prev_ind = prev_res = None
    xs, ys = [], []
    for i in range(steps):
        t = ts[i].expand(x.shape[0])
        tokens, c = model.embed(x, t)
        ind = model.blocks[0].modulated_input(tokens, c)
        h = tokens
        for blk in model.blocks:
            h = blk(h, c)
        res = h - tokens
        if prev_ind is not None:
            xs.append(float((ind - prev_ind).abs().mean() / prev_ind.abs().mean()))
            ys.append(float((res - prev_res).abs().mean() / prev_res.abs().mean()))
        prev_ind, prev_res = ind, res
        x = x + (ts[i + 1] - ts[i]) * model.head(h, c)
    return tuple(float(c) for c in np.polyfit(xs, ys, 2))


def summarise(images: torch.Tensor, ref: torch.Tensor) -> dict:
    a, b = (images + 1) / 2, (ref + 1) / 2
    p = psnr(a, b).clamp(max=99.0)
    return {"psnr": float(p.mean()), "psnr_min": float(p.min()), "ssim": float(ssim(a, b).mean())}


def run(weights: str, samples: int, steps: int, seed: int = 1234) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_weights(weights, device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    gen = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(samples, 3, 32, 32, device=device, generator=gen)
    with autocast:
        sample(model, noise[:8], steps)  # warm-up
        ref, t_ref = timed(lambda: sample(model, noise, steps), device)
        coeffs = fit_teacache_coefficients(model, torch.randn(32, 3, 32, 32, device=device, generator=gen), steps)
    logger.info("uncached: %.3fs for %d samples x %d steps; TeaCache fitted coefficients %s", t_ref, samples, steps, coeffs)
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "samples": samples, "steps": steps,
               "uncached_s": t_ref, "teacache_coefficients": coeffs, "runs": []}
    # threshold 0 control: must be bit-identical to the uncached run
    sc.apply(model, sc.FBCacheConfig(threshold=0.0))
    with autocast:
        sc.reset(model)
        zero = sample(model, noise, steps)
    results["threshold0_identical"] = bool(torch.equal(zero, ref))
    results["threshold0_report"] = vars(sc.report(model)) | {}
    sc.remove(model)
    for name, (cls, key, values) in SWEEPS.items():
        for value in values:
            extra = {"coefficients": coeffs} if name == "TeaCache-fitted" else {}
            cfg = cls(**{key: value}, **extra)
            sc.apply(model, cfg)
            with autocast:
                def go():
                    sc.reset(model)
                    return sample(model, noise, steps)
                out, t = timed(go, device)
                rep = sc.report(model)
                sc.remove(model)
                sc.apply(model, cls(**{key: value}, **extra, measure_error=True))
                sc.reset(model)
                sample(model, noise, steps)
                mrep = sc.report(model)
                sc.remove(model)
            row = {"policy": name, key: value, "computed": rep.computed, "reused": rep.reused, "steps": rep.steps,
                   "speedup": t_ref / t, "seconds": t,
                   "predicted_error_mean": float(np.mean(mrep.predicted_error)) if mrep.predicted_error else 0.0,
                   "measured_error_mean": float(np.mean(mrep.measured_error)) if mrep.measured_error else 0.0}
            row.update(summarise(out, ref))
            results["runs"].append(row)
            logger.info("%-16s %s=%-5g computed %2d/%d speed-up %.2fx PSNR %.2f (min %.2f) SSIM %.4f pred %.4f meas %.4f",
                        name, key, value, rep.computed, rep.steps, row["speedup"], row["psnr"], row["psnr_min"], row["ssim"],
                        row["predicted_error_mean"], row["measured_error_mean"])
    best = {}
    for row in results["runs"]:
        if row["psnr"] >= 30 and row["ssim"] >= 0.92 and row["speedup"] > best.get(row["policy"], {}).get("speedup", 0):
            best[row["policy"]] = row
    results["best_at_30db"] = best
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default=None,
                        help="DiT weights (default: trained on first use into the cache root)")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = run(args.weights or str(bench_weights()), args.samples, args.steps)
    for name, row in res["best_at_30db"].items():
        logger.info("best %s at PSNR>=30 & SSIM>=0.92: %.2fx (computed %d/%d, PSNR %.2f, SSIM %.4f)",
                    name, row["speedup"], row["computed"], row["steps"], row["psnr"], row["ssim"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
