"""Attention backends: check each of our kernels, then time them against PyTorch's own kernels.

One script, one GPU call. First it validates every kernel variant against its reference on
fresh random inputs (printing the errors; on an H100/H200 also the warp-specialised Gluon kernel
against the Triton one), then it times a grid (S = 4k/16k/32k, H = 32,
D = 128 and 64, bf16, batch 1, causal and not; linear also at 128k) against SDPA's flash and
cuDNN kernels and FlexAttention (dense and block-sparse), and prints one table. Our timings
include mask prediction and its block layout (block_sparse) and quantisation (int8); "pred %"
is ``predict_block_layout`` (prediction plus layout) as a share of the block-sparse call.
TFLOP/s are dense-equivalent: ``4 * S * S * D * H`` (halved when causal) over the measured time.
"ours dense" is the kernel ``launch_attention`` picks (the Gluon one on Hopper where it applies),
with the Triton kernel's time in brackets when they differ.

Usage::

    python benchmarks/attention.py              # on a CUDA machine; writes JSON to $OUT if set
    python benchmarks/attention.py --block-k 128  # block_sparse (and ours dense) with 128-key blocks
    python benchmarks/attention.py --smoke      # tiny shapes, any machine (checks the script)
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.attention import attention
from accel.attention.api import _sdpa
from accel.attention.block_mask import predict_block_layout
from accel.attention.block_sparse import block_sparse_attention
from accel.attention.int8 import int8_attention
from accel.attention.linear import linear_attention
from accel.attention.report import exact_attention, make_report
from accel.ops import runtime
from accel.ops.attention import hopper, kernel, naive
from accel.ops.attention.kernel import LaunchSettings

LOG2E = 1.4426950408889634
RESULTS: dict = {"validation": [], "grid": [], "linear": [], "notes": []}
T0 = time.time()


def log(msg: str) -> None:
    print(f"[{time.time() - T0:6.1f}s] {msg}", flush=True)


def bench_ms(fn, smoke: bool) -> float:
    """Median milliseconds of ``fn`` (CUDA events through triton's do_bench)."""
    if smoke:
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e3
    import triton

    return float(triton.testing.do_bench(fn, warmup=20, rep=80, return_mode="median"))


#: keeps ``launch_attention`` on the Triton kernel, to compare it with the Hopper one
TRITON_ONLY = LaunchSettings(hopper=False)


def flops(s: int, d: int, h: int, causal: bool) -> float:
    return 4.0 * s * s * d * h * (0.5 if causal else 1.0)


def structured(b, h, s, d, device, dtype, gen):
    """Smooth keys and queries (a random walk along the sequence plus noise): real block structure."""
    steps = torch.randn(b, h, s, d, device=device, generator=gen) * 0.15
    walk = torch.cumsum(steps, dim=2)
    walk = walk - walk.mean(dim=2, keepdim=True)
    q = walk + 0.3 * torch.randn(b, h, s, d, device=device, generator=gen)
    k = walk + 0.3 * torch.randn(b, h, s, d, device=device, generator=gen)
    v = torch.randn(b, h, s, d, device=device, generator=gen)
    return q.to(dtype), k.to(dtype), v.to(dtype)


# ----------------------------------------------------------------------------- validation
def validate(device, smoke: bool) -> bool:
    seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
    gen = torch.Generator(device=device).manual_seed(seed)
    log(f"validation seed {seed}")
    ok = True
    shapes = [(1, 4, 200 if smoke else 1000, 64), (1, 4, 130 if smoke else 2048, 128)]
    for (b, h, s, d) in shapes:
        for causal in (False, True):
            q = torch.randn(b, h, s, d, device=device, generator=gen, dtype=torch.float32).to(torch.bfloat16)
            k = torch.randn(b, h, s, d, device=device, generator=gen, dtype=torch.float32).to(torch.bfloat16)
            v = torch.randn(b, h, s, d, device=device, generator=gen, dtype=torch.float32).to(torch.bfloat16)
            use_tri = runtime.triton_usable(q)
            # dense Triton path (all blocks kept) against float64 exact
            full = torch.ones(b, h, math.ceil(s / 128), math.ceil(s / 64), dtype=torch.bool, device=device)
            o_dense, _ = block_sparse_attention(q, k, v, causal=causal, block_mask=full, use_triton=use_tri)
            ref = naive.dense_reference(q, k, v, causal=causal)
            r_dense = make_report(o_dense, ref, backend="triton-dense")
            # block sparse vs its kept-block reference
            o_bs, lay = block_sparse_attention(q, k, v, causal=causal, sparsity=0.5, use_triton=use_tri)
            ref_bs = naive.block_sparse_reference(q, k, v, lay.mask, block_q=128, block_k=64, causal=causal)
            r_bs = make_report(o_bs, ref_bs, backend="block_sparse-vs-kept")
            # int8 vs its own reference and vs exact
            o_i8 = int8_attention(q, k, v, causal=causal, use_triton=use_tri)
            ref_i8 = naive.int8_reference(q, k, v, block_q=128, block_k=64, causal=causal)
            r_i8 = make_report(o_i8, ref_i8, backend="int8-vs-own-ref")
            r_i8x = make_report(o_i8, ref, backend="int8-vs-exact")
            # int8 with fp8 P·V vs the PyTorch path's same e4m3 roundings
            o_f8 = int8_attention(q, k, v, causal=causal, pv_fp8=True, use_triton=use_tri)
            r_f8 = make_report(o_f8, int8_attention(q, k, v, causal=causal, pv_fp8=True, use_triton=False),
                               backend="int8-fp8pv-vs-torch")
            for r, max_abs in ((r_dense, 0.02), (r_bs, 0.02), (r_i8, 0.05), (r_i8x, None), (r_f8, 0.05)):
                # bf16 output rounding bounds the first three; int8 vs exact is judged by cosine/relL1
                good = r.ok(0.999) and (r.max_abs < max_abs if max_abs else r.rel_l1 < 0.03)
                ok &= good
                RESULTS["validation"].append({"shape": [b, h, s, d], "causal": causal, **r.__dict__, "pass": good})
                log(f"  {r.backend:22s} S={s:5d} D={d:3d} causal={causal!s:5}: cos={r.cosine:.6f} "
                    f"relL1={r.rel_l1:.2e} max={r.max_abs:.2e} nan={r.nan_count} {'ok' if good else 'FAIL'}")
    if device == "cuda":
        ok &= validate_hopper(gen)
    # block-sparse accuracy on structured inputs, dense-exact comparison
    s = 512 if smoke else 4096
    q, k, v = structured(1, 8, s, 128, device, torch.bfloat16, gen)
    exact = exact_attention(q, k, v, causal=False, scale=None)
    for sp in (0.5, 0.75, 0.9):
        out, rep = attention(q, k, v, backend="block_sparse", sparsity=sp, report=True)
        RESULTS["validation"].append({"structured": True, "target_sparsity": sp, **rep.__dict__})
        log(f"  structured S={s} target sparsity {sp}: used {rep.sparsity:.3f}, cos vs exact {rep.cosine:.5f}")
    del exact
    return ok


def validate_hopper(gen) -> bool:
    """The Hopper kernel against the Triton kernel: same inputs (GQA), same layouts, both masks."""
    ok = True
    for d, bk in ((128, 64), (128, 128), (64, 128)):
        for causal in (False, True):
            checks = []
            q = torch.randn(2, 4, 2048, d, device="cuda", generator=gen).to(torch.bfloat16)
            k, v = (torch.randn(2, 2, 2048, d, device="cuda", generator=gen).to(torch.bfloat16) for _ in range(2))
            if not hopper.usable(q, k, v, 128, bk):
                RESULTS["notes"].append("Hopper kernel not usable here: not validated")
                return ok
            lay = predict_block_layout(q, k, block_q=128, block_k=bk, causal=causal, scale=d ** -0.5, sparsity=0.5)
            for tag, kw in (("dense", {}), ("bs50", {"kv_idx": lay.kv_idx, "kv_cnt": lay.kv_cnt,
                                                     "kv_full": lay.kv_full})):
                def run(launch=None):
                    return kernel.launch_attention(q, k, v, causal=causal, block_q=128, block_k=bk,
                                                   qk_scale=d ** -0.5 * LOG2E, launch=launch, **kw)
                fast = run()
                ref = run(TRITON_ONLY)
                r = make_report(fast, ref.float(), backend=f"hopper-{tag}-vs-triton")
                checks.append(r)
            if d == 128:  # int8 Q·Kᵀ with bf16 P·V, through the int8 backend's own quantisation
                fast = int8_attention(q, k, v, causal=causal, block_k=bk)
                ref = int8_attention(q, k, v, causal=causal, block_k=bk, launch=TRITON_ONLY)
                checks.append(make_report(fast, ref.float(), backend="hopper-int8-vs-triton"))
            for r in checks:
                good = r.ok(0.9999) and r.max_abs < 0.02
                ok &= good
                RESULTS["validation"].append({"shape": [2, 4, 2048, d], "block_k": bk, "causal": causal,
                                              **r.__dict__, "pass": good})
                log(f"  {r.backend:22s} D={d:3d} bk={bk:3d} causal={causal!s:5}: cos={r.cosine:.7f} "
                    f"max={r.max_abs:.2e} nan={r.nan_count} {'ok' if good else 'FAIL'}")
    return ok


# ----------------------------------------------------------------------------- flex attention
def make_flex(device):
    try:
        from torch.nn.attention.flex_attention import (
            BlockMask,
            create_block_mask,
            flex_attention,
        )
    except Exception as exc:
        RESULTS["notes"].append(f"flex attention unavailable: {exc}")
        return None
    compiled = torch.compile(flex_attention, dynamic=False)

    def causal_mod(b, h, qi, kv):
        return qi >= kv

    def dense(q, k, v, causal):
        bm = create_block_mask(causal_mod if causal else (lambda b, h, qi, kv: qi >= 0), 1, 1,
                               q.shape[2], k.shape[2], device=device)
        return lambda: compiled(q, k, v, block_mask=bm)

    def sparse(q, k, v, causal, layout, block_q=128, block_k=64):
        cnt, full, idx = layout.kv_cnt, layout.kv_full, layout.kv_idx
        nk = idx.shape[-1]
        shift = (torch.arange(nk, device=device) + full[..., None].long()).clamp(max=nk - 1)
        partial_idx = torch.gather(idx, -1, shift).to(torch.int32)
        bm = BlockMask.from_kv_blocks(
            (cnt - full).to(torch.int32), partial_idx.contiguous(), full.to(torch.int32), idx,
            BLOCK_SIZE=(block_q, block_k), mask_mod=causal_mod if causal else None,
            seq_lengths=(q.shape[2], k.shape[2]))
        opts = {"BLOCK_M": block_q, "BLOCK_N": block_k}
        return lambda: compiled(q, k, v, block_mask=bm, kernel_options=opts)

    return dense, sparse


# ----------------------------------------------------------------------------- grid
def run_grid(device, smoke: bool, deadline: float, auto_only: bool = False, block_k: int = 64) -> None:
    flex = None if smoke else make_flex(device)
    h = 4 if smoke else 32
    seqs = (256, 512) if smoke else (4096, 16384, 32768)
    for d in (128, 64):
        for s in seqs:
            for causal in (False, True):
                if time.time() - T0 > deadline:
                    RESULTS["notes"].append(f"deadline reached: skipped S={s} D={d} causal={causal}")
                    log(f"deadline: skip S={s} D={d} causal={causal}")
                    continue
                row = {"S": s, "D": d, "H": h, "causal": causal}
                q = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
                k = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
                v = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
                cands = {}
                if not smoke:
                    for name in ("sdpa:flash", "sdpa:cudnn"):
                        try:
                            cands[name] = bench_ms(lambda n=name: _sdpa(q, k, v, causal=causal, scale=None, kernel=n), smoke)
                        except Exception as exc:
                            RESULTS["notes"].append(f"{name} failed at S={s} D={d}: {exc}")
                else:
                    cands["sdpa"] = bench_ms(lambda: _sdpa(q, k, v, causal=causal, scale=None), smoke)
                row.update({f"{n}_ms": t for n, t in cands.items()})
                best_builtin = min(cands.values())
                row["best_builtin_ms"] = best_builtin
                scale = d ** -0.5
                if auto_only:
                    _time_auto(row, q, k, v, causal, cands, smoke)
                    continue
                # our kernel, dense (all blocks), as a yardstick for the sparse one
                use_tri = runtime.triton_usable(q)
                if use_tri:
                    def ours_dense(launch=None):
                        return kernel.launch_attention(q, k, v, causal=causal, block_q=128, block_k=block_k,
                                                       qk_scale=scale * LOG2E, launch=launch)
                    row["ours_dense_ms"] = bench_ms(ours_dense, smoke)
                    if hopper.usable(q, k, v, 128, block_k):
                        row["ours_triton_dense_ms"] = bench_ms(lambda: ours_dense(TRITON_ONLY), smoke)
                # block sparse at two sparsities, mask prediction included
                for sp in (0.5, 0.9):
                    fn = lambda sp=sp: block_sparse_attention(q, k, v, causal=causal, sparsity=sp, block_k=block_k)
                    row[f"bs{int(sp*100)}_ms"] = bench_ms(fn, smoke)
                    _, lay = fn()
                    row[f"bs{int(sp*100)}_sparsity"] = float(lay.sparsity.item())
                    # _predict_ms: mask prediction plus the kernel's index lists (the layout), as
                    # block_sparse_attention runs them (fused Triton launches on the GPU)
                    pred = lambda sp=sp: predict_block_layout(
                        q, k, block_q=128, block_k=block_k, causal=causal, scale=scale, sparsity=sp)
                    row[f"bs{int(sp*100)}_predict_ms"] = bench_ms(pred, smoke)
                    if flex is not None and d == 128 and s == seqs[-1]:
                        try:
                            row[f"flex_bs{int(sp*100)}_ms"] = bench_ms(flex[1](q, k, v, causal, lay, block_k=block_k), smoke)
                        except Exception as exc:
                            RESULTS["notes"].append(f"flex sparse failed S={s} causal={causal}: {str(exc)[:300]}")
                if flex is not None and d == 128 and s == seqs[-1]:
                    try:
                        row["flex_dense_ms"] = bench_ms(flex[0](q, k, v, causal), smoke)
                    except Exception as exc:
                        RESULTS["notes"].append(f"flex dense failed S={s} causal={causal}: {str(exc)[:300]}")
                # int8, quantisation included
                row["int8_ms"] = bench_ms(lambda: int8_attention(q, k, v, causal=causal), smoke)
                exact = exact_attention(q, k, v, causal=causal, scale=None)
                row["int8_cos"] = make_report(int8_attention(q, k, v, causal=causal), exact, backend="int8").cosine
                row["int8_bk128_ms"] = bench_ms(lambda: int8_attention(q, k, v, causal=causal, block_k=128), smoke)
                row["int8_fp8pv_ms"] = bench_ms(lambda: int8_attention(q, k, v, causal=causal, pv_fp8=True), smoke)
                row["int8_fp8pv_cos"] = make_report(int8_attention(q, k, v, causal=causal, pv_fp8=True), exact,
                                                    backend="int8").cosine
                del exact
                _time_auto(row, q, k, v, causal, cands, smoke)
                if device == "cuda":
                    torch.cuda.empty_cache()


def paired_ms(fa, fb, smoke: bool, calls: int = 60) -> tuple[float, float]:
    """Median milliseconds of ``fa`` and ``fb`` timed call by call in alternation (a b, then b a),
    each call between its own CUDA events, so clock and thermal drift hit both alike. A short
    device-side spin before each call keeps the GPU busy while the host queues it, so Python
    dispatch is hidden as it is in a stream of calls."""
    if smoke:
        return bench_ms(fa, smoke), bench_ms(fb, smoke)
    for _ in range(3):
        fa(), fb()
    times: dict = {fa: [], fb: []}
    for i in range(calls):
        for fn in ((fa, fb) if i % 2 == 0 else (fb, fa)):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda._sleep(1_000_000)  # about 0.5 ms of GPU time
            start.record()
            fn()
            end.record()
            end.synchronize()
            times[fn].append(start.elapsed_time(end))
    return statistics.median(times[fa]), statistics.median(times[fb])


def _time_auto(row: dict, q, k, v, causal: bool, cands: dict, smoke: bool) -> None:
    """Auto's choice and time against the best built-in, timed call by call in alternation."""
    from accel.attention.auto import cached_choices

    attention(q, k, v, backend="auto", causal=causal)  # first call measures and caches
    row["auto_choice"] = list(cached_choices().values())[-1] if cached_choices() else "sdpa"
    run_auto = lambda: attention(q, k, v, backend="auto", causal=causal)  # noqa: E731
    best = min(cands, key=cands.get)
    run_best = lambda: _sdpa(q, k, v, causal=causal, scale=None, kernel=None if best == "sdpa" else best)  # noqa: E731
    row["auto_ms"], row["best_builtin_ms"] = paired_ms(run_auto, run_best, smoke)
    row["best_builtin"] = best
    RESULTS["grid"].append(row)
    log(json.dumps({k_: (round(v_, 4) if isinstance(v_, float) else v_) for k_, v_ in row.items()}))


def run_linear(device, smoke: bool, deadline: float) -> None:
    h, d = (4, 64) if smoke else (32, 128)
    seqs = (256, 1024) if smoke else (4096, 16384, 32768, 131072)
    for s in seqs:
        if time.time() - T0 > deadline:
            RESULTS["notes"].append(f"deadline reached: skipped linear S={s}")
            continue
        q = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
        k = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
        v = torch.randn(1, h, s, d, device=device, dtype=torch.bfloat16)
        row = {"S": s, "D": d, "H": h, "causal": True}
        kernel = None if smoke else "sdpa:cudnn"
        try:
            row["sdpa_ms"] = bench_ms(lambda: _sdpa(q, k, v, causal=True, scale=None, kernel=kernel), smoke)
        except Exception:
            row["sdpa_ms"] = bench_ms(lambda: _sdpa(q, k, v, causal=True, scale=None), smoke)
        for chunk in (64, 128):
            row[f"linear_c{chunk}_ms"] = bench_ms(lambda c=chunk: linear_attention(q, k, v, causal=True, chunk=c), smoke)
        RESULTS["linear"].append(row)
        log(json.dumps(row))
        if device == "cuda":
            torch.cuda.empty_cache()


def sweep(device) -> None:
    """Time our kernel under a few launch settings at S=16k, H=32, D=128 (dense and int8)."""
    q = torch.randn(1, 32, 16384, 128, device=device, dtype=torch.bfloat16)
    k, v = torch.randn_like(q), torch.randn_like(q)
    configs = [(bk, w, st) for bk in (64, 128) for w in (4, 8) for st in (2, 3)]
    for bk, warps, stages in configs:
        launch = LaunchSettings(warps=warps, stages=stages)  # the Triton kernel's; Hopper inputs stay on Gluon
        row = {"D": 128, "block_k": bk, "warps": warps, "stages": stages}
        try:
            row["dense_ms"] = bench_ms(lambda: kernel.launch_attention(
                q, k, v, causal=False, block_q=128, block_k=bk, qk_scale=128 ** -0.5 * LOG2E, launch=launch), False)
            row["int8_ms"] = bench_ms(lambda: int8_attention(q, k, v, block_k=bk, launch=launch), False)
        except Exception as exc:
            row["error"] = str(exc)[:200]
        RESULTS.setdefault("sweep", []).append(row)
        log(f"sweep {row}")


def quality() -> None:
    """Perplexity of Gemma 3 270M on 512 tokens of the Apache-2.0 text, per backend (CPU is fine)."""
    from accel.attention import attention_backend, error_reports
    from agentkit.models import load_language_model

    lm = load_language_model()
    text = Path(__file__).resolve().parents[1].joinpath("tests", "data", "apache-2.0.txt").read_text()
    ids = lm.tokenizer(text, return_tensors="pt").input_ids[:, :512]
    with torch.inference_mode():
        base = lm.model(ids, labels=ids).loss.item()
    print("| backend | options | sparsity used | worst layer cosine | perplexity | change |")
    print("|---|---|---|---|---|---|")
    print(f"| sdpa | | 0 | 1 | {math.exp(base):.4f} | baseline |")
    runs = [("int8", {}), ("int8", {"pv_fp8": True}), ("block_sparse", {"sparsity": 0.5, "block_q": 64, "block_k": 64}),
            ("block_sparse", {"sparsity": 0.75, "block_q": 64, "block_k": 64}), ("linear", {})]
    for backend, opts in runs:
        with torch.inference_mode(), error_reports() as mon, attention_backend(lm.model, backend, **opts):
            loss = lm.model(ids, labels=ids).loss.item()
        used = sum(r.sparsity for r in mon.reports) / max(len(mon.reports), 1)
        print(f"| {backend} | {opts or ''} | {used:.2f} | {mon.worst().cosine:.4f} | {math.exp(loss):.4f} | "
              f"{100 * (math.exp(loss - base) - 1):+.2f} % |", flush=True)


def table() -> str:
    lines = ["| S | D | causal | flash ms | cuDNN ms | flex dense ms | flex bs50/bs90 ms | ours dense ms (Triton) | "
             "bs50 ms (sparsity, speed-up, pred %) | bs90 ms (sparsity, speed-up, pred %) | int8 ms (speed-up, cos) | "
             "int8 block_k 128 ms (speed-up) | "
             "int8 fp8 P·V ms (speed-up, cos) | auto (choice, vs best) | best built-in TFLOP/s | bs90 TFLOP/s eq. |",
             "|---" * 16 + "|"]
    for r in RESULTS["grid"]:
        best = r["best_builtin_ms"]
        f = flops(r["S"], r["D"], r["H"], r["causal"])

        def g(key, fmt="{:.2f}"):
            return fmt.format(r[key]) if key in r else "-"

        def bs(tag):
            if f"{tag}_ms" not in r:
                return "-"
            t = r[f"{tag}_ms"]
            return (f"{t:.2f} ({r[tag + '_sparsity']:.2f}, {best / t:.2f}x, "
                    f"{100 * r[tag + '_predict_ms'] / t:.1f}%)")

        flex_bs = f"{g('flex_bs50_ms')}/{g('flex_bs90_ms')}"
        lines.append(
            f"| {r['S']} | {r['D']} | {r['causal']} | {g('sdpa:flash_ms')} | {g('sdpa:cudnn_ms')} | "
            f"{g('flex_dense_ms')} | {flex_bs} | {g('ours_dense_ms')} ({g('ours_triton_dense_ms')}) | "
            f"{bs('bs50')} | {bs('bs90')} | "
            f"{r['int8_ms']:.2f} ({best / r['int8_ms']:.2f}x, {r['int8_cos']:.5f}) | "
            f"{r['int8_bk128_ms']:.2f} ({best / r['int8_bk128_ms']:.2f}x) | "
            f"{r['int8_fp8pv_ms']:.2f} ({best / r['int8_fp8pv_ms']:.2f}x, {r['int8_fp8pv_cos']:.5f}) | "
            f"{r['auto_choice']} ({r['auto_ms'] / best:.3f}) | {f / best / 1e9:.0f} | "
            f"{f / r['bs90_ms'] / 1e9:.0f} |")
    lines.append("")
    lines.append("| linear S | sdpa ms (cuDNN, causal) | linear chunk 64 ms | linear chunk 128 ms | speed-up (best chunk) |")
    lines.append("|---|---|---|---|---|")
    for r in RESULTS["linear"]:
        best_lin = min(r["linear_c64_ms"], r["linear_c128_ms"])
        lines.append(f"| {r['S']} | {r['sdpa_ms']:.2f} | {r['linear_c64_ms']:.2f} | {r['linear_c128_ms']:.2f} | "
                     f"{r['sdpa_ms'] / best_lin:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on any device")
    parser.add_argument("--quality", action="store_true", help="Gemma 3 270M perplexity per backend, then exit")
    parser.add_argument("--sweep", action="store_true", help="also time kernel launch settings")
    parser.add_argument("--deadline", type=float, default=420.0, help="seconds after which grid rows are skipped")
    parser.add_argument("--auto-only", action="store_true", help="only the auto-vs-built-in rows of the grid")
    parser.add_argument("--block-k", type=int, default=64, help="key block of block_sparse (and ours dense) in the grid")
    args = parser.parse_args()
    if args.quality:
        quality()
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.smoke:
        print("no CUDA device: run with --smoke for a script check", file=sys.stderr)
        return 2
    info = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
            "block_k": args.block_k,
            "triton": getattr(runtime.triton, "__version__", None), "date": datetime.date.today().isoformat()}
    RESULTS["info"] = info
    log(f"info {info}")
    if args.auto_only:
        run_grid(device, args.smoke, args.deadline, auto_only=True)
        for r in RESULTS["grid"]:
            print(f"S={r['S']} D={r['D']} causal={r['causal']}: auto {r['auto_choice']} "
                  f"{r['auto_ms']:.3f} ms, best built-in {r['best_builtin_ms']:.3f} ms, "
                  f"ratio {r['auto_ms'] / r['best_builtin_ms']:.3f}")
        if os.environ.get("OUT"):
            Path(os.environ["OUT"], "attention_auto.json").write_text(json.dumps(RESULTS, indent=1, default=str))
        return 0
    ok = validate(device, args.smoke)
    log(f"validation {'passed' if ok else 'FAILED'}")
    if args.sweep and device == "cuda":
        sweep(device)
    run_grid(device, args.smoke, args.deadline, block_k=args.block_k)
    run_linear(device, args.smoke, args.deadline + 60)
    text = table()
    print(text)
    out_dir = os.environ.get("OUT")
    if out_dir:
        Path(out_dir, "attention_results.json").write_text(json.dumps(RESULTS, indent=1, default=str))
        Path(out_dir, "attention_table.md").write_text(text + "\n\nnotes:\n" + "\n".join(RESULTS["notes"]))
    print("notes:", *RESULTS["notes"], sep="\n  ")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
