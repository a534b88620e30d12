"""Warp-specialised Hopper forward kernel (Gluon), for the dense, block-sparse and int8 paths.

Why a second kernel: the Triton kernel in ``kernel.py`` leaves the tensor cores idle while it
computes each softmax, so at D = 128 it runs at about 0.8x of cuDNN on an H200. This one is
written in Gluon, Triton's lower-level language, where the work can be laid out as
FlashAttention-3 does:

- a *loader* warp issues TMA copies of K and V tiles into a ring of shared-memory stages,
  waiting on a stage's "empty" barrier before it reuses it; it reads the block-sparse list of
  kept key blocks, so the compute warps wait on no index load (they read it only for causal
  masks). One "ready" and one "empty" barrier a stage cover K and V together: each barrier
  operation costs the compute warpgroup a sync of its 4 warps, and halving them made the
  kernel 1-3 % faster at 64-key blocks (one more stage keeps K loads as early as before);
- two *compute* warpgroups, 64 query rows each, issue ``S(t) = Q·K(t)ᵀ`` and
  ``O += P(t-1)·V(t-1)`` as asynchronous warpgroup MMAs and compute the softmax of block ``t``
  while the second product runs. The two warpgroups run unsynchronised, so one's softmax also
  overlaps the other's MMAs.

On an H200 at S = 32k this brings the dense kernel to 0.92-0.96x of cuDNN at D = 128 with
64-key blocks and 1.04-1.09x with 128 (Triton: 0.78-0.81x), the 50 % sparse one to 1.8x, and
int8 Q·Kᵀ with bf16 P·V to 1.11-1.19x with 128-key blocks (docs/benchmarks.md). Measured and
left out (docs/benchmarks.md has each): an explicit ping-pong between the warpgroups
(FlashAttention-3's; no gain here); issuing ``S(t+1)`` before the softmax of ``S(t)`` (8 %
slower at 64-key blocks; at 128 its second score tile does not fit in 168 registers a thread,
see ``_COMPUTE_REGS``); fp8 P·V, even with P left in its registers
(1.06x of cuDNN against 1.13x with bf16 P·V); lazy rescaling of O (0-13 % slower); and int8
scores converted without the I2F unit (1-6 % slower).

Only the inputs it is faster for take it (``usable``): an sm_90 GPU, bf16/fp16 or int8 Q/K,
the (D, key block) pairs of ``shape_fits``, contiguous inputs, and sequence lengths that are
whole multiples of the blocks; everything else stays on the Triton kernel. Gluon has no CPU
interpreter: the tests compile this kernel for sm_90a on CPU and check the machine code's shape,
and ``benchmarks/attention.py`` checks its results against the Triton kernel on the GPU.
"""

from __future__ import annotations

import torch

try:  # Gluon ships with Triton >= 3.5; optional like Triton itself.
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                                   warpgroup_mma_wait)
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    HAVE_GLUON = True
except Exception:
    HAVE_GLUON = False

__all__ = ["HAVE_GLUON", "launch_attention_hopper", "shape_fits", "usable"]

# K/V ring depth by key-block size. Shared memory at D = 128 in bf16: Q 32 KB plus 32 KB a stage
# with 64-key blocks and 64 KB with 128 (224 KB of the SM's 227).
_STAGES = {64: 4, 128: 3}
_GL_DTYPES = {torch.float16: gl.float16, torch.bfloat16: gl.bfloat16, torch.int8: gl.int8} if HAVE_GLUON else {}
# Registers a thread the partitions ask for (setmaxnreg). ptxas still gives every partition at
# most 168 (65536 / 384 threads): Triton 3.6 emits the partitions as branches of one dispatch
# loop, so ptxas allocates them as one function (dropping the PTX's .maxnreg changes nothing).
_LOADER_REGS = 24
_COMPUTE_REGS = 240


def shape_fits(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int, block_k: int,
               out_dtype: torch.dtype | None = None) -> bool:
    """Whether the kernel takes these dtypes, shapes, blocks and strides (device aside).

    A float output is staged in Q's shared-memory buffer, so it must have Q's dtype.

    Float inputs at (D, key block) (128, 64), (128, 128) or (64, 128): at D = 64 with 64-key
    blocks the Triton kernel is faster (H200, 2026-11-29: 0.93x against 0.86-0.89x of cuDNN at
    S = 32k). int8 Q and K (from ``launch_quantise``) at D = 128 with V in bf16/fp16. fp8 V
    stays on the Triton kernel, which was faster with it (1.10x against 0.88x of cuDNN).
    """
    d = q.shape[-1]
    if q.dtype == torch.int8:
        kind_ok = k.dtype == torch.int8 and v.dtype in (torch.float16, torch.bfloat16) and d == 128
    else:
        kind_ok = (q.dtype in (torch.float16, torch.bfloat16) and q.dtype == k.dtype == v.dtype and d in (64, 128)
                   and out_dtype in (None, q.dtype))
    return (
        kind_ok and block_q == 128 and (d, block_k) in ((128, 64), (128, 128), (64, 128))
        and q.shape[2] % block_q == 0 and k.shape[2] % block_k == 0
        and all(t.is_contiguous() for t in (q, k, v))
    )


