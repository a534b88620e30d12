"""One faiss index per named vector space: exact inner product over L2-normalised vectors."""
from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from memory.atomic import write_bytes_atomic

logger = logging.getLogger(__name__)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as contiguous float32."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class VectorIndex:
    """A flat inner-product faiss index whose ids are the store's segment ids.

    Flat search is exact, so a store never answers differently after a rebuild; at the scale of
    one machine's videos (thousands to a few hundred thousand segments) it is also fast enough.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.dirty = False

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Stored ids, sorted (for the consistency check against SQLite)."""
        return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows (raw vectors; normalised here)."""
        if len(ids):
            self.index.add_with_ids(normalise(vectors), np.asarray(ids, dtype=np.int64))
            self.dirty = True

    def remove(self, ids: np.ndarray) -> None:
        """Drop rows by id (ids not present are ignored)."""
        if len(ids) and self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))):
            self.dirty = True

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` (id, cosine) pairs, restricted to ``allowed`` ids when given."""
        k = min(k, self.count if allowed is None else len(allowed))
        if k <= 0:
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self.index.search(normalise(query[None, :]), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def scores(self, queries: np.ndarray, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every stored id (among ``allowed``) with its cosine to each of ``queries`` ``[m, dim]``:
        ``(ids [n], scores [n, m])``, one pass over the vectors (a matrix product on faiss's own
        storage, not a copy), so several queries cost about what one does."""
        flat = faiss.downcast_index(self.index.index)
        n = int(flat.ntotal)
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        if n == 0:
            return ids, np.zeros((0, len(queries)), dtype=np.float32)
        rows = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)
        if allowed is not None:
            keep = np.isin(ids, np.asarray(allowed, dtype=np.int64))
            ids, rows = ids[keep], rows[keep]
        return ids, rows @ normalise(queries).T

    def save(self, path: Path) -> None:
        """Write atomically to ``path`` (faiss's own format, no pickle)."""
        write_bytes_atomic(path, faiss.serialize_index(self.index).tobytes())
        self.dirty = False

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex | None:
        """Read ``path``; None when missing, unreadable or of another dimension."""
        if not path.exists():
            return None
        try:
            data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
            index = faiss.deserialize_index(data)
        except (OSError, RuntimeError) as err:
            logger.warning("%s unreadable (%s); rebuilding from the segment table", path, err)
            return None
        if index.d != dim or not isinstance(index, faiss.IndexIDMap2):
            logger.warning("%s has dim %d, expected %d; rebuilding", path, index.d, dim)
            return None
        out = cls(dim)
        out.index = index
        return out
