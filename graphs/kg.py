"""The knowledge graph: entity and passage nodes, typed weighted edges, a CSR view.

Nodes are ``(kind, key)`` tuples with kind ``"entity"`` or ``"passage"`` and an
integer key from the store. Edges are undirected and typed: ``"fact"`` (entity
to entity, weight = number of supporting documents), ``"mention"`` (entity to
passage), ``"topic"`` (a passage to the entity its title names, on top of the
mention edge) and ``"synonym"`` (entity to entity, weight = similarity). A pair
may carry several kinds; the walk uses their sum, each kind scaled by the
weights the caller passes to :meth:`KnowledgeGraph.matrix`.

Edits are incremental (:meth:`KnowledgeGraph.replace_edges` rewrites only the
edges of the nodes a change touched). :meth:`KnowledgeGraph.matrix` is rebuilt
lazily, in time linear in the number of edges, on the first call after a change;
:meth:`KnowledgeGraph.walk_view`, what retrieval walks, catches up with the edits
instead (:mod:`graphs.walkindex`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping

import networkx as nx
import numpy as np
import scipy.sparse as sp

from .ppr import transition_matrix
from .walk import Walk
from .walkindex import IncrementalWalk, WalkView

__all__ = ["Node", "EdgeKind", "KnowledgeGraph", "GraphMatrix", "EDGE_KINDS", "NODE_KINDS"]

Node = tuple[str, int]
EdgeKind = str
EDGE_KINDS = ("fact", "mention", "topic", "synonym")
NODE_KINDS = ("entity", "passage")


def _pair(a: Node, b: Node) -> tuple[Node, Node]:
    return (a, b) if a <= b else (b, a)


def _kind_weights(held: tuple[EdgeKind, float] | dict[EdgeKind, float] | None
                  ) -> Iterable[tuple[EdgeKind, float]]:
    """(kind, weight) of a pair's entry in ``KnowledgeGraph._edges`` (None: no edge).

    >>> list(_kind_weights(("fact", 2.0))), list(_kind_weights({"fact": 2.0, "synonym": 1.0}))
    ([('fact', 2.0)], [('fact', 2.0), ('synonym', 1.0)])
    """
    if held is None:
        return ()
    return (held,) if isinstance(held, tuple) else held.items()


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

    @cached_property
    def _kind_rows(self) -> dict[str, np.ndarray]:
        rows: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            rows.setdefault(node[0], []).append(i)
        return {kind: np.array(found, dtype=np.int64) for kind, found in rows.items()}

    def rows_of_kind(self, kind: str) -> np.ndarray:
        """Row numbers of the nodes of one kind, in node order (computed once per kind)."""
        return self._kind_rows.get(kind, np.zeros(0, dtype=np.int64))

    @cached_property
    def walk(self) -> Walk:
        """The matrix as a :class:`~graphs.push.Walk` for local pushes (built once)."""
        return Walk(self.matrix, passages=self.rows_of_kind("passage"))

    @cached_property
    def _passage_keys(self) -> np.ndarray:
        rows = self.rows_of_kind("passage")
        return np.array([self.nodes[r][1] for r in rows], dtype=np.int64)

    def passage_rows(self, keys: np.ndarray) -> np.ndarray:
        """Rows of passage ``keys`` (-1 for keys not in the graph), without a dict lookup each.

        >>> g = KnowledgeGraph()
        >>> g.replace_edges([("passage", 4)], [(("entity", 1), ("passage", 4), "mention", 1.0)])
        >>> g.matrix().passage_rows(np.array([4, 5])).tolist()
        [1, -1]
        """
        keys = np.asarray(keys, dtype=np.int64)
        known = self._passage_keys
        rows = self.rows_of_kind("passage")
        if len(known) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        order = np.argsort(known, kind="stable")
        at = np.minimum(np.searchsorted(known[order], keys), len(known) - 1)
        found = known[order][at] == keys
        return np.where(found, rows[order][at], -1)


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
        # per node pair, its weight by edge kind: a (kind, weight) tuple for the usual single
        # kind, a dict when a pair has several (see _kind_weights)
        self._edges: dict[tuple[Node, Node], tuple[EdgeKind, float] | dict[EdgeKind, float]] = {}
        self._adjacent: dict[Node, set[Node]] = {}
        # per edge kind, how many neighbours each node reaches by it (degree by kind, O(1);
        # one dict per kind rather than one per node: a node has one or two kinds)
        self._kind_degree: dict[EdgeKind, dict[Node, int]] = {kind: {} for kind in EDGE_KINDS}
        self._cache: dict[tuple[str, ...], GraphMatrix] = {}
        # Walk structures kept current by edits: per weighting, the state and how far it
        # has read the edit log.
        self._walks: dict[tuple, list] = {}
        self._log: list[tuple] = []

    def _record(self, *event: object) -> None:
        if self._walks:
            self._log.append(event)

    # -- editing -----------------------------------------------------------------------

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        """Add nodes (isolated until edges arrive)."""
        for node in nodes:
            if node not in self._nodes:
                self._nodes.add(node)
                self._adjacent[node] = set()
                self._cache.clear()
                self._record("add", node)

    def _drop_pair(self, a: Node, b: Node) -> None:
        for kind, _ in _kind_weights(self._edges.pop(_pair(a, b), None)):
            counts = self._kind_degree[kind]
            for end in (a, b):
                left = counts.get(end, 0) - 1
                if left > 0:
                    counts[end] = left
                else:
                    counts.pop(end, None)

    def remove_nodes(self, nodes: Iterable[Node]) -> None:
        """Remove nodes and every edge touching them."""
        for node in list(nodes):
            if node not in self._nodes:
                continue
            for other in self._adjacent.pop(node):
                self._drop_pair(node, other)
                if other != node:
                    self._adjacent[other].discard(node)
                self._record("pair", node, other)
            for counts in self._kind_degree.values():
                counts.pop(node, None)
            self._nodes.discard(node)
            self._cache.clear()
            self._record("remove", node)

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
                self._drop_pair(node, other)
                self._adjacent[other].discard(node)
                self._record("pair", node, other)
            self._adjacent[node].clear()
        self._add_edges(edges)

    def _add_edges(self, edges: Iterable[tuple[Node, Node, EdgeKind, float]]) -> None:
        for a, b, kind, weight in edges:
            if kind not in EDGE_KINDS:
                raise ValueError(f"unknown edge kind {kind!r}")
            if a == b:
                continue
            self.add_nodes((a, b))
            pair, weight = _pair(a, b), float(weight)
            held = self._edges.get(pair)
            new_kind = True
            if held is None:
                self._edges[pair] = (kind, weight)
            elif isinstance(held, tuple):
                if held[0] == kind:
                    self._edges[pair], new_kind = (kind, held[1] + weight), False
                else:
                    self._edges[pair] = {held[0]: held[1], kind: weight}
            else:
                new_kind = kind not in held
                held[kind] = held.get(kind, 0.0) + weight
            if new_kind:
                counts = self._kind_degree[kind]
                for end in (a, b):
                    counts[end] = counts.get(end, 0) + 1
            self._adjacent[a].add(b)
            self._adjacent[b].add(a)
            self._record("pair", a, b)
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
        return dict(_kind_weights(self._edges.get(_pair(a, b))))

    def edge_counts(self) -> dict[EdgeKind, int]:
        """Number of node pairs carrying each edge kind."""
        counts = dict.fromkeys(EDGE_KINDS, 0)
        for held in self._edges.values():
            for kind, _ in _kind_weights(held):
                counts[kind] += 1
        return counts

    def degree(self, node: Node, kind: EdgeKind | None = None) -> int:
        """Number of neighbours, optionally only over edges of one kind."""
        if kind is None:
            return len(self.neighbours(node))
        counts = self._kind_degree.get(kind)
        return counts.get(node, 0) if counts is not None else 0

    def walk_view(self, kinds: Iterable[EdgeKind] | Mapping[EdgeKind, float] = EDGE_KINDS) -> WalkView:
        """The graph as local pushes walk it, caught up with edits instead of rebuilt.

        The first call per weighting builds :meth:`matrix`; later calls apply the edits
        made since (cost: their size, plus vector copies of the node count), and
        rebuild once the edits reach a tenth of the graph. Rows are stable between
        rebuilds (new nodes get new rows; removed nodes keep theirs, empty).

        Examples
        --------
        >>> g = KnowledgeGraph()
        >>> g.replace_edges([("entity", 1)], [(("entity", 1), ("passage", 7), "mention", 1.0)])
        >>> view = g.walk_view()
        >>> g.replace_edges([("passage", 8)], [(("entity", 1), ("passage", 8), "mention", 2.0)])
        >>> view = g.walk_view()
        >>> view.nodes, view.matrix.toarray().tolist()
        ([('entity', 1), ('passage', 7), ('passage', 8)], [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
        """
        scale, key = self._scale(kinds)
        entry = self._walks.get(key)
        if entry is not None:
            state, position = entry
            if position == len(self._log):
                return state.view
            view = state.catch_up(self._log[position:], lambda a, b: self._weight(a, b, scale))
            if view is not None:
                entry[1] = len(self._log)
                self._trim_log()
                return view
        state = IncrementalWalk(self.matrix(kinds))
        self._walks[key] = [state, len(self._log)]
        self._trim_log()
        return state.view

    def _trim_log(self) -> None:
        start = min(position for _, position in self._walks.values())
        if start:
            del self._log[:start]
            for entry in self._walks.values():
                entry[1] -= start

    def _weight(self, a: Node, b: Node, scale: Mapping[EdgeKind, float]) -> float:
        return sum(w * scale.get(k, 0.0) for k, w in _kind_weights(self._edges.get(_pair(a, b))))

    @staticmethod
    def _scale(kinds: Iterable[EdgeKind] | Mapping[EdgeKind, float]) -> tuple[dict, tuple]:
        scale = dict(kinds) if isinstance(kinds, Mapping) else dict.fromkeys(kinds, 1.0)
        unknown = set(scale) - set(EDGE_KINDS)
        if unknown:
            raise ValueError(f"unknown edge kind(s) {sorted(unknown)}")
        return scale, tuple(sorted((k, float(w)) for k, w in scale.items() if w))

    def matrix(self, kinds: Iterable[EdgeKind] | Mapping[EdgeKind, float] = EDGE_KINDS) -> GraphMatrix:
        """The symmetric CSR adjacency (cached until an edit).

        ``kinds`` names the edge kinds to use, or maps kinds to a multiplier of
        their weights (a kind left out, or mapped to 0, is not walked).
        """
        scale, kinds_key = self._scale(kinds)
        cached = self._cache.get(kinds_key)
        if cached is not None:
            return cached
        nodes = sorted(self._nodes)
        index = {node: i for i, node in enumerate(nodes)}
        rows, cols, weights = [], [], []
        for (a, b), held in self._edges.items():
            weight = sum(w * scale.get(k, 0.0) for k, w in _kind_weights(held))
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

    def edge_arrays(self) -> dict[str, np.ndarray]:
        """The graph as arrays, for snapshots: nodes, then one row per (edge, kind).

        Returns
        -------
        dict
            ``node_kinds`` (int8: 0 entity, 1 passage, in :data:`NODE_KINDS` order),
            ``node_keys`` (int64), ``sources`` and ``targets`` (int64 indices into the
            node arrays, ``sources < targets``), ``kinds`` (int8 indices into
            :data:`EDGE_KINDS`) and ``weights`` (float64). Nodes are sorted, edges
            sorted by (source, target, kind): equal graphs give equal arrays.

        Examples
        --------
        >>> g = KnowledgeGraph()
        >>> g.replace_edges([("entity", 1)], [(("entity", 1), ("passage", 7), "mention", 1.0)])
        >>> a = g.edge_arrays()
        >>> a["node_kinds"].tolist(), a["sources"].tolist(), a["targets"].tolist(), a["kinds"].tolist()
        ([0, 1], [0], [1], [1])
        >>> KnowledgeGraph.from_edge_arrays(**a).edge_kinds(("entity", 1), ("passage", 7))
        {'mention': 1.0}
        """
        nodes = sorted(self._nodes)
        index = {node: i for i, node in enumerate(nodes)}
        kind_code = {kind: code for code, kind in enumerate(EDGE_KINDS)}
        rows = sorted((index[a], index[b], kind_code[kind], weight)
                      for (a, b), held in self._edges.items() for kind, weight in _kind_weights(held))
        node_code = {kind: code for code, kind in enumerate(NODE_KINDS)}
        return {
            "node_kinds": np.array([node_code[n[0]] for n in nodes], dtype=np.int8),
            "node_keys": np.array([n[1] for n in nodes], dtype=np.int64),
            "sources": np.array([r[0] for r in rows], dtype=np.int64),
            "targets": np.array([r[1] for r in rows], dtype=np.int64),
            "kinds": np.array([r[2] for r in rows], dtype=np.int8),
            "weights": np.array([r[3] for r in rows], dtype=np.float64),
        }

    @classmethod
    def from_edge_arrays(cls, node_kinds: np.ndarray, node_keys: np.ndarray, sources: np.ndarray,
                         targets: np.ndarray, kinds: np.ndarray, weights: np.ndarray
                         ) -> "KnowledgeGraph":
        """Rebuild a graph from :meth:`edge_arrays` (rows of one pair and kind add up).

        Raises
        ------
        ValueError
            On arrays of different lengths, unknown codes or edge indices out of range.
        """
        node_kinds, node_keys = np.asarray(node_kinds), np.asarray(node_keys)
        sources, targets = np.asarray(sources), np.asarray(targets)
        kinds, weights = np.asarray(kinds), np.asarray(weights, dtype=np.float64)
        if len(node_kinds) != len(node_keys):
            raise ValueError("node_kinds and node_keys differ in length")
        if not len(sources) == len(targets) == len(kinds) == len(weights):
            raise ValueError("edge arrays differ in length")
        if len(node_kinds) and (node_kinds.min() < 0 or node_kinds.max() >= len(NODE_KINDS)):
            raise ValueError("unknown node kind code")
        if len(kinds) and (kinds.min() < 0 or kinds.max() >= len(EDGE_KINDS)):
            raise ValueError("unknown edge kind code")
        for ends in (sources, targets):
            if len(ends) and (ends.min() < 0 or ends.max() >= len(node_keys)):
                raise ValueError("edge endpoint out of range")
        nodes: list[Node] = [(NODE_KINDS[k], int(key))
                             for k, key in zip(node_kinds.tolist(), node_keys.tolist())]
        graph = cls()
        graph.add_nodes(nodes)
        edges = [(nodes[a], nodes[b], EDGE_KINDS[k], w) for a, b, k, w in
                 zip(sources.tolist(), targets.tolist(), kinds.tolist(), weights.tolist())]
        graph._add_edges(edges)
        return graph

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
        for (a, b), held in self._edges.items():
            by_kind = dict(_kind_weights(held))
            graph.add_edge(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}",
                           weight=sum(by_kind.values()), **by_kind)
        return graph