def usable(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int, block_k: int,
           out_dtype: torch.dtype | None = None) -> bool:
    """Whether ``launch_attention_hopper`` takes these inputs: Gluon, an sm_90 GPU, ``shape_fits``."""
    return (HAVE_GLUON and q.is_cuda and torch.cuda.get_device_capability(q.device)[0] == 9
            and shape_fits(q, k, v, block_q, block_k, out_dtype))


if HAVE_GLUON:

    @gluon.jit
    def _load_partition(
        q_desc, k_desc, v_desc, q_smem, k_smem, v_smem, q_bar, ready, empty,
        q_row, kv_row, idx_ptr, n_blocks,
        BLOCK_N: gl.constexpr, STAGES: gl.constexpr, SPARSE: gl.constexpr,
    ):
        mbarrier.expect(q_bar, q_desc.block_type.nbytes)
        tma.async_copy_global_to_shared(q_desc, [q_row, 0], q_bar, q_smem)
        for t in range(n_blocks):
            s = t % STAGES
            # a fresh barrier counts as having completed the phase before phase 0
            phase = ((t // STAGES) & 1) ^ 1
            if SPARSE:
                kb = gl.load(idx_ptr + t)
            else:
                kb = t
            row = kv_row + kb * BLOCK_N
            mbarrier.wait(empty.index(s), phase)
            mbarrier.expect(ready.index(s), k_desc.block_type.nbytes + v_desc.block_type.nbytes)
            tma.async_copy_global_to_shared(k_desc, [row, 0], ready.index(s), k_smem.index(s))
            tma.async_copy_global_to_shared(v_desc, [row, 0], ready.index(s), v_smem.index(s))

    @gluon.jit
    def _softmax_step(s, m_i, l_i, cols, rows, t, n_full, qk_scale, CAUSAL: gl.constexpr):
        """Online softmax of one score tile (base 2): probabilities, new max and sum, and the
        factor that rescales what was accumulated so far."""
        if CAUSAL:
            if t >= n_full:
                s = gl.where(cols[None, :] <= rows[:, None], s, float("-inf"))
        m_new = gl.maximum(m_i, gl.max(s, 1) * qk_scale)
        p = gl.exp2(s * qk_scale - m_new[:, None])
        alpha = gl.exp2(m_i - m_new)
        l_i = l_i * alpha + gl.sum(p, 1)
        return p, m_new, l_i, alpha

    @gluon.jit
    def _key_block(idx_ptr, t, SPARSE: gl.constexpr, CAUSAL: gl.constexpr):
        """Index of the ``t``-th key block (only the causal mask needs it here)."""
        if SPARSE and CAUSAL:
            return gl.load(idx_ptr + t)
        else:
            return t

    @gluon.jit
    def _compute_partition(
        q_smem, k_smem, v_smem, o_smem, o_desc, q_bar, ready, empty,
        idx_ptr, ks_ptr, n_blocks, n_full, start_m, q_row, qk_scale,
        W: gl.constexpr, ROWS: gl.constexpr, BLOCK_N: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr,
        SPARSE: gl.constexpr, CAUSAL: gl.constexpr, INT8: gl.constexpr,
    ):
        """One warpgroup: query rows ``[W * ROWS, (W + 1) * ROWS)`` of the block.

        Per key block ``t``: issue ``S(t) = Q·K(t)ᵀ`` and ``O += P(t-1)·V(t-1)``, wait for the
        first, compute its softmax while the second runs, then wait for it and rescale ``O``.
        (Issuing ``S(t+1)`` before the softmax instead needs a second score tile: at 64-key
        blocks it ran 8 % slower, and at 128 it does not fit in the registers.)

        ``INT8``: Q and K are int8, ``S`` accumulates in int32 and is scaled by ``qk_scale``
        (Q's block scale) times K's block scale.
        """
        K_S: gl.constexpr = 32 if INT8 else 16  # the MMA's K step: 32 bytes of operand
        s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                           instr_shape=[16, BLOCK_N, K_S])
        o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                           instr_shape=[16, D, 16])
        p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
        row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
        row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
        s_dtype: gl.constexpr = gl.int32 if INT8 else gl.float32
        p_dtype: gl.constexpr = v_smem.dtype
        q_mine = q_smem.slice(W * ROWS, ROWS)

        rows = start_m + W * ROWS + gl.arange(0, ROWS, layout=row_s)
        offs_n = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
        m_i = gl.full([ROWS], -1.0e30, gl.float32, layout=row_s)
        l_i = gl.full([ROWS], 0.0, gl.float32, layout=row_s)
        acc = gl.zeros([ROWS, D], gl.float32, layout=o_layout)
        s = gl.zeros([ROWS, BLOCK_N], s_dtype, layout=s_layout)

        mbarrier.wait(q_bar, 0)
        # block 0: S, then its softmax (nothing to overlap with yet)
        mbarrier.wait(ready.index(0), 0)
        s = warpgroup_mma(q_mine, k_smem.index(0).permute((1, 0)), s, use_acc=False, is_async=True)
        s = warpgroup_mma_wait(num_outstanding=0, deps=(s,))
        kb = _key_block(idx_ptr, 0, SPARSE, CAUSAL)
        p, m_i, l_i, alpha = _softmax_step(s.to(gl.float32), m_i, l_i, kb * BLOCK_N + offs_n, rows, 0, n_full,
                                           _tile_scale(qk_scale, ks_ptr, 0, INT8), CAUSAL)
        p = gl.convert_layout(p.to(p_dtype), p_layout)
        for t in range(1, n_blocks):
            st = t % STAGES
            prev = (t - 1) % STAGES
            mbarrier.wait(ready.index(st), (t // STAGES) & 1)
            s = warpgroup_mma(q_mine, k_smem.index(st).permute((1, 0)), s, use_acc=False, is_async=True)
            acc = warpgroup_mma(p, v_smem.index(prev), acc, is_async=True)
            s = warpgroup_mma_wait(num_outstanding=1, deps=(s,))
            kb = _key_block(idx_ptr, t, SPARSE, CAUSAL)
            p_new, m_i, l_i, alpha = _softmax_step(s.to(gl.float32), m_i, l_i, kb * BLOCK_N + offs_n, rows, t,
                                                   n_full, _tile_scale(qk_scale, ks_ptr, t, INT8), CAUSAL)
            acc, p = warpgroup_mma_wait(num_outstanding=0, deps=(acc, p))
            mbarrier.arrive(empty.index(prev), count=1)
            acc = acc * gl.convert_layout(alpha, row_o)[:, None]
            p = gl.convert_layout(p_new.to(p_dtype), p_layout)
        last = (n_blocks - 1) % STAGES
        acc = warpgroup_mma(p, v_smem.index(last), acc, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        mbarrier.arrive(empty.index(last), count=1)
        l_safe = gl.where(l_i > 0, l_i, 1.0)
        out = acc / gl.convert_layout(l_safe, row_o)[:, None]
        # this warpgroup's rows of the staging buffer (Q's own when Q is no longer read)
        o_mine = o_smem.slice(W * ROWS, ROWS)
        o_mine.store(out.to(o_smem.dtype))
        fence_async_shared()
        tma.async_copy_shared_to_global(o_desc, [q_row + W * ROWS, 0], o_mine)
        tma.store_wait(0)

    @gluon.jit
    def _tile_scale(qk_scale, ks_ptr, t, INT8: gl.constexpr):
        """Factor from score tile ``t`` to base-2 logits: for int8, Q's block scale (which holds
        the softmax scale) times K's block scale, one multiply a tile instead of one a score."""
        if INT8:
            return qk_scale * gl.load(ks_ptr + t)
        else:
            return qk_scale

    @gluon.jit
    def _attention_fwd_hopper(
        q_desc, k_desc, v_desc, o_desc, QS, KS, KV_IDX, KV_CNT, KV_FULL,
        H, GROUP, SQ, SK, NQB, NKB, MAXK, qk_scale,
        BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, D: gl.constexpr, STAGES: gl.constexpr,
        SPARSE: gl.constexpr, CAUSAL: gl.constexpr, INT8: gl.constexpr,
        COMPUTE_REGS: gl.constexpr, LOADER_REGS: gl.constexpr,
    ):
        if CAUSAL:  # heaviest query blocks first
            pid_m = gl.num_programs(0) - 1 - gl.program_id(0)
        else:
            pid_m = gl.program_id(0)
        off_bh = gl.program_id(1)
        off_b = off_bh // H
        off_bhk = off_b * (H // GROUP) + (off_bh % H) // GROUP
        start_m = pid_m * BLOCK_M
        q_row = off_bh * SQ + start_m
        kv_row = off_bhk * SK
        if INT8:  # Q's block scale already holds the softmax scale and log2(e)
            qk_scale = gl.load(QS + off_bh * NQB + pid_m)
        if SPARSE:
            row = off_bh * NQB + pid_m
            n_full = gl.load(KV_FULL + row)
            n_blocks = gl.load(KV_CNT + row)
            idx_ptr = KV_IDX + row * MAXK
        else:
            if CAUSAL:  # top-left aligned: with SQ > SK the last rows see every key
                n_full = gl.minimum((start_m + 1) // BLOCK_N, SK // BLOCK_N)
                n_blocks = gl.minimum((start_m + BLOCK_M) // BLOCK_N, SK // BLOCK_N)
            else:
                n_full = SK // BLOCK_N
                n_blocks = n_full
            idx_ptr = KV_IDX

        q_smem = gl.allocate_shared_memory(q_desc.dtype, [BLOCK_M, D], q_desc.layout)
        k_smem = gl.allocate_shared_memory(k_desc.dtype, [STAGES, BLOCK_N, D], k_desc.layout)
        v_smem = gl.allocate_shared_memory(v_desc.dtype, [STAGES, BLOCK_N, D], v_desc.layout)
        if INT8:  # Q's buffer is int8: the output gets its own
            o_smem = gl.allocate_shared_memory(o_desc.dtype, [BLOCK_M, D], o_desc.layout)
        else:
            o_smem = q_smem
        q_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
        ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        mbarrier.init(q_bar, count=1)
        for i in gl.static_range(STAGES):
            mbarrier.init(ready.index(i), count=1)
            mbarrier.init(empty.index(i), count=2)  # one arrival per compute warpgroup

        ROWS: gl.constexpr = BLOCK_M // 2
        ks_ptr = KS + off_bhk * NKB
        gl.warp_specialize(
            [
                (_compute_partition, (q_smem, k_smem, v_smem, o_smem, o_desc, q_bar, ready, empty,
                                      idx_ptr, ks_ptr, n_blocks, n_full, start_m, q_row, qk_scale,
                                      0, ROWS, BLOCK_N, D, STAGES, SPARSE, CAUSAL, INT8)),
                (_compute_partition, (q_smem, k_smem, v_smem, o_smem, o_desc, q_bar, ready, empty,
                                      idx_ptr, ks_ptr, n_blocks, n_full, start_m, q_row, qk_scale,
                                      1, ROWS, BLOCK_N, D, STAGES, SPARSE, CAUSAL, INT8)),
                (_load_partition, (q_desc, k_desc, v_desc, q_smem, k_smem, v_smem, q_bar, ready, empty,
                                   q_row, kv_row, idx_ptr, n_blocks, BLOCK_N, STAGES, SPARSE)),
            ],
            [4, 1],
            [COMPUTE_REGS, LOADER_REGS],
        )


def launch_attention_hopper(
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
    kv_idx: torch.Tensor | None = None,
    kv_cnt: torch.Tensor | None = None,
    kv_full: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``kernel.launch_attention``'s contract, for inputs ``usable`` takes.

    Q and the output are read and written through TMA as ``[B*H*S, D]`` row blocks, K and V as
    ``[B*Hk*S, D]``: whole blocks never cross a head because the lengths are block multiples.
    """
    B, H, SQ, D = q.shape
    Hk, SK = k.shape[1], k.shape[2]
    sparse = kv_idx is not None
    int8 = q_scale is not None
    out = torch.empty(B, H, SQ, D, device=q.device, dtype=out_dtype or v.dtype)

    def desc(t: torch.Tensor, rows: int, block: list[int]):
        layout = gl.NVMMASharedLayout.get_default_for(block, _GL_DTYPES[t.dtype])
        return TensorDescriptor.from_tensor(t.reshape(rows, t.shape[-1]), block, layout)

    q_desc = desc(q, B * H * SQ, [block_q, D])
    o_desc = desc(out, B * H * SQ, [block_q // 2, D])
    k_desc = desc(k, B * Hk * SK, [block_k, D])
    v_desc = desc(v, B * Hk * SK, [block_k, D])
    dummy_i = torch.empty(1, device=q.device, dtype=torch.int32)
    dummy_f = torch.empty(1, device=q.device, dtype=torch.float32)
    nqb = SQ // block_q
    _attention_fwd_hopper[(nqb, B * H)](
        q_desc, k_desc, v_desc, o_desc,
        q_scale if int8 else dummy_f, k_scale if int8 else dummy_f,
        kv_idx if sparse else dummy_i, kv_cnt if sparse else dummy_i, kv_full if sparse else dummy_i,
        H, H // Hk, SQ, SK, nqb, SK // block_k, kv_idx.shape[-1] if sparse else 0, float(qk_scale),
        BLOCK_M=block_q, BLOCK_N=block_k, D=D, STAGES=_STAGES[block_k], SPARSE=sparse, CAUSAL=causal,
        INT8=int8, COMPUTE_REGS=_COMPUTE_REGS, LOADER_REGS=_LOADER_REGS, num_warps=4,
    )
    return out
