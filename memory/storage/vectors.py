"""Named queries over stored embeddings (the truth the faiss indexes are derived from)."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .engine import Engine

__all__ = ["VectorQueries", "EMBEDDING_KINDS"]

EMBEDDING_KINDS = ("document", "entity", "fact")


class VectorQueries:
    """float32 vectors of documents, entities and facts, keyed by row key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, kind: str, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Store vectors for the given keys (inside a write)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.engine.executemany(
            "INSERT INTO embeddings(kind, key, vector) VALUES (?, ?, ?) "
            "ON CONFLICT(kind, key) DO UPDATE SET vector = excluded.vector",
            [(kind, int(k), vectors[i].tobytes()) for i, k in enumerate(keys)])

    def get(self, kind: str, keys: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(keys, float32 matrix) of stored vectors of a kind, all or the given keys, by key."""
        if keys is None:
            rows = self.engine.query("SELECT key, vector FROM embeddings WHERE kind = ? ORDER BY key", (kind,))
        else:
            rows = sorted(self.engine.select_in(
                "SELECT key, vector FROM embeddings WHERE kind = ? AND key IN ({marks})", sorted(set(keys)),
                params=(kind,)))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        keys_out = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = np.stack([np.frombuffer(bytes(r[1]), dtype=np.float32) for r in rows])
        return keys_out, matrix

    def keys(self, kind: str) -> set[int]:
        """Keys that have a vector of this kind."""
        return {int(r[0]) for r in self.engine.query("SELECT key FROM embeddings WHERE kind = ?", (kind,))}

    def delete(self, kind: str, keys: Iterable[int]) -> None:
        """Delete vectors (inside a write)."""
        self.engine.executemany("DELETE FROM embeddings WHERE kind = ? AND key = ?",
                                [(kind, int(k)) for k in sorted(set(keys))])
