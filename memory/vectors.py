"""Vector indexes derived from the stored embeddings, and the pending changes of a write.

:class:`VectorIndex` is an exact cosine (inner-product over unit vectors) faiss
index keyed by the store's integer keys; its rankings break score ties by key,
so two processes that reached the same state by different routes rank alike.
:class:`PendingVectors` is what a write sees while its transaction is open: the
caught-up indexes plus the vectors the write adds, minus those it removes. The
indexes themselves change only after the commit, when the store catches up from
the change log.
"""

from __future__ import annotations

import logging
from typing import Sequence

import faiss
import numpy as np

__all__ = ["VectorIndex", "PendingVectors", "PendingKind", "inner_products"]

logger = logging.getLogger(__name__)


def inner_products(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``queries @ vectors.T`` in numpy's own loop, on the calling thread, without BLAS.

    A BLAS product here wakes OpenBLAS's worker threads, which then spin for a while and
    take the other cores from the encoders and the walk: on the MuSiQue store that was a
    third of a query's CPU time. Here a score does not depend on BLAS's thread count, nor
    on the other queries of the call (a BLAS product's does). Made for the few vectors of
    one query: for hundreds of queries at once BLAS is several times faster.

    >>> inner_products(np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32),
    ...                np.array([[2.0, 4.0]], dtype=np.float32)).tolist()
    [[2.0, 3.0]]
    """
    return np.einsum("qd,nd->qn", queries, vectors)


class VectorIndex:
    """An exact cosine index keyed by int64 ids.

    Parameters
    ----------
    dim : int
        Vector dimension.

    Examples
    --------
    >>> index = VectorIndex(2)
    >>> index.add([7, 9], np.array([[1, 0], [0, 1]], dtype=np.float32))
    >>> index.search(np.array([[1, 0.1]], dtype=np.float32), 1)[1].tolist()
    [[7]]
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @classmethod
    def from_arrays(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> "VectorIndex":
        """An index holding ``vectors`` under ``ids``."""
        index = cls(dim)
        index.add(np.asarray(ids, dtype=np.int64), vectors)
        return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        """Remove ids (absent ids are ignored)."""
        if len(ids) == 0:
            return
        self._index.remove_ids(np.asarray(sorted(set(int(i) for i in ids)), dtype=np.int64))

    def _storage(self) -> np.ndarray:
        flat = faiss.downcast_index(self._index.index)
        return faiss.rev_swig_ptr(flat.get_xb(), len(self) * self.dim).reshape(len(self), self.dim)

    def all_scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of every vector against one query: one product over the flat storage."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = inner_products(self._storage(), np.asarray(query, dtype=np.float32).reshape(1, self.dim))[0]
        return self.ids(), scores

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query, ties broken by the smaller id; ids are -1 where fewer exist."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        size = len(self)
        if size == 0:
            return (np.zeros((len(queries), 0), dtype=np.float32), np.zeros((len(queries), 0), dtype=np.int64))
        k = max(1, min(int(k), size))
        ids = self.ids()
        all_scores = inner_products(self._storage(), queries)
        out_scores = np.zeros((len(queries), k), dtype=np.float32)
        out_ids = np.zeros((len(queries), k), dtype=np.int64)
        for row, scores in enumerate(all_scores):
            if k < size:  # a margin keeps every candidate tied with the k-th
                kth = np.partition(-scores, k - 1)[k - 1]
                candidates = np.nonzero(-scores <= kth)[0]
            else:
                candidates = np.arange(size)
            order = candidates[np.lexsort((ids[candidates], -scores[candidates]))][:k]
            out_scores[row], out_ids[row] = scores[order], ids[order]
        return out_scores, out_ids

    def range_search(self, queries: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """All (scores, ids) with score >= ``threshold``, one pair per query."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0 or len(queries) == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in queries]
        lims, scores, ids = self._index.range_search(queries, float(threshold))
        return [(scores[lims[i]:lims[i + 1]], ids[lims[i]:lims[i + 1]]) for i in range(len(queries))]

    def ids(self) -> np.ndarray:
        """All ids in the index (in storage order)."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given ids."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) copies, sorted by id (for snapshots)."""
        ids = self.ids()
        order = np.argsort(ids, kind="stable")
        return ids[order], np.array(self._storage()[order], dtype=np.float32)


class PendingKind:
    """One kind's view for a write in progress: the index plus added minus removed vectors."""

    def __init__(self, base: VectorIndex) -> None:
        self.base = base
        self.added: dict[int, np.ndarray] = {}
        self.removed: set[int] = set()

    def add(self, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Record vectors the write adds."""
        for key, vector in zip(keys, np.asarray(vectors, dtype=np.float32)):
            self.added[int(key)] = vector
            self.removed.discard(int(key))

    def remove(self, keys: Sequence[int]) -> None:
        """Record vectors the write removes."""
        for key in keys:
            self.added.pop(int(key), None)
            self.removed.add(int(key))

    def vectors_of(self, keys: Sequence[int]) -> np.ndarray:
        """The current vectors of keys (added ones from the write, others from the index)."""
        keys = [int(k) for k in keys]
        out = np.zeros((len(keys), self.base.dim), dtype=np.float32)
        from_base = [i for i, k in enumerate(keys) if k not in self.added]
        if from_base:
            out[from_base] = self.base.reconstruct([keys[i] for i in from_base])
        for i, key in enumerate(keys):
            if key in self.added:
                out[i] = self.added[key]
        return out

    def range_search(self, queries: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Range search over the index as the write would leave it."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        base = self.base.range_search(queries, threshold)
        hidden = np.array(sorted(self.removed | set(self.added)), dtype=np.int64)
        added_keys = np.array(sorted(self.added), dtype=np.int64)
        extra = None
        if len(added_keys):
            added = np.stack([self.added[int(k)] for k in added_keys])
            extra = queries @ added.T  # one product for every query row
        out = []
        for row, (scores, ids) in enumerate(base):
            if len(hidden) and len(ids):
                keep = ~np.isin(ids, hidden)
                scores, ids = scores[keep], ids[keep]
            if extra is not None:
                hit = np.nonzero(extra[row] >= threshold)[0]
                scores = np.concatenate([scores, extra[row, hit].astype(np.float32)])
                ids = np.concatenate([ids, added_keys[hit]])
            out.append((scores, ids))
        return out


class PendingVectors:
    """The vector changes of one write, per kind (see :class:`PendingKind`)."""

    def __init__(self, indexes: dict[str, VectorIndex]) -> None:
        self.kinds = {kind: PendingKind(index) for kind, index in indexes.items()}

    def __getitem__(self, kind: str) -> PendingKind:
        return self.kinds[kind]
