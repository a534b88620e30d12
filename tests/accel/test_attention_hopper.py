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

from accel.attention import _gluon_hopper

pytestmark = pytest.mark.skipif(not _gluon_hopper.HAVE_GLUON, reason="needs triton with Gluon (dev extra)")


def _compile(d: int, block_k: int, sparse: bool, causal: bool):
    from triton import compile as triton_compile
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon._runtime import GluonASTSource

    def desc(rows):
        layout = gl.NVMMASharedLayout.get_default_for([rows, d], gl.bfloat16)
        return f"tensordesc<bf16[{rows}, {d}],{layout!r}>"

    signature = {
        "q_desc": desc(128), "k_desc": desc(block_k), "v_desc": desc(block_k), "o_desc": desc(64),
        "KV_IDX": "*i32", "KV_CNT": "*i32", "KV_FULL": "*i32",
        "H": "i32", "GROUP": "i32", "SQ": "i32", "SK": "i32", "NQB": "i32", "MAXK": "i32", "qk_scale": "fp32",
    }
    constants = {"BLOCK_M": 128, "BLOCK_N": block_k, "D": d, "STAGES": _gluon_hopper._STAGES[block_k],
                 "SPARSE": sparse, "CAUSAL": causal, "COMPUTE_REGS": _gluon_hopper._COMPUTE_REGS,
                 "LOADER_REGS": _gluon_hopper._LOADER_REGS}
    signature.update({name: "constexpr" for name in constants})
    names = list(signature)
    src = GluonASTSource(_gluon_hopper._attention_fwd_hopper, signature,
                         {(names.index(n),): v for n, v in constants.items()},
                         {(i,): [["tt.divisibility", 16]] for i in range(4, 7)})
    return triton_compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})


@pytest.mark.parametrize("d,block_k", [(128, 64), (128, 128), (64, 128)])
@pytest.mark.parametrize("sparse,causal", [(False, False), (True, True)])
def test_compiles_for_sm90a_with_the_intended_structure(d, block_k, sparse, causal, tmp_path):
    kernel = _compile(d, block_k, sparse, causal)
    ptx = kernel.asm["ptx"]
    assert "wgmma.mma_async" in ptx  # tensor-core MMAs, issued asynchronously
    assert "wgmma.wait_group.sync.aligned 1" in ptx  # S waited for while P·V may still run
    assert f"setmaxnreg.inc.sync.aligned.u32 \t{_gluon_hopper._COMPUTE_REGS}" in ptx  # compute budget
    assert f"setmaxnreg.dec.sync.aligned.u32 \t{_gluon_hopper._LOADER_REGS}" in ptx  # loader budget
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

    assert _gluon_hopper.shape_fits(*qkv(1024, 128), 128, 64)
    assert _gluon_hopper.shape_fits(*qkv(1024, 128), 128, 128)
    assert _gluon_hopper.shape_fits(*qkv(1024, 64), 128, 128)
    assert not _gluon_hopper.shape_fits(*qkv(1024, 64), 128, 64)  # the Triton kernel is faster there
    assert not _gluon_hopper.shape_fits(*qkv(1000, 128), 128, 64)  # ragged: blocks would cross heads
    assert not _gluon_hopper.shape_fits(*qkv(1024, 128, torch.float32), 128, 64)
    q, k, v = qkv(1024, 128)
    assert not _gluon_hopper.shape_fits(q.transpose(1, 2).contiguous().transpose(1, 2), k, v, 128, 64)
    assert not _gluon_hopper.usable(q, k, v, 128, 64)  # CPU tensors never take it
