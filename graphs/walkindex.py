"""The graph as the walk sees it, kept current edit by edit instead of rebuilt.

:meth:`KnowledgeGraph.matrix` builds a CSR matrix from every edge (time linear in the
graph, in Python) on the first call after any edit. :class:`IncrementalWalk` keeps
that matrix as a *base* and records what edits changed since: the weight added or
taken per pair (a small signed matrix), the degrees of the rows touched, rows for new
nodes after the base's, and removed nodes as empty rows. A query after a write then
costs the write's size (plus a few vector copies of the node count), not a rebuild;
the base is rebuilt when the changes reach a fraction of it (so the rebuild's cost is
shared by that many edits).

:class:`WalkView` is one state of it: what :func:`graphs.retrieve.rank_passages`
walks, with the attributes of a :class:`~graphs.kg.GraphMatrix` (``nodes``, ``index``,
``rows_of_kind``, and ``matrix``, materialised only when read).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import scipy.sparse as sp

from .ppr import transition_matrix
from .walk import Walk

if TYPE_CHECKING:  # pragma: no cover
    from .kg import GraphMatrix, Node

__all__ = ["IncrementalWalk", "WalkView"]


class WalkView:
    """One state of an :class:`IncrementalWalk` (rows stable until the next rebuild).

    Attributes
    ----------
    nodes : list of Node
        Row ``i`` is ``nodes[i]`` (a removed node keeps its row, without edges, and is
        left out of :attr:`index` and :meth:`rows_of_kind`). Shared with later views
        until the next rebuild, which may append to it.
    index : dict
        Node -> row, for the nodes in the graph (shared like ``nodes``).
    walk : Walk
        The rows for pushes.
    """

    def __init__(self, nodes: list, index: dict, walk: Walk, kind_rows: dict[str, np.ndarray],
                 passage_keys: np.ndarray) -> None:
        self.nodes = nodes
        self.index = index
        self.walk = walk
        self._kind_rows = kind_rows
        self._passage_keys = passage_keys

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The symmetric adjacency as a CSR matrix (built on first use)."""
        return self.walk.materialize()

    @cached_property
    def transition(self) -> tuple[sp.csr_matrix, np.ndarray]:
        """The walk's transposed transition matrix and dangling mask (computed once)."""
        return transition_matrix(self.matrix)

    def rows_of_kind(self, kind: str) -> np.ndarray:
        """Rows of the nodes of one kind (sorted)."""
        return self._kind_rows.get(kind, np.zeros(0, dtype=np.int64))

    def passage_rows(self, keys: np.ndarray) -> np.ndarray:
        """Rows of passage ``keys`` (-1 for keys not in the graph)."""
        keys = np.asarray(keys, dtype=np.int64)
        known, rows = self._passage_keys, self.rows_of_kind("passage")
        if len(known) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        order = np.argsort(known, kind="stable")
        at = np.minimum(np.searchsorted(known[order], keys), len(known) - 1)
        return np.where(known[order][at] == keys, rows[order][at], -1)


