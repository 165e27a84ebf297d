"""The knowledge graph: entity and passage nodes, typed weighted edges, a CSR view.

Nodes are ``(kind, key)`` tuples with kind ``"entity"`` or ``"passage"`` and an
integer key from the store. Edges are undirected and typed: ``"fact"`` (entity
to entity, weight = number of supporting documents), ``"mention"`` (entity to
passage), ``"topic"`` (a passage to the entity its title names, on top of the
mention edge) and ``"synonym"`` (entity to entity, weight = similarity). A pair
may carry several kinds; the walk uses their sum, each kind scaled by the
weights the caller passes to :meth:`KnowledgeGraph.matrix`.

Edits are incremental (:meth:`KnowledgeGraph.replace_edges` rewrites only the
edges of the nodes a change touched); the sparse matrix is rebuilt lazily, in
time linear in the number of edges, on the first query after a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .ppr import transition_matrix

__all__ = ["Node", "EdgeKind", "KnowledgeGraph", "GraphMatrix", "EDGE_KINDS"]

Node = tuple[str, int]
EdgeKind = str
EDGE_KINDS = ("fact", "mention", "topic", "synonym")


def _pair(a: Node, b: Node) -> tuple[Node, Node]:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class GraphMatrix:
    """A CSR adjacency matrix with the node order it uses.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Symmetric weighted adjacency, ``n x n``.
    nodes : list of Node
        Row ``i`` is node ``nodes[i]``.
    index : dict
        Node -> row.
    """

    matrix: sp.csr_matrix
    nodes: list[Node]
    index: dict[Node, int]

    @cached_property
    def transition(self) -> tuple[sp.csr_matrix, np.ndarray]:
        """The walk's transposed transition matrix and dangling mask (computed once)."""
        return transition_matrix(self.matrix)

    def rows_of_kind(self, kind: str) -> np.ndarray:
        """Row numbers of the nodes of one kind, in node order."""
        return np.array([i for i, node in enumerate(self.nodes) if node[0] == kind], dtype=np.int64)


