"""Derived state (faiss indexes, the graph, BM25): a cache of one database generation.

The database is the truth. A :class:`DerivedState` reflects exactly one committed
generation and is brought to another by :meth:`DerivedState.catch_up`: it reads
the change log entries in between (what each write added, removed or touched) and
re-reads those rows from the database, so it never depends on having seen the
writes itself. It rebuilds from the database when the log no longer reaches back
far enough. The caller holds the state's lock and a transaction at the target
generation (see :mod:`memory.core`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from graphs.kg import KnowledgeGraph, Node

from .extract.base import normalize_phrase
from .rwlock import ReadersWriterLock
from .snapshot import Snapshot, read_snapshot, retire_snapshot, snapshot_generation, write_snapshot
from .storage import EMBEDDING_KINDS, Storage
from .storage.graph import EdgeRow
from .vectors import VectorIndex

__all__ = ["DerivedState", "CatchUp", "persist_snapshot", "drop_snapshot_before"]

logger = logging.getLogger(__name__)


@dataclass
class CatchUp:
    """What one catch-up did (for logging, snapshots and benchmarks)."""

    source: str = "log"  # "log", "snapshot" or "rebuild"
    changes: int = 0
    removed: bool = False
    keys: dict[str, int] = field(default_factory=dict)


class DerivedState:
    """Vector indexes per kind, the knowledge graph and (lazily) a BM25 index, at one generation.

    Parameters
    ----------
    dim : int
        Embedding dimension.
    cache_dir : Path, optional
        Where the vector snapshot lives (None: no snapshot).
    """

    def __init__(self, dim: int, cache_dir: Path | None) -> None:
        self.dim = dim
        self.cache_dir = cache_dir
        self.generation = -1  # nothing loaded yet
        self.vectors: dict[str, VectorIndex] = {kind: VectorIndex(dim) for kind in EMBEDDING_KINDS}
        self.graph = KnowledgeGraph()
        self.lock = ReadersWriterLock()
        self._bm25: tuple[int, object, list[int]] | None = None
        self._documents_changed_at = 0

    # -- bringing the state to a generation (caller: exclusive lock, transaction at ``target``) --

    def catch_up(self, storage: Storage, target: int) -> CatchUp | None:
        """Bring the state to generation ``target``; None when it already is there."""
        if self.generation == target:
            return None
        if self.generation < 0 or self.generation > target or self.generation < storage.meta.log_floor:
            return self._start(storage, target)
        return self._apply_log(storage, self.generation, target)

    def _start(self, storage: Storage, target: int) -> CatchUp:
        snapshot = read_snapshot(self.cache_dir, EMBEDDING_KINDS) if self.cache_dir else None
        usable = (snapshot is not None and snapshot.dim == self.dim
                  and storage.meta.log_floor <= snapshot.generation <= target)
        self.graph = KnowledgeGraph()
        self._bm25 = None
        self._documents_changed_at = target
        if usable:
            for kind, (keys, vectors) in snapshot.arrays.items():  # type: ignore[union-attr]
                self.vectors[kind] = VectorIndex.from_arrays(self.dim, keys, vectors)
            self._rebuild_graph(storage)
            self.generation = snapshot.generation  # type: ignore[union-attr]
            report = self._apply_log(storage, self.generation, target, graph=False)
            report.source = "snapshot"
            return report
        for kind in EMBEDDING_KINDS:
            keys, matrix = storage.vectors.get(kind)
            self.vectors[kind] = VectorIndex.from_arrays(self.dim, keys, matrix.reshape(len(keys), self.dim))
        self._rebuild_graph(storage)
        self.generation = target
        logger.info("rebuilt the derived state from the database at generation %d", target)
        return CatchUp("rebuild", keys={k: len(v) for k, v in self.vectors.items()})

    def _apply_log(self, storage: Storage, after: int, target: int, graph: bool = True) -> CatchUp:
        changes = storage.meta.changes_between(after, target)
        touched: dict[str, set[int]] = {kind: set() for kind in ("document", "entity", "fact", "passage", "node")}
        removed = False
        for kind, key, op in changes:
            touched[kind].add(key)
            removed = removed or op == "remove"
        for kind in EMBEDDING_KINDS:
            keys = sorted(touched[kind])
            if not keys:
                continue
            self.vectors[kind].remove(keys)
            present, matrix = storage.vectors.get(kind, keys)
            self.vectors[kind].add(present, matrix.reshape(len(present), self.dim))
        if graph:
            self._refresh_graph(storage, touched["entity"] | touched["node"], touched["document"] | touched["passage"])
        if touched["document"] or touched["passage"]:
            self._documents_changed_at = target
        self.generation = target
        return CatchUp("log", len(changes), removed, {k: len(v) for k, v in touched.items()})

    # -- the graph ------------------------------------------------------------------------------

    def _rebuild_graph(self, storage: Storage) -> None:
        graph = KnowledgeGraph()
        entities = storage.graph.all_entities()
        documents = storage.documents.all_keys()
        # one tuple per node, shared by its edges (a tuple per edge end cost about a tenth
        # of a reader's memory)
        nodes: dict[Node, Node] = {n: n for n in [("entity", k) for k in sorted(entities)]
                                   + [("passage", k) for k in documents]}
        graph.add_nodes(nodes)
        rows = storage.graph.all_edges()
        graph.replace_edges([], self._edges(storage, rows, entities, nodes))
        self.graph = graph

    def _refresh_graph(self, storage: Storage, entity_keys: set[int], document_keys: set[int]) -> None:
        """Re-read every edge touching the given nodes; drop the nodes whose rows are gone."""
        names = storage.graph.entity_names(entity_keys)
        existing_documents = set(storage.documents.ids(document_keys))
        gone: list[Node] = [("entity", k) for k in entity_keys if k not in names]
        gone += [("passage", k) for k in document_keys if k not in existing_documents]
        self.graph.remove_nodes(gone)
        entities, documents = sorted(names), sorted(existing_documents)
        rows = storage.graph.incident_edges(entities, documents)
        nodes: list[Node] = [("entity", k) for k in entities] + [("passage", k) for k in documents]
        self.graph.replace_edges(nodes, self._edges(storage, rows, None))

    @staticmethod
    def _edges(storage: Storage, rows: list[EdgeRow], names: dict[int, str] | None,
               nodes: dict[Node, Node] | None = None) -> list:
        """Edges of ``rows`` plus their topic edges; ends are the tuples of ``nodes`` where given."""
        known = nodes or {}
        edges = [(known.get((ka, a), (ka, a)), known.get((kb, b), (kb, b)), kind, weight)
                 for ka, a, kb, b, kind, weight in rows]
        mentions = [(a, b) for _, a, _, b, kind, _ in rows if kind == "mention"]
        # the passage-title ("topic") edge: a mention of the entity that the passage's title names
        titles = {key: normalize_phrase(title) for key, title in storage.documents.titles({d for _, d in mentions}).items()}
        wanted = {e for e, d in mentions if d in titles}
        names = {k: names[k] for k in wanted} if names is not None else storage.graph.entity_names(wanted)
        edges += [(known.get(("entity", e), ("entity", e)), known.get(("passage", d), ("passage", d)),
                   "topic", 1.0) for e, d in mentions if d in titles and names.get(e) == titles[d]]
        return edges

    # -- lexical index --------------------------------------------------------------------------

    def bm25(self, storage: Storage) -> tuple[object, list[int]]:
        """A BM25 index over all passages, rebuilt when documents changed (caller: read view)."""
        import bm25s

        if self._bm25 is None or self._bm25[0] != self._documents_changed_at:
            rows = storage.documents.texts()
            keys = [r[0] for r in rows]
            retriever = bm25s.BM25()
            if rows:
                tokens = bm25s.tokenize([f"{r[1]}\n{r[2]}" for r in rows], stopwords="en", show_progress=False)
                retriever.index(tokens, show_progress=False)
            self._bm25 = (self._documents_changed_at, retriever, keys)
        return self._bm25[1], self._bm25[2]

    # -- snapshots ------------------------------------------------------------------------------

    def capture(self) -> Snapshot | None:
        """Copies of the vector arrays at this generation (caller: shared lock), or None."""
        if self.cache_dir is None or self.generation < 0:
            return None
        return Snapshot(self.generation, self.dim, {kind: index.arrays() for kind, index in self.vectors.items()})

    def snapshot_behind(self) -> int | None:
        """How many generations the snapshot on disk is behind this state (None: no snapshot)."""
        if self.cache_dir is None:
            return None
        on_disk = snapshot_generation(self.cache_dir)
        return None if on_disk is None else self.generation - on_disk

    def vectors_of(self, kind: str, keys: Iterable[int]) -> np.ndarray:
        """Stored vectors (from the index) of keys of one kind."""
        return self.vectors[kind].reconstruct(list(keys))


def persist_snapshot(cache_dir: Path, snapshot: Snapshot) -> bool:
    """Write a captured snapshot if the one on disk is older and no row was removed after it."""
    return write_snapshot(cache_dir, snapshot)


def drop_snapshot_before(cache_dir: Path, generation: int) -> None:
    """Delete the snapshot if it is older than ``generation`` (it may hold removed vectors),
    and keep any older one from being written later."""
    retire_snapshot(cache_dir, generation)
