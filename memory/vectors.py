"""faiss indexes with stable ids (the store's integer keys), derived from SQLite.

Each index is an exact inner-product index over unit vectors (cosine). It is
persisted beside the database with the generation of the database state it
reflects; a file from another generation is ignored and rebuilt from the
``embeddings`` table.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np

__all__ = ["VectorIndex"]

logger = logging.getLogger(__name__)


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

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        """Remove ids (absent ids are ignored)."""
        if len(ids) == 0:
            return
        self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query; ids are -1 where fewer exist."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(self) == 0:
            return (np.zeros((len(queries), 0), dtype=np.float32),
                    np.zeros((len(queries), 0), dtype=np.int64))
        return self._index.search(queries, k)

    def all_scores(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of every vector against one query: one product over the flat storage."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        flat = faiss.downcast_index(self._index.index)
        storage = faiss.rev_swig_ptr(flat.get_xb(), len(self) * self.dim).reshape(len(self), self.dim)
        scores = storage @ np.asarray(query, dtype=np.float32).reshape(self.dim)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64), scores

    def range_search(self, queries: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """All (scores, ids) with score >= ``threshold``, one pair per query."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0 or len(queries) == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in queries]
        lims, scores, ids = self._index.range_search(queries, float(threshold))
        return [(scores[lims[i]:lims[i + 1]], ids[lims[i]:lims[i + 1]]) for i in range(len(queries))]

    def ids(self) -> np.ndarray:
        """All ids in the index."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def reconstruct(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given ids."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: Path, generation: int) -> None:
        """Write the index and its generation atomically (temp file + rename)."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _write_json_atomic(path.with_suffix(".json"), {"generation": generation, "dim": self.dim,
                                                       "count": len(self)})

    @classmethod
    def load(cls, path: Path, generation: int, dim: int) -> "VectorIndex | None":
        """Read an index saved at ``generation``; None if absent, stale or unreadable."""
        meta_path = path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("generation") != generation or meta.get("dim") != dim:
                return None
            index = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        if index.ntotal != meta.get("count") or index.d != dim:
            return None
        loaded = cls(dim)
        loaded._index = index
        return loaded


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
