"""The Triton kernels themselves, run by Triton's CPU interpreter (TRITON_INTERPRET=1).

Triton decides at import whether it interprets, so the checks run in a fresh interpreter
process. triton is in the dev extra so CI runs this; for users it stays optional. The same
kernels are checked again on the GPU by benchmarks/attention.py before it times them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap



SCRIPT = textwrap.dedent(
    """
    import os, sys
    assert os.environ["TRITON_INTERPRET"] == "1"
    import torch
    from accel.attention import _triton, naive
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
            dense = _triton.launch_attention(q, k, v, causal=causal, block_q=32, block_k=16,
                                             qk_scale=d ** -0.5 * LOG2E)
            check("dense " + tag, dense, naive.dense_reference(q, k, v, causal=causal), *tol[dt])
            mask = predict_block_mask(q, k, block_q=32, block_k=16, causal=causal, scale=d ** -0.5, sparsity=0.5)
            lay = block_layout(mask, sq=s, sk=s, block_q=32, block_k=16, causal=causal)
            sparse = _triton.launch_attention(q, k, v, causal=causal, block_q=32, block_k=16,
                                              qk_scale=d ** -0.5 * LOG2E, kv_idx=lay.kv_idx,
                                              kv_cnt=lay.kv_cnt, kv_full=lay.kv_full)
            ref = naive.block_sparse_reference(q, k, v, lay.mask, block_q=32, block_k=16, causal=causal)
            check("block_sparse " + tag, sparse, ref, *tol[dt])
            i8 = int8_attention(q, k, v, causal=causal, block_q=32, block_k=16, use_triton=True)
            ref8 = naive.int8_reference(q, k, v, block_q=32, block_k=16, causal=causal)
            check("int8 " + tag, i8, ref8, 0.9999, 1e-4 if dt == torch.float32 else 8e-3)
        # the fused quantiser agrees with the PyTorch one up to rounding: no value off by more
        # than one step, and few off at all (fp16 over 30 seeds: mean 3e-5, worst 1.1e-3 of values,
        # where a scale one ulp apart moves values that sit near a .5 boundary)
        vals, scales = _triton.launch_quantise(q, 32, factor=0.3)
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


def test_triton_kernels_match_references_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().startswith("ok")