class IncrementalWalk:
    """A :class:`WalkView` of a graph for one weighting of edge kinds, caught up by edits.

    Parameters
    ----------
    base : GraphMatrix
        The graph's matrix at some point (its rows become the base rows).
    rebuild_fraction : float
        Rebuild (return ``None`` from :meth:`catch_up`) once the changed pairs or the
        added and removed nodes exceed this share of the base.
    """

    def __init__(self, base: "GraphMatrix", rebuild_fraction: float = 0.1) -> None:
        self.base_walk = base.walk
        self.nodes: list = list(base.nodes)
        self.index: dict = dict(base.index)
        self._limit = rebuild_fraction * max(base.matrix.nnz, 2 * len(base.nodes), 64)
        self._weight: dict[tuple[int, int], float] = {}  # current weight of pairs changed
        self._increments: list[tuple[int, int, float]] = []
        self._degree: dict[int, float] = {}
        self._total = float(self.base_walk.total_degree)
        self._kind_rows = {k: base.rows_of_kind(k) for k in ("entity", "passage")}
        self._appended: dict[str, list[int]] = {}
        self._dropped: dict[str, list[int]] = {}
        self._removed = 0
        passages = self._kind_rows["passage"]
        self._passage_keys = np.array([base.nodes[r][1] for r in passages.tolist()], dtype=np.int64)
        self.view = WalkView(self.nodes, self.index, base.walk, self._kind_rows, self._passage_keys)

    def _row(self, node: "Node") -> int:
        row = self.index.get(node)
        if row is None:
            row = len(self.nodes)
            self.nodes.append(node)
            self.index[node] = row
            self._appended.setdefault(node[0], []).append(row)
        return row

    def _stored_weight(self, a: int, b: int) -> float:
        matrix = self.base_walk.adjacency
        if a >= matrix.shape[0] or b >= matrix.shape[0]:
            return 0.0
        start, end = matrix.indptr[a], matrix.indptr[a + 1]
        at = start + int(np.searchsorted(matrix.indices[start:end], b))
        return float(matrix.data[at]) if at < end and matrix.indices[at] == b else 0.0

    def _degree_of(self, row: int) -> float:
        if row in self._degree:
            return self._degree[row]
        return float(self.base_walk.base_degree[row]) if row < self.base_walk.size else 0.0

    def catch_up(self, events: Iterable[tuple], weight_of: Callable[["Node", "Node"], float]
                 ) -> WalkView | None:
        """Apply edits in order and return the new view, or None when a rebuild is due.

        ``events`` are ``("add", node)``, ``("remove", node)`` and ``("pair", a, b)`` (the
        pair's edges changed); ``weight_of(a, b)`` gives a pair's current combined weight
        (0 when gone).
        """
        removed: set = set()
        for event in events:
            if event[0] == "add":
                if event[1] in removed:
                    return None  # a node removed and added again: rebuild
                self._row(event[1])
            elif event[0] == "remove":
                row = self.index.pop(event[1], None)
                if row is not None:
                    removed.add(event[1])
                    self._dropped.setdefault(event[1][0], []).append(row)
                    self._removed += 1
            else:
                _, a, b = event
                if a in removed or b in removed:
                    continue  # its pairs went to zero when it was removed
                self._set_pair(self._row(a), self._row(b), weight_of(a, b))
        if len(self._increments) + self._removed + len(self.nodes) - self.base_walk.size > self._limit:
            return None
        self.view = self._snapshot()
        return self.view

    def _set_pair(self, ra: int, rb: int, weight: float) -> None:
        key = (ra, rb) if ra < rb else (rb, ra)
        old = self._weight.get(key)
        if old is None:
            old = self._stored_weight(*key)
        change = weight - old
        if change == 0.0:
            return
        self._weight[key] = weight
        self._increments.append((key[0], key[1], change))
        for row in key:
            before = self._degree_of(row)
            after = before + change
            # Sums that cancel leave rounding dust: an emptied row has degree 0.
            self._degree[row] = after if after > 1e-12 * max(before, abs(change), 1.0) else 0.0

    def _snapshot(self) -> WalkView:
        size = len(self.nodes)
        writes = None
        if self._increments:
            rows, cols, values = (np.array(x) for x in zip(*self._increments))
            writes = sp.csr_matrix((np.concatenate([values, values]),
                                    (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                                   shape=(size, size))
            writes.sum_duplicates()
            writes.sort_indices()
        write_rows = np.array(sorted(self._degree), dtype=np.int64)
        write_degree = np.array([self._degree[r] for r in write_rows.tolist()], dtype=np.float64)
        stored = write_rows[write_rows < self.base_walk.size]
        total = (self.base_walk.total_degree - float(self.base_walk.base_degree[stored].sum())
                 + float(write_degree.sum()))
        self._total = total if total > 1e-9 * max(self.base_walk.total_degree, 1.0) else 0.0
        for kind in set(self._appended) | set(self._dropped):
            rows = self._kind_rows.get(kind, np.zeros(0, dtype=np.int64))
            new = np.array(self._appended.pop(kind, []), dtype=np.int64)  # past every old row
            rows = np.concatenate([rows, new])
            keys = (np.concatenate([self._passage_keys, np.array(
                [self.nodes[r][1] for r in new.tolist()], dtype=np.int64)])
                if kind == "passage" else None)
            gone = np.array(self._dropped.pop(kind, []), dtype=np.int64)
            if len(gone):
                keep = ~np.isin(rows, gone)
                rows = rows[keep]
                keys = keys[keep] if keys is not None else None
            self._kind_rows = {**self._kind_rows, kind: rows}
            if keys is not None:
                self._passage_keys = keys
        passages = self._kind_rows.get("passage", np.zeros(0, dtype=np.int64))
        walk = Walk.with_writes(self.base_walk, size, writes, write_rows, write_degree, passages,
                                self._total)
        return WalkView(self.nodes, self.index, walk, self._kind_rows, self._passage_keys)
