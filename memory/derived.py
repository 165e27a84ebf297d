"""Derived structures (faiss indexes, the graph, BM25), rebuilt from SQLite when stale."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np

from graphs.kg import KnowledgeGraph, Node

from .db import EMBEDDING_KINDS, Database
from .extract.base import normalize_phrase
from .vectors import VectorIndex

__all__ = ["DerivedState"]

logger = logging.getLogger(__name__)


class DerivedState:
    """Vector indexes per kind, the knowledge graph and (lazily) a BM25 index.

    Parameters
    ----------
    db : Database
        The source of truth.
    directory : Path
        Where index files live.
    dim : int
        Embedding dimension.
    """

    def __init__(self, db: Database, directory: Path, dim: int) -> None:
        self.db = db
        self.directory = directory
        self.dim = dim
        self.vectors: dict[str, VectorIndex] = {}
        self.graph = KnowledgeGraph()
        self._bm25: tuple[int, object, list[int]] | None = None
        self.load()

    def _path(self, kind: str) -> Path:
        return self.directory / f"{kind}.faiss"

    def load(self) -> None:
        """Load indexes saved at the database's generation, rebuilding stale ones."""
        generation = self.db.generation
        rebuilt = False
        for kind in EMBEDDING_KINDS:
            index = VectorIndex.load(self._path(kind), generation, self.dim)
            if index is None:
                keys, matrix = self.db.get_vectors(kind)
                index = VectorIndex(self.dim)
                index.add(keys.tolist(), matrix)
                rebuilt = True
                logger.info("rebuilt %s index (%d vectors) from the database", kind, len(index))
            self.vectors[kind] = index
        if rebuilt:
            self.save()
        self.graph = KnowledgeGraph()
        entity_keys = [r[0] for r in self.db.query("SELECT key FROM entities")]
        document_keys = [r[0] for r in self.db.query("SELECT key FROM documents")]
        self.refresh_graph(entity_keys, document_keys, removed=())
        self._bm25 = None

    def save(self) -> None:
        """Persist the vector indexes with the current generation."""
        generation = self.db.generation
        for kind, index in self.vectors.items():
            index.save(self._path(kind), generation)

    def refresh_graph(self, entity_keys: Iterable[int], document_keys: Iterable[int],
                      removed: Iterable[Node]) -> None:
        """Re-read from the database every edge touching the given nodes."""
        self.graph.remove_nodes(removed)
        entity_keys, document_keys = list(entity_keys), list(document_keys)
        nodes: list[Node] = [("entity", k) for k in entity_keys] + [("passage", k) for k in document_keys]
        rows = self.db.incident_edges(entity_keys, document_keys)
        edges = [((ka, a), (kb, b), kind, weight) for ka, a, kb, b, kind, weight in rows]
        mentions = [(a, b) for _, a, _, b, kind, _ in rows if kind == "mention"]
        edges += [(("entity", e), ("passage", d), "topic", 1.0) for e, d in self._topics(mentions)]
        self.graph.replace_edges(nodes, edges)

    def _topics(self, mentions: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The (entity, document) mentions where the entity is what the document's title names."""
        titles = {key: normalize_phrase(title)
                  for key, title in self.db.document_titles({d for _, d in mentions}).items()}
        names = self.db.entity_names({e for e, d in mentions if d in titles})
        return [(e, d) for e, d in mentions if d in titles and names.get(e) == titles[d]]

    def bm25(self) -> tuple[object, list[int]]:
        """A BM25 index over all passages (rebuilt when the store changed)."""
        import bm25s

        generation = self.db.generation
        if self._bm25 is None or self._bm25[0] != generation:
            rows = self.db.query("SELECT key, title, text FROM documents ORDER BY key")
            keys = [r[0] for r in rows]
            retriever = bm25s.BM25()
            if rows:
                tokens = bm25s.tokenize([f"{r[1]}\n{r[2]}" for r in rows], stopwords="en",
                                        show_progress=False)
                retriever.index(tokens, show_progress=False)
            self._bm25 = (generation, retriever, keys)
        return self._bm25[1], self._bm25[2]

    def vectors_of(self, kind: str, keys: Iterable[int]) -> np.ndarray:
        """Stored vectors (from the index) of keys of one kind."""
        return self.vectors[kind].reconstruct(list(keys))
