"""Triton forward kernel shared by the dense, block-sparse and int8 attention backends.

One flash-attention style kernel with four compile-time switches:

- ``SPARSE``: walk a per-query-block list of kept key blocks instead of every key block.
- ``INT8``: Q and K arrive as int8 with one scale per block; Q·Kᵀ runs in int8 with int32
  accumulation, P·V in V's dtype (fp16/bf16).
- ``FP8_PV``: V arrives as float8 e4m3 with one scale per channel, stored transposed (keys
  contiguous: Hopper's fp8 tensor-core instruction takes its B operand K-major only); P is
  scaled by 448 (e4m3's largest value) and rounded to e4m3, and P·V accumulates in float32.
- ``CAUSAL``: top-left aligned causal mask (query ``i`` sees keys ``j <= i``), as SDPA.

Each query block runs two loops: first the key blocks that need no mask (fully inside the
sequence and fully below the diagonal), then the few that do. The softmax works in base 2;
the caller folds ``scale * log2(e)`` into Q (int8) or passes it as ``qk_scale``.

Launch settings are arguments (``LaunchSettings``): the Triton kernel's warps and stages, and
whether an H100/H200 hands the inputs ``hopper.usable`` takes (bf16/fp16, or int8 Q/K with
bf16/fp16 V, in whole blocks) to the warp-specialised kernel in ``hopper.py``
(``LaunchSettings(hopper=False)`` keeps them here, for A/B). No environment variable is read.

The references beside it are in ``naive.py``. Triton is optional (``accel.ops.runtime``); with
``TRITON_INTERPRET=1`` the kernel also runs on CPU tensors, which is how the tests check it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from accel.ops.attention import hopper
from accel.ops.runtime import HAVE_TRITON, interpreting, next_pow2, prepare_interpreter, tl, triton

__all__ = ["LaunchSettings", "default_launch", "launch_attention"]


@dataclass(frozen=True)
class LaunchSettings:
    """How ``launch_attention`` launches the forward kernel (pass one to tune or A/B it).

    Args:
        warps (`int`, *optional*): ``num_warps`` of the Triton kernel; default from
            ``default_launch``.
        stages (`int`, *optional*): ``num_stages`` of the Triton kernel; default from
            ``default_launch``.
        hopper (`bool`, defaults to True): on an H100/H200, run the inputs the Gluon kernel
            takes on it; False keeps every input on the Triton kernel.
    """

    warps: int | None = None
    stages: int | None = None
    hopper: bool = True

    def __post_init__(self) -> None:
        for name in ("warps", "stages"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or a positive int, got {value!r}")
        if self.warps is not None and self.warps & (self.warps - 1):
            raise ValueError(f"warps must be a power of two, got {self.warps}")
        if not isinstance(self.hopper, bool):
            raise TypeError(f"hopper must be a bool, got {type(self.hopper).__name__}")


if HAVE_TRITON:

    @triton.jit
    def _attend_blocks(
        acc, l_i, m_i, q, q_scale,
        K, V, KS, IDX,
        t_lo, t_hi, start_m, k_scale_row,
        offs_m, offs_n, offs_d,
        stride_kn, stride_kd, stride_vn, stride_vd,
        SK, qk_scale,
        BLOCK_N: tl.constexpr, MASKED: tl.constexpr, CAUSAL: tl.constexpr,
        SPARSE: tl.constexpr, INT8: tl.constexpr, EVEN_D: tl.constexpr, D: tl.constexpr,
        PREC: tl.constexpr, LOOP_STAGES: tl.constexpr, FP8_PV: tl.constexpr,
    ):
        for t in tl.range(t_lo, t_hi, num_stages=LOOP_STAGES):
            if SPARSE:
                kb = tl.load(IDX + t)
            else:
                kb = t
            cols = kb * BLOCK_N + offs_n  # (BLOCK_N,)
            k_ptrs = K + cols[:, None] * stride_kn + offs_d[None, :] * stride_kd
            v_ptrs = V + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd
            if MASKED:
                ld_mask = cols[:, None] < SK
                if not EVEN_D:
                    ld_mask = ld_mask & (offs_d[None, :] < D)
                k = tl.load(k_ptrs, mask=ld_mask, other=0)
            else:
                if EVEN_D:
                    k = tl.load(k_ptrs)
                else:
                    k = tl.load(k_ptrs, mask=offs_d[None, :] < D, other=0)
            if INT8:
                k_scale = tl.load(KS + k_scale_row + kb)
                qk = tl.dot(q, tl.trans(k), out_dtype=tl.int32).to(tl.float32) * (q_scale * k_scale)
            else:
                qk = tl.dot(q, tl.trans(k), input_precision=PREC) * qk_scale
            if MASKED:
                valid = cols[None, :] < SK
                if CAUSAL:
                    valid = valid & (offs_m[:, None] >= cols[None, :])
                qk = tl.where(valid, qk, float("-inf"))
            m_ij = tl.maximum(m_i, tl.max(qk, 1))
            p = tl.math.exp2(qk - m_ij[:, None])
            alpha = tl.math.exp2(m_i - m_ij)
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None]
            if MASKED:
                v = tl.load(v_ptrs, mask=ld_mask, other=0.0)
            else:
                if EVEN_D:
                    v = tl.load(v_ptrs)
                else:
                    v = tl.load(v_ptrs, mask=offs_d[None, :] < D, other=0.0)
            if FP8_PV:  # p in [0, 1] scaled to e4m3's range; undone with V's scales at the end
                acc = tl.dot((p * 448.0).to(tl.float8e4nv), v, acc)
            else:
                acc = tl.dot(p.to(v.dtype), v, acc, input_precision=PREC)
            m_i = m_ij
        return acc, l_i, m_i

    @triton.jit
    def _attention_fwd(
        Q, K, V, O, QS, KS, VS, KV_IDX, KV_CNT, KV_FULL,
        stride_qb, stride_qh, stride_qm, stride_qd,
        stride_kb, stride_kh, stride_kn, stride_kd,
        stride_vb, stride_vh, stride_vn, stride_vd,
        stride_ob, stride_oh, stride_om, stride_od,
        H, GROUP, SQ, SK, NQB, NKB, MAXK, qk_scale,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, D: tl.constexpr,
        CAUSAL: tl.constexpr, SPARSE: tl.constexpr, INT8: tl.constexpr, PREC: tl.constexpr,
        LOOP_STAGES: tl.constexpr, MASK_STAGES: tl.constexpr, FP8_PV: tl.constexpr,
    ):
        EVEN_D: tl.constexpr = BLOCK_D == D
        if CAUSAL:  # heaviest query blocks first
            pid_m = tl.num_programs(0) - 1 - tl.program_id(0)
        else:
            pid_m = tl.program_id(0)
        off_bh = tl.program_id(1)
        off_b = off_bh // H
        off_h = off_bh % H
        off_hk = off_h // GROUP
        start_m = pid_m * BLOCK_M
        offs_m = start_m + tl.arange(0, BLOCK_M)
        offs_n = tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)

        q_ptrs = Q + off_b * stride_qb + off_h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd
        q_mask = offs_m[:, None] < SQ
        if not EVEN_D:
            q_mask = q_mask & (offs_d[None, :] < D)
        q = tl.load(q_ptrs, mask=q_mask, other=0)
        if INT8:
            q_scale = tl.load(QS + off_bh * NQB + pid_m)
        else:
            q_scale = 1.0
        k_scale_row = (off_b * (H // GROUP) + off_hk) * NKB
        Kh = K + off_b * stride_kb + off_hk * stride_kh
        Vh = V + off_b * stride_vb + off_hk * stride_vh

        m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - 1.0e30
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)

        if SPARSE:
            row = off_bh * NQB + pid_m
            n_full = tl.load(KV_FULL + row)
            n_end = tl.load(KV_CNT + row)
            idx = KV_IDX + row * MAXK
        else:
            if CAUSAL:
                n_full = tl.minimum((start_m + 1) // BLOCK_N, SK // BLOCK_N)
                n_end = tl.cdiv(tl.minimum(start_m + BLOCK_M, SK), BLOCK_N)
            else:
                n_full = SK // BLOCK_N
                n_end = tl.cdiv(SK, BLOCK_N)
            idx = KV_IDX

        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, q_scale, Kh, Vh, KS, idx, 0, n_full, start_m, k_scale_row,
            offs_m, offs_n, offs_d, stride_kn, stride_kd, stride_vn, stride_vd, SK, qk_scale,
            BLOCK_N, False, CAUSAL, SPARSE, INT8, EVEN_D, D, PREC, LOOP_STAGES, FP8_PV,
        )
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, q_scale, Kh, Vh, KS, idx, n_full, n_end, start_m, k_scale_row,
            offs_m, offs_n, offs_d, stride_kn, stride_kd, stride_vn, stride_vd, SK, qk_scale,
            BLOCK_N, True, CAUSAL, SPARSE, INT8, EVEN_D, D, PREC, MASK_STAGES, FP8_PV,
        )
        l_safe = tl.where(l_i > 0, l_i, 1.0)
        if FP8_PV:  # V's per-channel scales and P's factor 448
            v_scale = tl.load(VS + (off_b * (H // GROUP) + off_hk) * D + offs_d, mask=offs_d < D, other=1.0)
            out = acc * (v_scale * (1.0 / 448.0))[None, :] / l_safe[:, None]
        else:
            out = acc / l_safe[:, None]
        o_ptrs = O + off_b * stride_ob + off_h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od
        o_mask = offs_m[:, None] < SQ
        if not EVEN_D:
            o_mask = o_mask & (offs_d[None, :] < D)
        tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=o_mask)



def default_launch(block_d: int, int8: bool, fp8_pv: bool) -> tuple[int, int]:
    """(num_warps, num_stages) of the Triton kernel when ``LaunchSettings`` leaves them unset.

    Defaults from sweeps on an H200 (2026-11-28, S=16k-32k, H=32, bf16): float kernels run best
    with 8 warps and 3 stages, the int8 kernel at D=128 with 4 warps and 2 stages, and with fp8
    P·V with 4 warps and 3 stages (24.8 ms at 32k against 28.6 ms with 2 stages and 29.8 / 36.1 ms
    with 8 warps).
    """
    if fp8_pv:
        return 4, 3
    if int8 and block_d == 128:
        return 4, 2
    return (8 if block_d >= 64 else 4), (3 if block_d <= 128 else 2)


def launch_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool,
    block_q: int,
    block_k: int,
    qk_scale: float = 1.0,
    q_scale: torch.Tensor | None = None,
    k_scale: torch.Tensor | None = None,
    v_scale: torch.Tensor | None = None,
    kv_idx: torch.Tensor | None = None,
    kv_cnt: torch.Tensor | None = None,
    kv_full: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    launch: LaunchSettings | None = None,
) -> torch.Tensor:
    """Run the forward kernel (on Hopper, ``hopper.py``'s where it applies and ``launch.hopper``).

    Args:
        q: ``[B, H, Sq, D]`` (int8 when ``q_scale`` is given; its scale already holds the
            softmax scale times log2(e)).
        k: ``[B, Hk, Sk, D]`` with ``H % Hk == 0`` (grouped-query attention without copies).
        v: ``[B, Hk, Sk, D]`` in fp16/bf16/fp32, or float8 e4m3 from ``launch_quantise_v_fp8``
            (with ``v_scale``).
        causal: top-left causal mask.
        block_q: rows per query block (power of two >= 16); also Q's quantisation block.
        block_k: keys per key block (power of two >= 16); also K's quantisation block.
        qk_scale: factor on Q·Kᵀ for float inputs (softmax scale times log2(e)).
        q_scale: ``[B, H, ceil(Sq/block_q)]`` float32 scales of int8 Q.
        k_scale: ``[B, Hk, ceil(Sk/block_k)]`` float32 scales of int8 K.
        v_scale: ``[B, Hk, D]`` float32 channel scales of float8 V (P·V then runs in fp8).
        kv_idx: ``[B, H, nq, maxk]`` int32 kept key blocks per query block, ascending.
        kv_cnt: ``[B, H, nq]`` int32 number of valid entries in ``kv_idx``.
        kv_full: ``[B, H, nq]`` int32 leading entries that need no mask.
        out_dtype: output dtype (default: V's dtype; required with float8 V).
        launch: warps, stages and the Hopper switch (default ``LaunchSettings()``).

    Returns:
        ``[B, H, Sq, D]`` attention output.
    """
    if not HAVE_TRITON:
        raise RuntimeError("launch_attention needs triton, which is not installed")
    launch = LaunchSettings() if launch is None else launch
    prepare_interpreter()
    if launch.hopper and not interpreting() and hopper.usable(q, k, v, block_q, block_k, out_dtype):
        return hopper.launch_attention_hopper(
            q, k, v, causal=causal, block_q=block_q, block_k=block_k, qk_scale=qk_scale, q_scale=q_scale,
            k_scale=k_scale, kv_idx=kv_idx, kv_cnt=kv_cnt, kv_full=kv_full, out_dtype=out_dtype)
    B, H, SQ, D = q.shape
    Hk, SK = k.shape[1], k.shape[2]
    int8 = q_scale is not None
    sparse = kv_idx is not None
    fp8_pv = v_scale is not None
    if fp8_pv and out_dtype is None:
        raise ValueError("launch_attention: float8 V needs out_dtype")
    block_d = next_pow2(D)
    out = torch.empty((B, H, SQ, D), device=q.device, dtype=out_dtype or v.dtype)
    nqb = triton.cdiv(SQ, block_q)
    nkb = triton.cdiv(SK, block_k)
    dummy_i = torch.empty(1, device=q.device, dtype=torch.int32)  # never read: no fill kernel
    dummy_f = torch.empty(1, device=q.device, dtype=torch.float32)
    prec = "ieee" if v.dtype == torch.float32 else "tf32"
    warps, stages = default_launch(block_d, int8, fp8_pv)
    warps, stages = launch.warps or warps, launch.stages or stages
    # the sparse loop's block index is one more load in the chain: without deeper pipelining of
    # the main loop itself Triton keeps two K/V buffers there instead of the dense loop's three
    loop_stages = 2 * stages - 1 if sparse else stages
    grid = (nqb, B * H)
    _attention_fwd[grid](
        q, k, v, out,
        q_scale if int8 else dummy_f, k_scale if int8 else dummy_f, v_scale if fp8_pv else dummy_f,
        kv_idx if sparse else dummy_i, kv_cnt if sparse else dummy_i, kv_full if sparse else dummy_i,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        H, H // Hk, SQ, SK, nqb, nkb, kv_idx.shape[-1] if sparse else 0, float(qk_scale),
        BLOCK_M=block_q, BLOCK_N=block_k, BLOCK_D=block_d, D=D,
        CAUSAL=causal, SPARSE=sparse, INT8=int8, PREC=prec, LOOP_STAGES=loop_stages, MASK_STAGES=stages,
        FP8_PV=fp8_pv,
        num_warps=warps, num_stages=stages,
    )
    return out
