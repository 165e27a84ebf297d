"""The graph as a walk reads it: CSR rows, degrees, and changes applied on the fly.

:class:`Walk` is a symmetric CSR adjacency plus, optionally, edits made since it was
stored (:class:`graphs.walkindex.IncrementalWalk`) and an as-of slice (nodes cut out,
weight taken off some pairs, :class:`WalkSlice`), both applied to the rows a push
reads, never to a copy of the matrix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np
import scipy.sparse as sp

__all__ = ["Walk", "WalkSlice", "unique_ints"]

Pair = tuple[tuple[str, int], tuple[str, int]]


@dataclass(frozen=True)
class WalkSlice:
    """What an as-of walk must not see, applied lazily by :class:`Walk`.

    Attributes
    ----------
    removed_weight : mapping
        ``(a, b) -> weight`` taken off the (symmetric) edge between nodes ``a`` and
        ``b`` (an edge never goes below zero).
    excluded : frozenset of Node
        Nodes cut out with all their edges.
    """

    removed_weight: Mapping[Pair, float] = field(default_factory=dict)
    excluded: frozenset = frozenset()


class Walk:
    """A symmetric weighted graph for pushes: CSR rows, degrees and a lazy slice.

    Nothing here costs the whole graph per query: a slice is kept as the sorted
    list of cut-out rows, a small matrix of removed weight and the degrees of the
    rows it changes (everything else is read from the shared adjacency).

    Parameters
    ----------
    adjacency : csr_matrix
        Symmetric adjacency with sorted indices (row ``i`` holds node ``i``'s edges).
    excluded : ndarray of int, optional
        Rows cut out of the walk (their edges are ignored in both directions).
    removed : tuple of ndarray, optional
        ``(rows, cols, weights)``: weight taken off edge ``(row, col)``, listed once per
        unordered pair; clipped to the edge's weight.
    degree : ndarray, optional
        The adjacency's row sums, if already known.
    passages : ndarray of int, optional
        Sorted rows of the passage nodes (the ones a ranking and a prior cover).

    Examples
    --------
    >>> a = sp.csr_matrix(np.array([[0, 2.0, 1.0], [2.0, 0, 0], [1.0, 0, 0]]))
    >>> Walk(a).degree_of(np.array([0, 1, 2])).tolist()
    [3.0, 2.0, 1.0]
    >>> Walk(a, excluded=np.array([2])).degree_of(np.array([0, 1, 2])).tolist()
    [2.0, 2.0, 0.0]
    """

    def __init__(self, adjacency: sp.csr_matrix, excluded: np.ndarray | None = None,
                 removed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 degree: np.ndarray | None = None, passages: np.ndarray | None = None,
                 _shared: dict | None = None) -> None:
        if _shared is None:
            if not adjacency.has_sorted_indices:
                adjacency = adjacency.sorted_indices()
            base_degree = (np.asarray(adjacency.sum(axis=1)).ravel() if degree is None
                           else np.asarray(degree, dtype=np.float64))
            rows = np.asarray(passages if passages is not None else [], dtype=np.int64)
            _shared = {"adjacency": adjacency, "degree": base_degree, "local": threading.local(),
                       "passages": rows, "total": float(base_degree.sum()), "lock": threading.Lock()}
        self._shared = _shared
        self.adjacency = _shared["adjacency"]
        self.size = _shared.get("size", self.adjacency.shape[0])
        self._stored = self.adjacency.shape[0]  # rows held by the adjacency; later rows are new
        self._writes: sp.csr_matrix | None = _shared.get("writes")
        self._write_rows = _shared.get("write_rows", np.zeros(0, dtype=np.int64))
        self._write_degree = _shared.get("write_degree", np.zeros(0))
        # The stored adjacency as it is (no writes, no new rows): rows and degrees read directly.
        self._as_stored = (self._writes is None and self.size == self._stored
                           and len(self._write_rows) == 0)
        self.base_degree = _shared["degree"]
        self.passages = _shared["passages"]
        self.total_degree = _shared["total"]
        self.excluded = unique_ints(np.asarray(excluded if excluded is not None else [],
                                               dtype=np.int64))
        self.delta: sp.csr_matrix | None = None
        self._changed = np.zeros(0, dtype=np.int64)  # rows whose degree the slice changes
        self._changed_degree = np.zeros(0)
        removed_any = removed is not None and len(removed[0]) > 0
        if len(self.excluded) == 0 and not removed_any:
            return
        changes: list[tuple[np.ndarray, np.ndarray]] = []
        if len(self.excluded):
            _, neighbours, weights = self._gather(self.excluded)
            keep = ~self.is_excluded(neighbours)
            changes.append((neighbours[keep], weights[keep]))
        if removed_any:
            rows, cols, amounts = (np.asarray(x) for x in removed)
            rows, cols = rows.astype(np.int64), cols.astype(np.int64)
            keep = ~(self.is_excluded(rows) | self.is_excluded(cols)) & (rows != cols)
            rows, cols, amounts = rows[keep], cols[keep], amounts[keep].astype(np.float64)
            delta = sp.csr_matrix((np.concatenate([amounts, amounts]),
                                   (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                                  shape=(self.size, self.size))
            delta.sum_duplicates()
            coo = delta.tocoo()
            clipped = np.minimum(coo.data, self._weights_of(coo.row.astype(np.int64),
                                                            coo.col.astype(np.int64)))
            positive = clipped > 0
            self.delta = sp.csr_matrix((clipped[positive], (coo.row[positive], coo.col[positive])),
                                       shape=(self.size, self.size))
            changes.append((coo.row[positive].astype(np.int64), clipped[positive]))
        nodes = np.concatenate([c[0] for c in changes] + [self.excluded])
        taken = np.concatenate([c[1] for c in changes] + [np.zeros(len(self.excluded))])
        self._changed = unique_ints(nodes)
        lost = np.zeros(len(self._changed))
        np.add.at(lost, np.searchsorted(self._changed, nodes), taken)
        before = self._graph_degree(self._changed)
        degree = np.maximum(before - lost, 0.0)
        degree[degree < 1e-12 * np.maximum(before, 1.0)] = 0.0
        degree[self.is_excluded(self._changed)] = 0.0
        self._changed_degree = degree
        self.total_degree = float(self.total_degree - (before - degree).sum())

    def slice(self, excluded: np.ndarray | None = None,
              removed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> "Walk":
        """This graph with rows cut out and weight taken off, sharing everything else.

        >>> a = sp.csr_matrix(np.array([[0, 2.0, 1.0], [2.0, 0, 0], [1.0, 0, 0]]))
        >>> cut = Walk(a).slice(removed=(np.array([0]), np.array([1]), np.array([1.5])))
        >>> cut.degree_of(np.array([0, 1, 2])).tolist()
        [1.5, 0.5, 1.0]
        """
        return Walk(self.adjacency, excluded, removed, _shared=self._shared)

    @property
    def passage_index(self) -> np.ndarray:
        """Position of each row in :attr:`passages` (-1 for other rows); built once, shared."""
        index = self._shared.get("passage_index")
        if index is None:
            with self._shared["lock"]:
                index = self._shared.get("passage_index")
                if index is None:
                    index = np.full(self.size, -1, dtype=np.int64)
                    index[self.passages] = np.arange(len(self.passages))
                    self._shared["passage_index"] = index
        return index

    @cached_property
    def passage_degrees(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Degree of each row of :attr:`passages` in this walk, the same with 1 where it
        is 0 (safe to divide by), and whether each passage has edges; computed once per walk.

        >>> a = sp.csr_matrix(np.array([[0, 2.0, 0], [2.0, 0, 0], [0, 0, 0]]))
        >>> [x.tolist() for x in Walk(a, passages=np.array([1, 2])).passage_degrees]
        [[2.0, 0.0], [2.0, 1.0], [True, False]]
        """
        degree = self.degree_of(self.passages)
        connected = degree > 0
        return degree, np.where(connected, degree, 1.0), connected

    @property
    def sliced(self) -> bool:
        """Whether a slice is applied."""
        return len(self.excluded) > 0 or self.delta is not None

    def is_excluded(self, nodes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``nodes`` are cut out."""
        if len(self.excluded) == 0:
            return np.zeros(len(nodes), dtype=bool)
        at = np.minimum(np.searchsorted(self.excluded, nodes), len(self.excluded) - 1)
        return self.excluded[at] == nodes

    def row_lengths(self, nodes: np.ndarray) -> np.ndarray:
        """Number of stored entries of each row (of the stored adjacency)."""
        nodes = np.where(nodes < self._stored, nodes, 0)
        return self.adjacency.indptr[nodes + 1] - self.adjacency.indptr[nodes]

    @classmethod
    def with_writes(cls, base: "Walk", size: int, writes: sp.csr_matrix | None,
                    write_rows: np.ndarray, write_degree: np.ndarray, passages: np.ndarray,
                    total_degree: float) -> "Walk":
        """``base`` with edges changed since it was built: ``writes`` holds the weight added
        (or, negative, taken) per pair, ``write_rows``/``write_degree`` the new degrees of
        the rows it touches, ``size`` the row count (new nodes get rows past the base's).
        Costs the size of the change, not of the graph (used by
        :class:`graphs.walkindex.IncrementalWalk`)."""
        shared = {"adjacency": base.adjacency, "degree": base.base_degree,
                  "local": base._shared["local"], "passages": np.asarray(passages, dtype=np.int64),
                  "total": float(total_degree), "lock": threading.Lock(), "size": int(size),
                  "writes": writes, "write_rows": np.asarray(write_rows, dtype=np.int64),
                  "write_degree": np.asarray(write_degree, dtype=np.float64)}
        return cls(base.adjacency, _shared=shared)

    def _graph_degree(self, nodes: np.ndarray) -> np.ndarray:
        """Degrees before the slice (stored adjacency plus writes)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if self._as_stored:
            return self.base_degree[nodes]
        stored = nodes < self._stored
        degree = np.where(stored, self.base_degree[np.where(stored, nodes, 0)], 0.0)
        if len(self._write_rows):
            at = np.minimum(np.searchsorted(self._write_rows, nodes), len(self._write_rows) - 1)
            hit = self._write_rows[at] == nodes
            degree = np.where(hit, self._write_degree[at], degree)
        return degree

    def degree_of(self, nodes: np.ndarray) -> np.ndarray:
        """Weighted degrees of ``nodes`` in the walk (the slice's where it changes them)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        degree = self._graph_degree(nodes)
        if len(self._changed):
            at = np.minimum(np.searchsorted(self._changed, nodes), len(self._changed) - 1)
            hit = self._changed[at] == nodes
            degree = np.where(hit, self._changed_degree[at], degree)
        return degree

    def scratch(self) -> np.ndarray:
        """A per-thread array of ``-1`` (at least the graph's size, shared with the states
        that follow it); callers restore what they set."""
        local = self._shared["local"]
        array = getattr(local, "array", None)
        if array is None or len(array) < self.size:  # shared by later states: leave headroom
            array = np.full(self.size + self.size // 4, -1, dtype=np.int64)
            local.array = array
        return array

    def float_scratch(self, rows: int) -> np.ndarray:
        """Per-thread zero arrays (``rows`` of them, each of the graph's size); callers
        zero what they set before returning."""
        local = self._shared["local"]
        array = getattr(local, "floats", None)
        if array is None or array.shape[0] < rows or array.shape[1] < self.size:
            array = np.zeros((rows, self.size + self.size // 4))
            local.floats = array
        return array

    def _weights_of(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Weights of ``(rows[i], cols[i])`` before the slice (0 where absent)."""
        out = np.zeros(len(rows))
        for matrix in (self.adjacency, self._writes):
            if matrix is None:
                continue
            for i, (row, col) in enumerate(zip(rows.tolist(), cols.tolist())):
                if row >= matrix.shape[0]:
                    continue
                start, end = matrix.indptr[row], matrix.indptr[row + 1]
                at = start + np.searchsorted(matrix.indices[start:end], col)
                if at < end and matrix.indices[at] == col:
                    out[i] += matrix.data[at]
        return out

    def _gather(self, nodes: np.ndarray, matrix: sp.csr_matrix | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated rows of ``nodes``: (position in ``nodes``, neighbour, weight).

        Without ``matrix``: the graph before the slice (stored rows, then writes),
        grouped by owner.
        """
        if matrix is None and self._as_stored:
            matrix = self.adjacency
        if matrix is None:
            found = self._gather(np.where(nodes < self._stored, nodes, 0), self.adjacency) \
                if self._stored else (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)
            if self._stored and (nodes >= self._stored).any():
                keep = nodes[found[0]] < self._stored
                found = (found[0][keep], found[1][keep], found[2][keep])
            if self._writes is None:
                return found
            extra = self._gather(nodes, self._writes)
            owner = np.concatenate([found[0], extra[0]])
            order = np.argsort(owner, kind="stable")
            return (owner[order], np.concatenate([found[1], extra[1]])[order],
                    np.concatenate([found[2], extra[2]])[order])
        starts = matrix.indptr[nodes]
        lengths = matrix.indptr[nodes + 1] - starts
        total = int(lengths.sum())
        owner = np.repeat(np.arange(len(nodes)), lengths)
        offsets = np.cumsum(lengths) - lengths
        index = np.arange(total) - np.repeat(offsets - starts, lengths)
        return owner, matrix.indices[index].astype(np.int64), matrix.data[index]

    def _sampled(self, nodes: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`_gather`, but rows longer than ``cap`` give ``cap`` evenly spaced
        entries, reweighted to the row's full weight."""
        if self._writes is not None or (nodes >= self._stored).any():
            return self._gather(nodes)  # rows changed by writes (and new rows) are read whole
        a = self.adjacency
        starts = a.indptr[nodes]
        full = a.indptr[nodes + 1] - starts
        lengths = np.minimum(full, cap)
        total = int(lengths.sum())
        owner = np.repeat(np.arange(len(nodes)), lengths)
        offsets = np.cumsum(lengths) - lengths
        index = np.arange(total) + np.repeat(starts - offsets, lengths)
        long = np.flatnonzero(full > cap)
        if len(long):  # a long row's cap entries, evenly spaced over it
            spaced = starts[long, None] + (np.arange(cap) * full[long, None]) // cap
            index[(offsets[long, None] + np.arange(cap)).ravel()] = spaced.ravel()
        weights = a.data[index]
        if len(long):
            kept = np.bincount(owner, weights=weights, minlength=len(nodes)).astype(np.float64)
            scale = np.ones(len(nodes))
            scale[long] = self.base_degree[nodes[long]] / np.where(kept[long] > 0, kept[long], 1.0)
            weights = weights * scale[owner]
        return owner, a.indices[index].astype(np.int64), weights

    def rows(self, nodes: np.ndarray, cap: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges of ``nodes`` as the walk sees them: (position in ``nodes``, neighbour, weight).

        Grouped by owner in order. A pair whose weight was reduced appears twice (the
        weight, then minus the reduction); cut-out nodes have no edges and are
        nobody's neighbour. With ``cap``, a row with more entries is replaced by
        ``cap`` evenly spaced ones carrying its whole weight (an estimate, for hubs).
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        owner, neighbours, weights = (self._gather(nodes) if cap is None
                                      else self._sampled(nodes, cap))
        if not self.sliced:
            return owner, neighbours, weights
        if len(self.excluded):
            keep = ~self.is_excluded(neighbours) & ~self.is_excluded(nodes)[owner]
            owner, neighbours, weights = owner[keep], neighbours[keep], weights[keep]
        if self.delta is not None:
            d_owner, d_neighbours, d_weights = self._gather(nodes, self.delta)
            owner = np.concatenate([owner, d_owner])
            neighbours = np.concatenate([neighbours, d_neighbours])
            weights = np.concatenate([weights, -d_weights])
            order = np.argsort(owner, kind="stable")
            owner, neighbours, weights = owner[order], neighbours[order], weights[order]
        return owner, neighbours, weights

    def materialize(self) -> sp.csr_matrix:
        """The sliced adjacency as a CSR copy (for explanations and reference checks)."""
        matrix = self.adjacency
        if self.size != self._stored or self._writes is not None:
            matrix = sp.csr_matrix((matrix.data, matrix.indices, np.concatenate(
                [matrix.indptr, np.full(self.size - self._stored, matrix.indptr[-1])])),
                shape=(self.size, self.size))
            if self._writes is not None:
                matrix = (matrix + self._writes).tocsr()
            matrix.data[np.abs(matrix.data) < 1e-12] = 0.0
            matrix.eliminate_zeros()
        if not self.sliced:
            return matrix
        matrix = matrix if self.delta is None else (matrix - self.delta).tocsr()
        keep = np.ones(self.size)
        keep[self.excluded] = 0.0
        matrix = (sp.diags(keep) @ matrix @ sp.diags(keep)).tocsr()
        np.maximum(matrix.data, 0.0, out=matrix.data)
        matrix.eliminate_zeros()
        return matrix


def unique_ints(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort-based ``np.unique``, faster on small integer arrays).

    >>> unique_ints(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    if len(values) == 0:
        return values.astype(np.int64)
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
