"""The warp-specialised Hopper kernel, as far as a machine without a GPU can check it.

Gluon has no CPU interpreter, so these tests compile the kernel for sm_90a (Triton's bundled
ptxas included) and check the machine code has the structure the speed depends on: TMA loads,
asynchronous warpgroup MMAs that ptxas did not serialise, per-partition register budgets, and
no register spills. Its numbers are checked
against the Triton kernel on the GPU by benchmarks/attention.py before it times them.
"""

from __future__ import annotations

import subprocess

import pytest
import torch

from accel.ops.attention import hopper

pytestmark = pytest.mark.skipif(not hopper.HAVE_GLUON, reason="needs triton with Gluon (dev extra)")


def _compile(d: int, block_k: int, sparse: bool, causal: bool, int8: bool = False):
    from triton import compile as triton_compile
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon._runtime import GluonASTSource

    def desc(dtype, block):
        layout = gl.NVMMASharedLayout.get_default_for(block, {"bf16": gl.bfloat16, "i8": gl.int8}[dtype])
        return f"tensordesc<{dtype}[{block[0]}, {block[1]}],{layout!r}>"

    qk = "i8" if int8 else "bf16"
    signature = {
        "q_desc": desc(qk, [128, d]), "k_desc": desc(qk, [block_k, d]),
        "v_desc": desc("bf16", [block_k, d]),
        "o_desc": desc("bf16", [64, d]),
        "QS": "*fp32", "KS": "*fp32", "KV_IDX": "*i32", "KV_CNT": "*i32", "KV_FULL": "*i32",
        "H": "i32", "GROUP": "i32", "SQ": "i32", "SK": "i32", "NQB": "i32", "NKB": "i32", "MAXK": "i32",
        "qk_scale": "fp32",
    }
    constants = {"BLOCK_M": 128, "BLOCK_N": block_k, "D": d, "STAGES": hopper._STAGES[block_k],
                 "SPARSE": sparse, "CAUSAL": causal, "INT8": int8,
                 "COMPUTE_REGS": hopper._COMPUTE_REGS, "LOADER_REGS": hopper._LOADER_REGS}
    signature.update({name: "constexpr" for name in constants})
    names = list(signature)
    src = GluonASTSource(hopper._attention_fwd_hopper, signature,
                         {(names.index(n),): v for n, v in constants.items()},
                         {(i,): [["tt.divisibility", 16]] for i in range(4, 9)})
    return triton_compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})


@pytest.mark.parametrize("d,block_k,sparse,causal,int8", [
    (128, 64, False, False, False), (128, 64, True, True, False),
    (128, 128, False, False, False), (128, 128, True, True, False),
    (64, 128, False, False, False), (64, 128, True, True, False),
    (128, 64, False, False, True), (128, 128, False, True, True),
])
def test_compiles_for_sm90a_with_the_intended_structure(d, block_k, sparse, causal, int8, tmp_path):
    kernel = _compile(d, block_k, sparse, causal, int8)
    ptx = kernel.asm["ptx"]
    assert "wgmma.mma_async" in ptx  # tensor-core MMAs, issued asynchronously
    if int8:
        assert ".s32.s8.s8" in ptx  # Q·Kᵀ in int8
    assert "wgmma.wait_group.sync.aligned 1" in ptx  # S waited for while P·V may still run
    assert f"setmaxnreg.inc.sync.aligned.u32 \t{hopper._COMPUTE_REGS}" in ptx  # compute budget
    assert f"setmaxnreg.dec.sync.aligned.u32 \t{hopper._LOADER_REGS}" in ptx  # loader budget
    assert "cp.async.bulk.tensor" in ptx  # TMA loads
    assert kernel.metadata.shared <= 227 * 1024  # fits an H100/H200 SM's shared memory
    report = _ptxas_report(ptx, tmp_path)
    assert "0 bytes spill stores, 0 bytes spill loads" in report, report
    assert "serialized" not in report, report  # ptxas did not have to serialise the MMAs


def _ptxas_report(ptx: str, tmp_path) -> str:
    """ptxas's verbose report for sm_90a (Triton's bundled ptxas)."""
    from triton import knobs

    src = tmp_path / "kernel.ptx"
    src.write_text(ptx)
    done = subprocess.run([knobs.nvidia.ptxas.path, "-arch=sm_90a", "-v", str(src), "-o", str(tmp_path / "k.cubin")],
                          capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def test_shape_rule():
    """The kernel takes only the shapes it was measured faster on, and ones it can tile exactly."""
    def qkv(s, d, dtype=torch.bfloat16, hk=2):
        return (torch.empty(1, 4, s, d, dtype=dtype), torch.empty(1, hk, s, d, dtype=dtype),
                torch.empty(1, hk, s, d, dtype=dtype))

    assert hopper.shape_fits(*qkv(1024, 128), 128, 64)
    assert hopper.shape_fits(*qkv(1024, 128), 128, 128)
    assert hopper.shape_fits(*qkv(1024, 64), 128, 128)
    assert not hopper.shape_fits(*qkv(1024, 64), 128, 64)  # the Triton kernel is faster there
    assert not hopper.shape_fits(*qkv(1000, 128), 128, 64)  # ragged: blocks would cross heads
    assert not hopper.shape_fits(*qkv(1024, 128, torch.float32), 128, 64)
    assert not hopper.shape_fits(*qkv(1024, 128), 128, 64, torch.float16)  # output staged in Q's buffer
    q, k, v = qkv(1024, 128)
    assert not hopper.shape_fits(q.transpose(1, 2).contiguous().transpose(1, 2), k, v, 128, 64)
    q8, k8 = q.to(torch.int8), k.to(torch.int8)
    assert hopper.shape_fits(q8, k8, v, 128, 64)  # int8 Q·Kᵀ, bf16 P·V
    assert not hopper.shape_fits(q8, k8, v.to(torch.float8_e4m3fn), 128, 64)  # fp8 P·V: Triton's
    assert not hopper.shape_fits(*(x.to(torch.int8) for x in qkv(1024, 64)[:2]), qkv(1024, 64)[2], 128, 128)
    assert not hopper.usable(q, k, v, 128, 64)  # CPU tensors never take it
