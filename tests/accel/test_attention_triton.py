"""The Triton kernels themselves, run by Triton's CPU interpreter (TRITON_INTERPRET=1).

Triton decides at import whether it interprets, so the checks run in a fresh interpreter
process. triton is in the dev extra so CI runs this; for users it stays optional. The attention
and quantisation kernels are checked again on the GPU by benchmarks/attention.py before it times
them. Two plain tests at the end pin the tie rule the fused mask prediction shares with the
PyTorch path, and its refusal of float64.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from accel.attention.block_mask import predict_block_layout, predict_block_mask

SCRIPT = textwrap.dedent(
    """
    import os, sys
    assert os.environ["TRITON_INTERPRET"] == "1"
    import torch
    from accel.ops.attention import kernel, naive
    from accel.ops.quantise.kernel import launch_quantise
    from accel.attention.block_mask import block_layout, predict_block_mask
    from accel.attention.int8 import quantise_blocks, int8_attention
    from accel.attention.report import make_report

    seed = int(os.environ["AGENTKIT_TEST_SEED"])
    gen = torch.Generator().manual_seed(seed)
    LOG2E = 1.4426950408889634
    failures = []

    def check(name, out, ref, min_cos, max_l1):
        rep = make_report(out, ref, backend=name)
        if not (rep.cosine >= min_cos and rep.rel_l1 <= max_l1):
            failures.append(f"{name}: {rep}")

    # (heads, kv heads, seq, head_dim, dtype): ragged seq, GQA, non-power-of-two head_dim.
    # No bfloat16 here: the interpreter computes through numpy, which has no bfloat16, and its
    # bf16 results are garbage; benchmarks/attention.py checks the bf16 kernels on the GPU.
    cases = [(2, 2, 100, 32, torch.float32), (2, 1, 77, 40, torch.float16)]
    tol = {torch.float32: (0.99999, 1e-5), torch.float16: (0.9999, 2e-3), torch.bfloat16: (0.999, 8e-3)}
    for h, hk, s, d, dt in cases:
        q = torch.randn(1, h, s, d, generator=gen).to(dt)
        k = torch.randn(1, hk, s, d, generator=gen).to(dt)
        v = torch.randn(1, hk, s, d, generator=gen).to(dt)
        for causal in (False, True):
            tag = f"h={h} hk={hk} s={s} d={d} {dt} causal={causal}"
            dense = kernel.launch_attention(q, k, v, causal=causal, block_q=32, block_k=16,
                                             qk_scale=d ** -0.5 * LOG2E)
            check("dense " + tag, dense, naive.dense_reference(q, k, v, causal=causal), *tol[dt])
            if causal:  # launch settings are arguments: other warps and stages, the same numbers
                tuned = kernel.launch_attention(q, k, v, causal=causal, block_q=32, block_k=16,
                                                qk_scale=d ** -0.5 * LOG2E,
                                                launch=kernel.LaunchSettings(warps=2, stages=1, hopper=False))
                check("dense tuned " + tag, tuned, naive.dense_reference(q, k, v, causal=causal), *tol[dt])
            mask = predict_block_mask(q, k, block_q=32, block_k=16, causal=causal, scale=d ** -0.5, sparsity=0.5)
            lay = block_layout(mask, sq=s, sk=s, block_q=32, block_k=16, causal=causal)
            sparse = kernel.launch_attention(q, k, v, causal=causal, block_q=32, block_k=16,
                                              qk_scale=d ** -0.5 * LOG2E, kv_idx=lay.kv_idx,
                                              kv_cnt=lay.kv_cnt, kv_full=lay.kv_full)
            ref = naive.block_sparse_reference(q, k, v, lay.mask, block_q=32, block_k=16, causal=causal)
            check("block_sparse " + tag, sparse, ref, *tol[dt])
            i8 = int8_attention(q, k, v, causal=causal, block_q=32, block_k=16, use_triton=True)
            ref8 = naive.int8_reference(q, k, v, block_q=32, block_k=16, causal=causal)
            check("int8 " + tag, i8, ref8, 0.9999, 1e-4 if dt == torch.float32 else 8e-3)
            # fp8 P·V against the PyTorch path's e4m3 roundings: the interpreter rounds float32 to
            # e4m3 differently from the hardware and torch (cosine 0.997-0.999 here), so only a
            # loose bound; a wrong V layout or scale gives cosines near 0. The GPU check in
            # benchmarks/attention.py holds the kernel to the PyTorch path tightly.
            i8f = int8_attention(q, k, v, causal=causal, block_q=32, block_k=16, pv_fp8=True, use_triton=True)
            ref8f = int8_attention(q, k, v, causal=causal, block_q=32, block_k=16, pv_fp8=True, use_triton=False)
            check("int8 fp8-PV " + tag, i8f, ref8f, 0.99, 0.1)
        # the fused quantiser agrees with the PyTorch one up to rounding: no value off by more
        # than one step, and few off at all (fp16 over 30 seeds: mean 3e-5, worst 1.1e-3 of values,
        # where a scale one ulp apart moves values that sit near a .5 boundary)
        vals, scales = launch_quantise(q, 32, factor=0.3)
        rvals, rscales = quantise_blocks(q, 32, factor=0.3)
        if not torch.allclose(scales, rscales, rtol=1e-6):
            failures.append(f"quantise scales differ {tag}")
        if (vals.int() - rvals.int()).abs().max() > 1 or (vals != rvals).float().mean() > 1e-2:
            failures.append(f"quantise values differ {tag}")
    # backward of the Triton forward: recomputed on the same kept blocks (float32)
    from accel.attention.block_sparse import block_sparse_attention
    q, k, v = (torch.randn(1, 2, 70, 16, generator=gen).requires_grad_() for _ in range(3))
    out, lay = block_sparse_attention(q, k, v, causal=True, sparsity=0.5, block_q=16, block_k=16, use_triton=True)
    ref = naive.block_sparse_reference(q, k, v, lay.mask, block_q=16, block_k=16, causal=True)
    g = torch.randn(out.shape, generator=gen)
    for name, a, b in zip("qkv", torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        if (a.double() - b).abs().max() > 1e-4:
            failures.append(f"triton block_sparse backward d{name}")
    if failures:
        print(f"seed={seed}", *failures, sep="\\n")
        sys.exit(1)
    print(f"ok seed={seed}")
    """
)


# The fused prediction (pooling, per-row selection and layout, sparsity) must give the very
# layout of the PyTorch chain, not a close one: the same mask, index lists and counts.
PREDICT_SCRIPT = textwrap.dedent(
    """
    import os, sys
    assert os.environ["TRITON_INTERPRET"] == "1"
    import torch
    from accel.ops.block_mask import kernel as predict_kernel
    from accel.attention.block_mask import predict_block_layout

    seed = int(os.environ["AGENTKIT_TEST_SEED"])
    gen = torch.Generator().manual_seed(seed)
    failures = []
    FIELDS = ("mask", "kv_idx", "kv_cnt", "kv_full", "sparsity")

    def inputs(b, h, hk, sq, sk, d, dt, layout="contiguous"):
        q = torch.randn(b, h, sq, d, generator=gen).to(dt)
        if layout == "constant_k":  # one key repeated (stride 0): every full key block ties
            # small integers, so pooling and the scores' products are exact on every CPU and the
            # ties are exact ties (with random floats the interpreter's rounding broke them)
            q = torch.randint(-2, 3, (b, h, sq, d), generator=gen).to(dt)
            k = torch.randint(-2, 3, (b, hk, 1, d), generator=gen).to(dt).expand(b, hk, sk, d)
        elif layout == "strided":  # [B, S, H, D] storage seen as [B, H, S, D]
            q = torch.randn(b, sq, h, d, generator=gen).to(dt).transpose(1, 2)
            k = torch.randn(b, sk, hk, d, generator=gen).to(dt).transpose(1, 2)
        else:
            k = torch.randn(b, hk, sk, d, generator=gen).to(dt)
        return q, k

    def compare(tag, q, k, **kw):
        fused = predict_block_layout(q, k, use_triton=True, **kw)
        ref = predict_block_layout(q, k, use_triton=False, **kw)
        for f in FIELDS:
            a, r = getattr(fused, f), getattr(ref, f)
            if a.dtype != r.dtype or a.shape != r.shape or not torch.equal(a, r):
                failures.append(f"{tag}: {f} differs")
        return fused

    # (B, H, Hk, Sq, Sk, D, block_q, block_k, dtype, causal, sparsity, mass, keep_sink, layout)
    f32, f16 = torch.float32, torch.float16
    cases = [
        (1, 2, 2, 300, 300, 64, 32, 16, f32, True, 0.5, None, True, "contiguous"),
        (1, 2, 2, 300, 300, 64, 32, 16, f32, False, 0.7, None, False, "contiguous"),
        (2, 4, 2, 150, 277, 40, 32, 16, f16, False, None, 0.6, True, "contiguous"),
        (1, 4, 2, 277, 150, 40, 16, 32, f16, True, 0.8, 0.5, False, "strided"),
        (1, 4, 2, 200, 290, 32, 32, 16, f32, True, None, 0.9, True, "strided"),
        (1, 2, 1, 190, 300, 48, 16, 16, f16, False, 0.9, 0.8, True, "contiguous"),
        (1, 2, 2, 300, 300, 32, 32, 16, f32, False, 0.9, None, False, "constant_k"),
        (1, 2, 2, 300, 300, 32, 32, 16, f32, True, None, 0.37, False, "constant_k"),
        (1, 2, 1, 300, 300, 32, 32, 16, f16, True, 0.6, 0.83, True, "constant_k"),
    ]
    # (tied masses make every cumulative mass a multiple of 1/n: 0.37 and 0.83 stay clear of them)
    for b, h, hk, sq, sk, d, bq, bk, dt, causal, sp, mass, sink, layout in cases:
        q, k = inputs(b, h, hk, sq, sk, d, dt, layout)
        tag = (f"B={b} H={h} Hk={hk} Sq={sq} Sk={sk} D={d} blocks={bq}/{bk} {dt} causal={causal} "
               f"sparsity={sp} mass={mass} keep_sink={sink} {layout}")
        lay = compare(tag, q, k, block_q=bq, block_k=bk, causal=causal, scale=d ** -0.5, sparsity=sp,
                      mass=mass, keep_sink=sink)
        if layout == "constant_k" and not causal:
            # the tie rule itself: 19 key blocks (the ragged last one lighter), budget
            # ceil(0.1 * 19) = 2, so blocks 0 and 1 plus each row's diagonal
            nq, nk = lay.mask.shape[2:]
            want = torch.zeros(nq, nk, dtype=torch.bool)
            want[:, :2] = True
            for i in range(nq):
                want[i, 2 * i:min(2 * i + 2, nk)] = True
            if not torch.equal(lay.mask, want.expand_as(lay.mask)):
                failures.append(f"{tag}: ties did not keep the lowest key blocks")
    # the cases above put several rows in one selection program; here one row each
    predict_kernel._PER_THREAD = {"sort": 1, "bisect": 1}
    q, k = inputs(1, 2, 2, 300, 300, 32, f32)
    for mass in (0.9, None):
        compare(f"one row a program, mass={mass}", q, k, block_q=16, block_k=16, causal=True,
                scale=32 ** -0.5, sparsity=0.7, mass=mass, keep_sink=True)
    if failures:
        print(f"seed={seed}", *failures, sep="\\n")
        sys.exit(1)
    print(f"ok seed={seed}")
    """
)


def _interpret(script: str) -> None:
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().startswith("ok")


def test_triton_kernels_match_references_in_interpreter():
    _interpret(SCRIPT)


def test_fused_block_layout_equals_pytorch_chain_in_interpreter():
    _interpret(PREDICT_SCRIPT)


def test_predicted_ties_keep_the_lower_key_blocks():
    """Equal predicted masses rank the lower key block first (the fused path's rule too)."""
    gen = torch.Generator().manual_seed(int(os.environ["AGENTKIT_TEST_SEED"]))
    q = torch.randn(1, 2, 640, 32, generator=gen)
    k = torch.randn(1, 2, 1, 32, generator=gen).expand(1, 2, 640, 32)  # every key block pools alike
    mask = predict_block_mask(q, k, block_q=64, block_k=16, causal=False, scale=32 ** -0.5, sparsity=0.9,
                              keep_sink=False)
    # 40 tied key blocks, budget ceil(0.1 * 40) = 4: blocks 0-3 plus each row's diagonal 4i..4i+3
    want = torch.zeros(10, 40, dtype=torch.bool)
    want[:, :4] = True
    for i in range(10):
        want[i, 4 * i:4 * i + 4] = True
    assert torch.equal(mask, want.expand_as(mask))


def test_fused_prediction_refuses_float64():
    q = torch.randn(1, 2, 64, 16, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="float16, bfloat16 or float32"):
        predict_block_layout(q, q, block_q=16, block_k=16, causal=False, scale=0.25, use_triton=True)
