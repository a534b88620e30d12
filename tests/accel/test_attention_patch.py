"""Switching whole modules to an accel backend, and restoring them exactly.

Models here are tiny and randomly initialised from a config (no weights are downloaded): a
Gemma 3 text model (the transformers route) and a timm-style vision block that calls
``F.scaled_dot_product_attention`` (the SDPA-swap route; timm itself is not installed here).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from accel.attention import (
    apply_attention,
    attention_backend,
    error_reports,
    remove_attention,
)



def tiny_gemma(sliding_window: int = 512):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                           sliding_window=sliding_window, max_position_embeddings=1024)
    return Gemma3ForCausalLM(cfg).eval()


class TimmStyleAttention(nn.Module):
    """The shape of timm's ``Attention`` with ``fused_attn``: qkv projection, SDPA, projection."""

    def __init__(self, dim: int = 64, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[TimmStyleAttention() for _ in range(2)])

    def forward(self, x):
        return self.blocks(x)


@torch.no_grad()
def test_transformers_model_patch_and_exact_restore():
    model = tiny_gemma()
    ids = torch.randint(0, 128, (2, 96))
    before = model(ids).logits
    with error_reports() as monitor:
        with attention_backend(model, "int8", block_q=32, block_k=16):
            assert model.config._attn_implementation == "accel"
            patched = model(ids).logits
    assert len(monitor.reports) == 2, "each of the 2 layers must go through accel.attention"
    assert all(r.backend == "int8" and r.cosine > 0.999 for r in monitor.reports)
    assert not torch.equal(patched, before), "int8 must actually run"
    assert F.cosine_similarity(patched.flatten(), before.flatten(), dim=0) > 0.999
    after = model(ids).logits
    assert model.config._attn_implementation == "sdpa"
    assert torch.equal(after, before), "removing the patch must restore the exact output"


@torch.no_grad()
def test_transformers_sdpa_backend_is_exact_and_masks_fall_back():
    model = tiny_gemma(sliding_window=16)  # sliding-window masks: accel must defer to SDPA
    ids = torch.randint(0, 128, (2, 40))
    pad = torch.ones(2, 40, dtype=torch.long)
    pad[0, :7] = 0
    before = model(ids, attention_mask=pad).logits
    with error_reports() as monitor, attention_backend(model, "block_sparse", sparsity=0.9):
        patched = model(ids, attention_mask=pad).logits
    assert monitor.calls == 0, "masked calls go to transformers' SDPA, not to a sparse kernel"
    assert torch.equal(patched, before)

    model = tiny_gemma(sliding_window=512)
    ids = torch.randint(0, 128, (1, 64))
    before = model(ids).logits
    with error_reports() as monitor, attention_backend(model, "sdpa"):
        same = model(ids).logits
    assert monitor.calls == 2
    torch.testing.assert_close(same, before, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_plain_module_patch_swaps_sdpa_only_inside_forward():
    model = TinyViT().eval()
    x = torch.randn(2, 197, 64)  # 196 patches + class token: ragged for every block size
    before = model(x)
    apply_attention(model, "block_sparse", sparsity=0.5, block_q=32, block_k=32)
    try:
        with error_reports() as monitor:
            patched = model(x)
        assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention, \
            "SDPA must be restored outside the module's forward"
        assert len(monitor.reports) == 2 and all(r.backend == "block_sparse" for r in monitor.reports)
        # 197 keys make 7 key blocks (the last holds 5). sparsity=0.5 keeps ceil(3.5) = 4 per row
        # plus the sink block, so 2 or 3 blocks are skipped: between 37/197 and 96/197 of the work.
        assert all(0.18 < r.sparsity < 0.49 for r in monitor.reports), [r.sparsity for r in monitor.reports]
        assert not torch.equal(patched, before)
        with pytest.raises(ValueError, match="already"):
            apply_attention(model, "int8")
    finally:
        remove_attention(model)
    assert torch.equal(model(x), before)
    remove_attention(model)  # removing twice is harmless


@torch.no_grad()
def test_patch_restores_sdpa_even_when_forward_raises():
    model = TinyViT().eval()
    apply_attention(model, "int8")
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 10, 63))  # wrong width: the first Linear raises
    assert F.scaled_dot_product_attention is torch._C._nn.scaled_dot_product_attention
    remove_attention(model)


def test_apply_checks_arguments():
    with pytest.raises(TypeError, match="module"):
        apply_attention("not a module", "int8")
    with pytest.raises(ValueError, match="backend"):
        apply_attention(TinyViT(), "fastest")
