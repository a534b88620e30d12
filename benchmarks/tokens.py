"""Token reduction: speed on ViT-B/16, fidelity on our trained DiT, region-guided vs plain
merging, and temporal per-token reuse on a real video.

Sub-commands (each prints a table and can write JSON):
  vit-speed      ViT-B/16 (random init: speed does not depend on the weights) images/s at
                 r = 0, 8, 16 against the unpatched model (transformers, and timm when
                 installed); bf16 + SDPA on CUDA, fp32 on CPU. ``--cuda-graphs`` times CUDA
                 graph replays of both the unpatched and the patched forward.
  clip-speed-cpu CLIP ViT-B/16 (random init) frames/s through ``HFClipFrameEncoder.encode`` at
                 merge_r = 0 (unpatched), 8, 16 on CPU, one thread, round-robin medians.
  timm-check     timm adapter exactness (r = 0 identical, unpatch restores) on a tiny timm ViT.
  dit-fidelity   merge r of the DiT's 256 tokens inside every block (merge -> block ->
                 unmerge of the update) and compare with the unmerged model: one-step x0
                 prediction on real crops at t = 0.3 / 0.6 (plain vs SLIC-guided at the same
                 budget) and full 50-step samples (plain), PSNR/SSIM.
  segment        real images, 16 px patch tokens: merge to 50 % / 25 % of the tokens with
                 plain matching vs SLIC-guided matching; PSNR of the image rebuilt from the
                 merged tokens (each patch replaced by its group's mean).
  temporal       bikes.mp4 frames as 16 px patch tokens: share of tokens reused and the error
                 this causes, per threshold.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import torch

import accel.tokens as tk
from benchmarks.dit.metrics import psnr, ssim

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- ViT speed
def _bench(fn, device: str, iters: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def _graphed(fn):
    """``fn`` captured once in a CUDA graph: a replay launches the whole forward at once, so
    the host's per-op launch cost (which token merging multiplies) drops out of the timing."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up off the capture (the first patched call also checks the split)
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def vit_speed(device: str, batches: list[int], rs: list[int], iters: int, use_timm: bool, warmup: int = 10,
              graphs: bool = False) -> dict:
    from transformers import ViTConfig, ViTModel

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    models = {}
    cfg = ViTConfig(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, attn_implementation="sdpa")
    models["transformers ViTModel"] = ViTModel(cfg, add_pooling_layer=False)
    if use_timm:
        try:
            import timm

            models["timm vit_base_patch16_224"] = timm.create_model("vit_base_patch16_224", pretrained=False)
        except Exception as exc:  # timm missing or broken here
            logger.warning("timm unavailable: %s", exc)
    out = {"device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
           "batches": batches, "dtype": str(dtype), "cuda_graphs": graphs, "rows": []}

    def timed(call):
        return _bench(_graphed(call) if graphs else call, device, iters, warmup)

    for name, model in models.items():
        model = model.to(device=device, dtype=dtype).eval()
        for batch in batches:
            x = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype)
            call = (lambda: model(pixel_values=x)) if "transformers" in name else (lambda: model(x))
            with torch.inference_mode():
                base = timed(call)
                out["rows"].append({"model": name, "batch": batch, "r": "unpatched", "images_per_s": batch / base, "speedup": 1.0})
                logger.info("%-26s batch %-4d unpatched %8.1f img/s", name, batch, batch / base)
                for r in rs:
                    for prop in (True, False) if r else (True,):
                        tk.patch(model, r=r, prop_attn=prop)
                        t = timed(call)
                        tk.unpatch(model)
                        out["rows"].append({"model": name, "batch": batch, "r": r, "prop_attn": prop,
                                            "images_per_s": batch / t, "speedup": base / t})
                        logger.info("%-26s batch %-4d r=%-3d prop_attn=%-5s %8.1f img/s  %.2fx",
                                    name, batch, r, prop, batch / t, base / t)
                again = timed(call)
                logger.info("%-26s batch %-4d unpatched again %8.1f img/s", name, batch, batch / again)
                out["rows"].append({"model": name, "batch": batch, "r": "unpatched-again", "images_per_s": batch / again,
                                    "speedup": base / again})
        model.cpu()
    return out


