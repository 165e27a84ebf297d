"""As-of slicing of the graph: the walk sees only the edges and passages valid at a date.

The store decides what holds at a date (:mod:`memory.temporal`). :func:`as_of_slice`
describes it for the walk, which applies it to the rows it reads (no copy: the default);
:func:`slice_matrix` builds the sliced copy (the reference, and for callers that need the
whole matrix).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import scipy.sparse as sp

from .kg import GraphMatrix, Node
from .walk import WalkSlice

__all__ = ["slice_matrix", "as_of_slice", "WalkSlice"]


def as_of_slice(removed_weight: Mapping[tuple[Node, Node], float], excluded: Iterable[Node]
                ) -> WalkSlice:
    """The slice description the walk applies on the fly (see :func:`graphs.retrieve.rank_passages`).

    Same meaning as the arguments of :func:`slice_matrix`, without copying the matrix.

    >>> s = as_of_slice({(("entity", 1), ("entity", 2)): 1.0}, [("passage", 3)])
    >>> sorted(s.excluded), len(s.removed_weight)
    ([('passage', 3)], 1)
    """
    return WalkSlice(dict(removed_weight), frozenset(excluded))


def slice_matrix(matrix: GraphMatrix, removed_weight: Mapping[tuple[Node, Node], float],
                 excluded: set[Node]) -> GraphMatrix:
    """A copy of ``matrix`` with edge weight taken off some pairs and some nodes cut out.

    Parameters
    ----------
    matrix : GraphMatrix
        The full graph's matrix (left unchanged).
    removed_weight : mapping
        ``(a, b) -> weight`` to subtract from the (symmetric) edge between ``a`` and
        ``b``: the contribution of facts that do not hold at the date.
    excluded : set of Node
        Nodes whose every edge is dropped (passages that do not hold at the date).

    Examples
    --------
    >>> from graphs.kg import KnowledgeGraph
    >>> g = KnowledgeGraph()
    >>> a, b, p = ("entity", 1), ("entity", 2), ("passage", 3)
    >>> g.replace_edges([a, b, p], [(a, b, "fact", 2.0), (a, p, "mention", 1.0)])
    >>> sliced = slice_matrix(g.matrix(), {(a, b): 1.0}, {p})
    >>> sliced.matrix.toarray().tolist()
    [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    rows, cols, weights = [], [], []
    for (a, b), weight in removed_weight.items():
        i, j = matrix.index.get(a), matrix.index.get(b)
        if i is not None and j is not None and weight:
            rows += [i, j]
            cols += [j, i]
            weights += [weight, weight]
    size = len(matrix.nodes)
    delta = sp.csr_matrix((np.array(weights, dtype=np.float64), (rows, cols)), shape=(size, size))
    sliced = (matrix.matrix - delta).tocsr()
    np.maximum(sliced.data, 0.0, out=sliced.data)
    if excluded:
        keep = np.ones(len(matrix.nodes), dtype=np.float64)
        for node in excluded:
            row = matrix.index.get(node)
            if row is not None:
                keep[row] = 0.0
        mask = sp.diags(keep)
        sliced = (mask @ sliced @ mask).tocsr()
    sliced.eliminate_zeros()
    return GraphMatrix(matrix=sliced, nodes=matrix.nodes, index=matrix.index)
