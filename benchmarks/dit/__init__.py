"""A small DiT (diffusion transformer) trained here, for measuring step caching and token merging."""