def _round_robin(configs: list, forward, rounds: int, batch: int, enter=None, leave=None) -> list[dict]:
    """Time ``forward(c)`` for every configuration round-robin (one call each per round), so load
    swings on a shared machine hit all of them alike; medians per configuration, the first as base.
    ``enter(c)``/``leave(c)`` (patch, unpatch) run outside the timing."""
    times: dict = {c: [] for c in configs}
    cpu_times: dict = {c: [] for c in configs}  # process CPU time: less sensitive to other jobs on the cores
    for _ in range(rounds):
        for c in configs:
            if enter:
                enter(c)
            t0, c0 = time.perf_counter(), time.process_time()
            forward(c)
            times[c].append(time.perf_counter() - t0)
            cpu_times[c].append(time.process_time() - c0)
            if leave:
                leave(c)
    base, base_cpu = float(np.median(times[configs[0]])), float(np.median(cpu_times[configs[0]]))
    rows = []
    for c in configs:
        med, med_cpu = float(np.median(times[c])), float(np.median(cpu_times[c]))
        rows.append({"r": c, "images_per_s": batch / med, "speedup": base / med, "times_s": times[c],
                     "cpu_s": cpu_times[c], "cpu_speedup": base_cpu / med_cpu})
        logger.info("cpu batch %d r=%-9s wall median %.2fs %.2fx | process CPU median %.2fs %.2fx  (wall %s)", batch, c, med,
                    base / med, med_cpu, base_cpu / med_cpu, ", ".join(f"{t:.2f}" for t in times[c]))
    return rows


def vit_speed_interleaved(batch: int, rs: list[int], rounds: int, threads: int) -> dict:
    """CPU variant for a shared machine: transformers ViTModel, unpatched and each ``r``, round-robin."""
    from transformers import ViTConfig, ViTModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ViTModel(ViTConfig(attn_implementation="sdpa"), add_pooling_layer=False).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        model(pixel_values=x)  # warm-up
        rows = _round_robin(["unpatched"] + list(rs), lambda c: model(pixel_values=x), rounds, batch,
                            enter=lambda c: c != "unpatched" and tk.patch(model, r=c),
                            leave=lambda c: c != "unpatched" and tk.unpatch(model))
    return {"device": f"cpu, {threads} threads", "batch": batch, "rounds": rounds, "rows": rows}


