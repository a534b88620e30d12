"""The store's vector spaces: their dimensions, their faiss indexes, and changes waiting on a commit.

faiss has no transactions, so an add or removal is staged here while its SQLite transaction is
open, then applied to the indexes after the commit (:meth:`VectorSpaces.commit`) or forgotten
after a rollback (:meth:`VectorSpaces.discard`). The indexes therefore only ever hold committed
segments.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from memory.rebuild import index_path
from memory.vector_index import VectorIndex


class VectorSpaces:
    """Named spaces (dimension fixed by the first vector) and one :class:`VectorIndex` each."""

    def __init__(self, dims: dict[str, int], indexes: dict[str, VectorIndex]):
        self.dims = dict(dims)
        """Committed space name -> dimension."""
        self.indexes = indexes
        """Space name -> its index (only committed segments)."""
        self._new_dims: dict[str, int] = {}
        self._adds: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        self._removals: list[int] = []

    def dim(self, space: str) -> int | None:
        """The dimension of ``space``, counting spaces staged in the open transaction; None if new."""
        return self.dims.get(space, self._new_dims.get(space))

    def is_new(self, space: str) -> bool:
        """Whether ``space`` is neither committed nor staged yet."""
        return self.dim(space) is None

    def stage_space(self, space: str, dim: int) -> None:
        """Note a new space, created by the open transaction."""
        self._new_dims[space] = dim

    def stage_add(self, space: str, segment_id: int, vec: np.ndarray) -> None:
        """Note one vector to index once the open transaction commits."""
        ids, vecs = self._adds.setdefault(space, ([], []))
        ids.append(segment_id)
        vecs.append(vec)

    def stage_removal(self, ids: list[int]) -> None:
        """Note segment ids to drop from every index once the open transaction commits."""
        self._removals.extend(ids)

    def discard(self) -> None:
        """Forget everything staged (the transaction rolled back)."""
        self._new_dims.clear()
        self._adds.clear()
        self._removals.clear()

    def commit(self) -> bool:
        """Apply what was staged to the indexes; return whether new spaces were learnt."""
        learnt = bool(self._new_dims)
        for space, dim in self._new_dims.items():
            self.dims[space] = dim
            self.indexes.setdefault(space, VectorIndex(dim))
        self._new_dims.clear()
        for space, (ids, vecs) in self._adds.items():
            self.indexes[space].add(np.asarray(ids, dtype=np.int64), np.stack(vecs))
        self._adds.clear()
        if self._removals:
            removed = np.asarray(self._removals, dtype=np.int64)
            self._removals.clear()
            for index in self.indexes.values():
                index.remove(removed)
        return learnt

    def save(self, folder: Path) -> None:
        """Write each changed index to its file in ``folder``, atomically.

        Raises:
            OSError: A file cannot be written.
        """
        for space, index in self.indexes.items():
            if index.dirty:
                index.save(index_path(folder, space))
