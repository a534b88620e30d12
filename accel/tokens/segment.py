"""Region labels per patch token, for segmentation-guided merging.

Plain ToMe merges whichever tokens look alike, which can fold a patch of a dark object into a
patch of dark background. Giving each token the label of the region it lies in (SLIC
superpixels, or any mask the caller has) lets :func:`accel.tokens.bipartite_soft_matching`
merge inside regions first. scikit-image is needed only for :func:`slic_regions`.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["patch_regions", "slic_regions"]


def patch_regions(mask: Any, patch_size: int, *, num_prefix_tokens: int = 0) -> torch.Tensor:
    """Give every patch token the majority label of the pixels it covers.

    Args:
        mask: ``[B, H, W]`` (or ``[H, W]``) integer labels, one per pixel; ``H`` and ``W``
            divisible by ``patch_size``.
        patch_size: patch side in pixels.
        num_prefix_tokens: tokens before the patches (class token); they get label ``-1``,
            a region of their own.

    Returns:
        ``[B, num_prefix_tokens + (H / p) * (W / p)]`` long tensor, patches in row-major order
        (the order ViT patch embeddings use).
    """
    if not isinstance(mask, torch.Tensor):
        import numpy as np  # only for array input; accel itself needs torch alone

        mask = torch.as_tensor(np.asarray(mask))
    m = mask
    if m.dim() == 2:
        m = m[None]
    if m.dim() != 3:
        raise ValueError(f"mask must be [B, H, W] or [H, W], got shape {tuple(m.shape)}")
    if patch_size <= 0:
        raise ValueError(f"patch_size must be positive, got {patch_size}")
    bsz, h, w = m.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"mask size {(h, w)} is not divisible by patch_size={patch_size}")
    m = m.long()
    gh, gw = h // patch_size, w // patch_size
    blocks = m.reshape(bsz, gh, patch_size, gw, patch_size).permute(0, 1, 3, 2, 4)
    labels = blocks.reshape(bsz, gh * gw, patch_size * patch_size).mode(dim=-1).values
    if num_prefix_tokens:
        prefix = labels.new_full((bsz, num_prefix_tokens), -1)
        labels = torch.cat([prefix, labels], dim=1)
    return labels


def slic_regions(
    images: Any,
    patch_size: int,
    *,
    n_segments: int = 64,
    compactness: float = 10.0,
    num_prefix_tokens: int = 0,
) -> torch.Tensor:
    """SLIC superpixels (scikit-image) turned into per-token region labels.

    Args:
        images: ``[B, H, W, 3]`` or ``[H, W, 3]`` images (uint8 or float in [0, 1]).
        patch_size: patch side in pixels.
        n_segments: approximate number of superpixels per image.
        compactness: SLIC's colour-versus-space trade-off.
        num_prefix_tokens: see :func:`patch_regions`.

    Returns:
        ``[B, num_prefix_tokens + num_patches]`` region labels.
    """
    import numpy as np

    try:
        from skimage.segmentation import slic
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("slic_regions needs scikit-image: pip install scikit-image") from exc
    imgs = np.asarray(images)
    if imgs.ndim == 3:
        imgs = imgs[None]
    if imgs.ndim != 4 or imgs.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3] or [H, W, 3], got shape {imgs.shape}")
    masks = np.stack(
        [slic(img, n_segments=n_segments, compactness=compactness, start_label=0) for img in imgs]
    )
    return patch_regions(masks, patch_size, num_prefix_tokens=num_prefix_tokens)