def clip_speed_cpu(batch: int, rs: list[int], rounds: int, threads: int) -> dict:
    """CLIP ViT-B/16 frames through the real encoder path, ``HFClipFrameEncoder(merge_r=r).encode``
    (image processor, vision tower, projection, L2), one encoder per ``r`` timed round-robin.

    Random weights (speed does not depend on them; no CLIP weights exist offline): a B/16 vision
    tower (768 wide, 12 layers, 12 heads, 224 px, 197 tokens) and a tiny text tower, which
    ``encode`` never runs, with the MiniLM WordPiece tokenizer."""
    import copy
    import os

    from skimage import data, transform
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    from agentkit.models.text_embedder import default_minilm_path
    from perception.image.hf_clip import HFClipFrameEncoder

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(default_minilm_path()))
    text = dict(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=64, bos_token_id=tok.cls_token_id,
                eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                  image_size=224, patch_size=16)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=512)).eval()
    processor = CLIPImageProcessor()  # OpenAI CLIP's: shortest edge 224, centre crop 224, CLIP mean/std
    encoders = {r: HFClipFrameEncoder(copy.deepcopy(model), processor, tok, merge_r=r, batch_size=batch) for r in rs}
    del model
    pics = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(),
            data.immunohistochemistry(), np.stack([data.camera()] * 3, -1), np.stack([data.coins()] * 3, -1)]
    images = [np.ascontiguousarray((transform.resize(p[..., :3], (360, 480)) * 255).astype(np.uint8))
              for p in (pics * (batch // len(pics) + 1))[:batch]]  # real pictures at a video-frame size
    load_before = os.getloadavg()
    for enc in encoders.values():
        enc.encode(images)  # warm-up (the first patched call also checks each layer's split)
    rows = _round_robin(list(rs), lambda r: encoders[r].encode(images), rounds, batch)
    return {"device": f"cpu, {threads} threads", "cpu_cores": os.cpu_count(), "model": "CLIP ViT-B/16 (random init)",
            "path": "HFClipFrameEncoder.encode", "batch": batch, "image_size": [360, 480], "rounds": rounds,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "torch": torch.__version__, "rows": rows}


def merge_cost(batch: int, n: int, dim: int, heads: int, r: int, repeats: int) -> dict:
    """Cost of one merge step (matching + size-weighted merge) on ViT-B-sized activations:
    the committed path (head-averaged keys, one-pass weighted merge) against the first version
    (full-width keys, merge of ``cat([x * size, size])`` through ``MergePlan.merge``)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    x = torch.randn(batch, n, dim, device=device, dtype=dtype)
    keys = torch.randn(batch, n, dim, device=device, dtype=dtype)
    size = torch.randint(1, 4, (batch, n, 1), device=device).to(dtype)

    def first_version():
        plan = tk.bipartite_soft_matching(keys, r, protect_first=True)
        both = plan.merge(torch.cat([x * size, size], dim=-1), mode="sum")
        return both[..., :-1] / both[..., -1:]

    def committed():
        metric = keys.unflatten(-1, (heads, dim // heads)).mean(-2)
        plan = tk.bipartite_soft_matching(metric, r, protect_first=True)
        return tk.merge_weighted(plan, x, size)[0]

    res = {"device": device, "batch": batch, "tokens": n, "dim": dim, "r": r}
    for name, fn in (("first_version", first_version), ("committed", committed)):
        res[name + "_ms"] = 1000 * _bench(fn, device, repeats, warmup=2)
    res["ratio"] = res["first_version_ms"] / res["committed_ms"]
    logger.info("merge step %s", res)
    return res


def timm_check() -> dict:
    import timm

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    keys = list(model.state_dict())
    with torch.no_grad():
        ref = model(x)
        tk.patch(model, r=0)
        same0 = torch.equal(model(x), ref)
        tk.unpatch(model)
        tk.patch(model, r=2, trace_source=True)
        model.forward_features(x)  # the first patched call checks the attention/MLP split
        mlp_tokens = []
        hooks = [b.mlp.register_forward_hook(lambda m, i, o: mlp_tokens.append(i[0].shape[1])) for b in model.blocks]
        merged = model.forward_features(x)
        for h in hooks:
            h.remove()
        sizes = tk.merge_state(model).size.sum(1).flatten().tolist()
        tk.unpatch(model)
        restored = torch.equal(model(x), ref)
    res = {"timm": timm.__version__, "r0_identical": same0, "unpatch_identical": restored,
           "tokens_after_r2": merged.shape[1], "sizes_sum": sizes, "mlp_tokens": mlp_tokens,
           "merge_between_attention_and_mlp": mlp_tokens[:2] == [x.shape[-1] ** 2 // 256 + 1 - 2, x.shape[-1] ** 2 // 256 + 1 - 4], "state_dict_keys_same": keys == list(model.state_dict()),
           "class_same": type(model).__name__ == "VisionTransformer" and "forward" not in model.blocks[0].__dict__}
    logger.info("timm check: %s", res)
    return res


# ----------------------------------------------------------------------------- DiT fidelity
def _merged_blocks(model, r: int, regions: torch.Tensor | None):
    """Wrap every DiT block: merge r tokens, run the block on the merged tokens with
    proportional attention, spread its update back to every member token."""
    saved = []
    for blk in model.blocks:
        original = blk.forward

        def fwd(x, c, attn_bias=None, _orig=original, _blk=blk):
            plan = tk.bipartite_soft_matching(_blk.modulated_input(x, c), r, regions=regions)
            xm, size = tk.merge_weighted(plan, x)
            bias = size[..., 0].log().to(x.dtype)[:, None, None, :]
            return x + plan.unmerge(_orig(xm, c, attn_bias=bias) - xm)

        saved.append(blk)
        blk.forward = fwd
    return saved


def _restore(blocks):
    for blk in blocks:
        del blk.forward


def dit_fidelity(weights: str, data: str, rs: list[int], samples: int, steps: int) -> dict:
    from benchmarks.dit.model import load_weights, sample

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_weights(weights, device)
    crops = np.load(data, allow_pickle=False)
    rng = np.random.default_rng(7)
    pick = crops[rng.choice(len(crops), size=samples, replace=False)]
    x0 = torch.from_numpy(pick).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
    regions = tk.slic_regions(pick, patch_size=2, n_segments=24, compactness=10.0).to(device)
    gen = torch.Generator(device=device).manual_seed(99)
    noise = torch.randn(x0.shape, device=device, generator=gen)
    res = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "tokens": 256, "rows": []}
    with torch.no_grad():
        ref_pred = {}
        for t in (0.3, 0.6):
            xt = (1 - t) * x0 + t * noise
            tt = torch.full((samples,), t, device=device)
            ref_pred[t] = (xt - t * model(xt, tt), xt, tt)
        ref_samples = sample(model, noise, steps)
        for r in rs:
            row = {"r": r}
            for mode, reg in (("plain", None), ("slic", regions)):
                blocks = _merged_blocks(model, r, reg)
                for t, (ref_x0, xt, tt) in ref_pred.items():
                    est = xt - t * model(xt, tt)
                    row[f"{mode}_x0_psnr_t{t}"] = float(psnr((est + 1) / 2, (ref_x0 + 1) / 2).clamp(max=99).mean())
                    row[f"{mode}_x0_psnr_vs_clean_t{t}"] = float(psnr((est.clamp(-1, 1) + 1) / 2, (x0 + 1) / 2).mean())
                if mode == "plain":
                    out = sample(model, noise, steps)
                    a, b = (out + 1) / 2, (ref_samples + 1) / 2
                    row["sample_psnr"] = float(psnr(a, b).clamp(max=99).mean())
                    row["sample_ssim"] = float(ssim(a, b).mean())
                _restore(blocks)
            res["rows"].append(row)
            logger.info("DiT r=%-3d %s", r, {k: round(v, 3) for k, v in row.items() if k != "r"})
    return res


# ----------------------------------------------------------------------------- segmentation
def _real_images(size: int = 224) -> list[np.ndarray]:
    from PIL import Image
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina"):
        try:
            img = getattr(data, name)()
        except Exception:
            continue
        out.append(np.asarray(Image.fromarray(img).resize((size, size), Image.BOX)))
    from benchmarks.dit.data import video_frames, video_paths

    for path in video_paths()[:3]:
        frames = video_frames(path, every=60, max_side=size)
        for f in frames[:2]:
            h, w = f.shape[:2]
            s = min(h, w)
            crop = f[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
            out.append(np.asarray(Image.fromarray(crop).resize((size, size), Image.BOX)))
    return out


def _patches(imgs: np.ndarray, p: int) -> torch.Tensor:
    x = torch.from_numpy(imgs).float() / 255.0  # [B, H, W, 3]
    b, h, w, c = x.shape
    return x.reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, (h // p) * (w // p), p * p * c)


def segment_compare(keep_fracs: list[float], rounds: int = 8, p: int = 16) -> dict:
    imgs = np.stack(_real_images())
    tokens = _patches(imgs, p)  # [B, 196, 768]
    n = tokens.shape[1]
    regions0 = tk.slic_regions(imgs, patch_size=p, n_segments=48, compactness=10.0)
    res = {"images": len(imgs), "tokens": n, "rows": []}
    for keep in keep_fracs:
        target = int(round(n * keep))
        per_round = [((n - target) * (i + 1)) // rounds - ((n - target) * i) // rounds for i in range(rounds)]
        row = {"keep": keep, "tokens_left": target}
        for mode in ("plain", "slic"):
            x, size, src, reg = tokens, None, None, regions0 if mode == "slic" else None
            for r in per_round:
                plan = tk.bipartite_soft_matching(x, r, regions=reg)
                src = tk.merge_source(plan, src, n)
                if reg is not None:
                    reg = plan.merge(reg[..., None], mode="amax")[..., 0]
                x, size = tk.merge_weighted(plan, x, size)
            rebuilt = src.transpose(1, 2) @ x  # every original token gets its group's mean
            err = (rebuilt - tokens).pow(2).mean(dim=(1, 2))
            row[f"{mode}_psnr"] = float((10 * torch.log10(1 / err)).mean())
            # share of original tokens whose group spans more than one SLIC region
            lab = regions0.float()
            grp_min = torch.where(src.bool(), lab[:, None, :], torch.full_like(src, 1e9)).amin(-1)
            grp_max = torch.where(src.bool(), lab[:, None, :], torch.full_like(src, -1e9)).amax(-1)
            mixed_groups = (grp_min != grp_max).float()
            row[f"{mode}_tokens_in_mixed_groups"] = float((mixed_groups[..., None] * src).sum() / src.sum())
        res["rows"].append(row)
        logger.info("keep %.2f: %s", keep, {k: round(v, 3) for k, v in row.items() if k != "keep"})
    return res


# ----------------------------------------------------------------------------- temporal
def temporal(thresholds: list[float], p: int = 16, frames: int = 120) -> dict:
    from benchmarks.dit.data import video_frames, video_paths

    path = [v for v in video_paths() if v.endswith("bikes.mp4")][0]
    vid = np.stack(video_frames(path, every=1, max_side=272)[:frames])  # [T, 272, 640, 3] -> crop
    vid = vid[:, : (vid.shape[1] // p) * p, : (vid.shape[2] // p) * p]
    tokens = _patches(vid, p)  # [T, N, 768]
    res = {"video": "bikes.mp4", "frames": int(tokens.shape[0]), "tokens_per_frame": int(tokens.shape[1]), "rows": []}
    for th in thresholds:
        cache = tk.TemporalTokenCache(th, measure_error=True)
        outs = [cache.step(f, lambda z: z) for f in tokens]
        rebuilt = torch.stack(outs)
        err = (rebuilt - tokens).pow(2).mean(dim=(1, 2))
        row = {"threshold": th, "reuse": cache.report.reuse_fraction, "rel_l2_mean": float(np.mean(cache.report.errors)),
               "frame_psnr_mean": float((10 * torch.log10(1 / err.clamp_min(1e-10))).clamp(max=99).mean()),
               "frame_psnr_min": float((10 * torch.log10(1 / err.clamp_min(1e-10))).clamp(max=99).min())}
        res["rows"].append(row)
        logger.info("temporal %s", {k: round(v, 4) for k, v in row.items()})
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("vit-speed")
    v.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    v.add_argument("--batch", default="128", help="comma-separated batch sizes")
    v.add_argument("--rs", default="8,16")
    v.add_argument("--iters", type=int, default=10)
    v.add_argument("--timm", action="store_true")
    v.add_argument("--warmup", type=int, default=10)
    v.add_argument("--cuda-graphs", action="store_true", help="time CUDA-graph replays of every forward")
    vc = sub.add_parser("vit-speed-cpu")
    vc.add_argument("--batch", type=int, default=8)
    vc.add_argument("--rs", default="0,8,16")
    vc.add_argument("--rounds", type=int, default=3)
    vc.add_argument("--threads", type=int, default=2)
    cc = sub.add_parser("clip-speed-cpu")
    cc.add_argument("--batch", type=int, default=8)
    cc.add_argument("--rs", default="0,8,16", help="merge_r values; 0 is the unpatched encoder")
    cc.add_argument("--rounds", type=int, default=5)
    cc.add_argument("--threads", type=int, default=1)
    mc = sub.add_parser("merge-cost")
    mc.add_argument("--batch", type=int, default=32)
    mc.add_argument("--repeats", type=int, default=10)
    mc.add_argument("--threads", type=int, default=1)
    sub.add_parser("timm-check")
    d = sub.add_parser("dit-fidelity")
    d.add_argument("weights", nargs="?", default=None, help="DiT weights (default: trained on first use)")
    d.add_argument("data", nargs="?", default=None, help="training crops .npy (default: built on first use)")
    d.add_argument("--rs", default="0,16,32,64,96")
    d.add_argument("--samples", type=int, default=64)
    d.add_argument("--steps", type=int, default=50)
    sub.add_parser("segment")
    sub.add_parser("temporal")
    for s in sub.choices.values():
        s.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    if args.cmd == "vit-speed":
        res = vit_speed(args.device, ints(args.batch), ints(args.rs), args.iters, args.timm, args.warmup,
                        args.cuda_graphs)
    elif args.cmd == "vit-speed-cpu":
        res = vit_speed_interleaved(args.batch, ints(args.rs), args.rounds, args.threads)
    elif args.cmd == "clip-speed-cpu":
        res = clip_speed_cpu(args.batch, ints(args.rs), args.rounds, args.threads)
    elif args.cmd == "merge-cost":
        torch.set_num_threads(args.threads)
        res = merge_cost(args.batch, 197, 768, 12, 16, args.repeats)
    elif args.cmd == "timm-check":
        res = timm_check()
    elif args.cmd == "dit-fidelity":
        from benchmarks.dit.train import bench_data, bench_weights

        res = dit_fidelity(args.weights or str(bench_weights()), args.data or str(bench_data()), ints(args.rs),
                           args.samples, args.steps)
    elif args.cmd == "segment":
        res = segment_compare([0.5, 0.25])
    else:
        res = temporal([0.0, 0.02, 0.05, 0.1, 0.2])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
