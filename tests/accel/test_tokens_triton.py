"""The one-pass Triton merge kernel, run by Triton's CPU interpreter (TRITON_INTERPRET=1).

Triton decides at import whether it interprets, so the check runs in a fresh process (as in
test_attention_triton.py). The kernel sums in float32, so it is held to the float64 reference
beside it (accel.ops.merge.naive) on the same plan; test_ops.py holds the PyTorch path to it.
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
    from accel.tokens.merge import bipartite_soft_matching, merge_weighted
    from accel.ops.merge.naive import merge_weighted_reference

    gen = torch.Generator().manual_seed(int(os.environ["AGENTKIT_TEST_SEED"]))
    failures = []
    tol = {torch.float32: 1e-6, torch.float16: 2e-3}
    # odd and even lengths, r at its maximum (every A token but the class token merged), fp16
    for n, r, c, dt, protect in ((17, 5, 24, torch.float32, True), (64, 31, 40, torch.float32, True),
                                 (9, 5, 8, torch.float16, False), (2, 1, 8, torch.float32, False)):
        x = torch.randn(3, n, c, generator=gen).to(dt)
        plan = bipartite_soft_matching(torch.randn(3, n, 6, generator=gen), r, protect_first=protect)
        assert plan.r == r
        for size in (None, torch.randint(1, 9, (3, n, 1), generator=gen).to(dt)):
            want_x, want_s = merge_weighted_reference(x, size, plan.kept_a, plan.merged_a, plan.dst_b)
            got_x, got_s = merge_weighted(plan, x, size, use_triton=True)
            tag = f"n={n} r={r} {dt} sizes={'given' if size is not None else 'ones'}"
            if got_x.dtype != dt or got_x.shape != want_x.shape or got_s.shape != want_s.shape:
                failures.append(f"{tag}: dtype/shape {got_x.dtype} {tuple(got_x.shape)} {tuple(got_s.shape)}")
                continue
            if not torch.equal(got_s.double(), want_s):
                failures.append(f"{tag}: sizes differ")
            err = ((got_x.double() - want_x).abs() / want_x.abs().clamp_min(1)).max().item()
            if err > tol[dt]:
                failures.append(f"{tag}: error {err:.2e}")
    if failures:
        print(*failures, sep="\\n")
        sys.exit(1)
    print("ok")
    """
)


def test_merge_kernel_matches_the_weighted_mean_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.strip() == "ok"
