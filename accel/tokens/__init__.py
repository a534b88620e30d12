"""Token reduction: merge redundant tokens (ToMe-style), guided by regions or by time.

- :mod:`accel.tokens.merge`: pure bipartite soft matching (:class:`MergePlan`).
- :mod:`accel.tokens.segment`: region labels per patch (SLIC superpixels or a caller's mask).
- :mod:`accel.tokens.temporal`: per-token caching over video frames.
- :func:`patch` / :func:`unpatch`: wrap transformers ViT/CLIP/SigLIP or timm ViTs in place.
"""

from .merge import MergePlan, bipartite_soft_matching, merge_source, merge_weighted
from .patch import TokenMergeState, merge_state, patch, set_regions, unpatch
from .segment import patch_regions, slic_regions
from .temporal import TemporalReport, TemporalTokenCache, changed_tokens

__all__ = [
    "MergePlan",
    "bipartite_soft_matching",
    "merge_weighted",
    "merge_source",
    "patch",
    "unpatch",
    "set_regions",
    "merge_state",
    "TokenMergeState",
    "patch_regions",
    "slic_regions",
    "TemporalTokenCache",
    "TemporalReport",
    "changed_tokens",
]