class KnowledgeGraph:
    """Typed, weighted, undirected multigraph over entity and passage nodes.

    Examples
    --------
    >>> g = KnowledgeGraph()
    >>> g.replace_edges([("entity", 1)], [(("entity", 1), ("passage", 7), "mention", 1.0)])
    >>> g.matrix().matrix.toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """

    def __init__(self) -> None:
        self._nodes: set[Node] = set()
        self._edges: dict[tuple[Node, Node], dict[EdgeKind, float]] = {}
        self._adjacent: dict[Node, set[Node]] = {}
        self._cache: dict[tuple[str, ...], GraphMatrix] = {}

    # -- editing -----------------------------------------------------------------------

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        """Add nodes (isolated until edges arrive)."""
        for node in nodes:
            if node not in self._nodes:
                self._nodes.add(node)
                self._adjacent[node] = set()
                self._cache.clear()

    def remove_nodes(self, nodes: Iterable[Node]) -> None:
        """Remove nodes and every edge touching them."""
        for node in list(nodes):
            if node not in self._nodes:
                continue
            for other in self._adjacent.pop(node):
                self._edges.pop(_pair(node, other), None)
                if other != node:
                    self._adjacent[other].discard(node)
            self._nodes.discard(node)
            self._cache.clear()

    def replace_edges(
        self, nodes: Iterable[Node], edges: Iterable[tuple[Node, Node, EdgeKind, float]]
    ) -> None:
        """Drop every edge touching ``nodes``, then add ``edges``.

        ``edges`` must be the complete current edge set incident to ``nodes``
        (endpoints are added as nodes if new). Edges between two other nodes are
        untouched, so a change costs time proportional to what it touched.
        """
        nodes = list(nodes)
        self.add_nodes(nodes)
        for node in nodes:
            for other in list(self._adjacent[node]):
                self._edges.pop(_pair(node, other), None)
                self._adjacent[other].discard(node)
            self._adjacent[node].clear()
        for a, b, kind, weight in edges:
            if kind not in EDGE_KINDS:
                raise ValueError(f"unknown edge kind {kind!r}")
            if a == b:
                continue
            self.add_nodes((a, b))
            kinds = self._edges.setdefault(_pair(a, b), {})
            kinds[kind] = kinds.get(kind, 0.0) + float(weight)
            self._adjacent[a].add(b)
            self._adjacent[b].add(a)
        self._cache.clear()

    # -- reading -----------------------------------------------------------------------

    @property
    def nodes(self) -> set[Node]:
        """All nodes (do not mutate)."""
        return self._nodes

    def neighbours(self, node: Node) -> set[Node]:
        """Adjacent nodes."""
        return self._adjacent.get(node, set())

    def edge_kinds(self, a: Node, b: Node) -> dict[EdgeKind, float]:
        """Weight per edge kind between two nodes (empty when not adjacent)."""
        return dict(self._edges.get(_pair(a, b), {}))

    def edge_counts(self) -> dict[EdgeKind, int]:
        """Number of node pairs carrying each edge kind."""
        counts = dict.fromkeys(EDGE_KINDS, 0)
        for kinds in self._edges.values():
            for kind in kinds:
                counts[kind] += 1
        return counts

    def degree(self, node: Node, kind: EdgeKind | None = None) -> int:
        """Number of neighbours, optionally only over edges of one kind."""
        if kind is None:
            return len(self.neighbours(node))
        return sum(1 for other in self.neighbours(node) if kind in self._edges[_pair(node, other)])

    def matrix(self, kinds: Iterable[EdgeKind] | Mapping[EdgeKind, float] = EDGE_KINDS) -> GraphMatrix:
        """The symmetric CSR adjacency (cached until an edit).

        ``kinds`` names the edge kinds to use, or maps kinds to a multiplier of
        their weights (a kind left out, or mapped to 0, is not walked).
        """
        scale = dict(kinds) if isinstance(kinds, Mapping) else dict.fromkeys(kinds, 1.0)
        unknown = set(scale) - set(EDGE_KINDS)
        if unknown:
            raise ValueError(f"unknown edge kind(s) {sorted(unknown)}")
        kinds_key = tuple(sorted((k, float(w)) for k, w in scale.items() if w))
        cached = self._cache.get(kinds_key)
        if cached is not None:
            return cached
        nodes = sorted(self._nodes)
        index = {node: i for i, node in enumerate(nodes)}
        rows, cols, weights = [], [], []
        for (a, b), by_kind in self._edges.items():
            weight = sum(w * scale.get(k, 0.0) for k, w in by_kind.items())
            if weight > 0:
                rows.append(index[a])
                cols.append(index[b])
                weights.append(weight)
        r = np.array(rows + cols, dtype=np.int64)
        c = np.array(cols + rows, dtype=np.int64)
        w = np.array(weights + weights, dtype=np.float64)
        matrix = sp.csr_matrix((w, (r, c)), shape=(len(nodes), len(nodes)))
        built = GraphMatrix(matrix=matrix, nodes=nodes, index=index)
        self._cache[kinds_key] = built
        return built

    def to_networkx(self, labels: dict[Node, str] | None = None) -> nx.Graph:
        """Export as a :class:`networkx.Graph`.

        Node attributes: ``kind``, ``key`` and ``label`` (from ``labels``);
        edge attributes: ``weight`` (sum) and one attribute per edge kind.
        """
        graph = nx.Graph()
        for node in sorted(self._nodes):
            name = f"{node[0]}:{node[1]}"
            graph.add_node(name, kind=node[0], key=node[1],
                           label=(labels or {}).get(node, name))
        for (a, b), by_kind in self._edges.items():
            graph.add_edge(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}",
                           weight=sum(by_kind.values()), **by_kind)
        return graph
