"""The bank's routing tree: hierarchical k-means over fact-key embeddings (faiss).

Fitted once (on :meth:`MemoryBank.fit` / ``rebalance``) and then fixed: a new
fact is routed down the tree by nearest centroid and never moves other facts.
Node ids spell their path: ``"2"`` is the root's third child, ``"2.0"`` that
node's first child. The root is not a node of the bank (the anchor plays its part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TreeNode", "RoutingTree", "fit_tree", "key_text", "ANCHOR"]

#: The anchor block: trained on the common facts, used by every query.
ANCHOR = "anchor"


def key_text(subject: str, relation: str, year: int | str | None = None) -> str:
    """The text a fact is keyed by: "subject relation", plus "in YEAR" when it has a time.

    >>> key_text("ajax", "head coach", 2016)
    'ajax head coach in 2016'
    """
    text = f"{subject} {relation}"
    return f"{text} in {year}" if year else text


@dataclass(frozen=True)
class TreeNode:
    """One node of the routing tree: its id, parent id ("" for the root's children),
    depth (1 for the root's children) and unit-length centroid."""

    id: str
    parent: str
    level: int
    centroid: np.ndarray


class RoutingTree:
    """A fitted tree: route key vectors to leaves and list the nodes on their paths.

    Parameters
    ----------
    nodes : list of TreeNode
        Every node; children of the same parent are tried in id order.
    """

    def __init__(self, nodes: list[TreeNode]) -> None:
        self.nodes = {node.id: node for node in nodes}
        self._children: dict[str, list[TreeNode]] = {}
        for node in sorted(nodes, key=lambda n: _sort_key(n.id)):
            self._children.setdefault(node.parent, []).append(node)

    def __len__(self) -> int:
        return len(self.nodes)

    def children(self, node_id: str) -> list[TreeNode]:
        """The children of a node ("" for the top level)."""
        return self._children.get(node_id, [])

    @property
    def leaves(self) -> list[str]:
        """Ids of the nodes without children, in path order."""
        return sorted((n for n in self.nodes if n not in self._children), key=_sort_key)

    def route(self, vectors: np.ndarray) -> list[str]:
        """The leaf each (unit) key vector descends to by nearest centroid."""
        out = []
        for vector in np.asarray(vectors, dtype=np.float32):
            current = ""
            while self.children(current):
                options = self.children(current)
                centroids = np.stack([n.centroid for n in options])
                current = options[int(np.argmax(centroids @ vector))].id
            out.append(current)
        return out

    def path(self, leaf: str) -> list[str]:
        """The node ids from the top level down to ``leaf``.

        >>> RoutingTree([]).path("2.0.1")
        ['2', '2.0', '2.0.1']
        """
        parts = leaf.split(".") if leaf else []
        return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _sort_key(node_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in node_id.split(".")) if node_id else ()


def fit_tree(vectors: np.ndarray, branching: int, depth: int, min_leaf: int, seed: int) -> RoutingTree:
    """Fit a tree of up to ``depth`` levels of ``branching`` clusters by recursive k-means.

    A node with fewer than ``branching * min_leaf`` keys is not split further, so
    small clusters become leaves early. Deterministic for a given input order and seed.

    >>> rng = np.random.default_rng(0)
    >>> keys = rng.normal(size=(64, 8)).astype(np.float32)
    >>> tree = fit_tree(keys / np.linalg.norm(keys, axis=1, keepdims=True), 2, 2, 4, 0)
    >>> sorted(tree.nodes)
    ['0', '0.0', '0.1', '1', '1.0', '1.1']
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    nodes: list[TreeNode] = []

    def split(parent: str, level: int, members: np.ndarray) -> None:
        if level > depth or len(members) < branching * min_leaf:
            return
        kmeans = faiss.Kmeans(vectors.shape[1], branching, niter=25, seed=seed + level, spherical=True,
                              verbose=False, min_points_per_centroid=1, max_points_per_centroid=100000)
        kmeans.train(vectors[members])
        centroids = kmeans.centroids / np.maximum(np.linalg.norm(kmeans.centroids, axis=1, keepdims=True), 1e-12)
        assignment = np.argmax(vectors[members] @ centroids.T, axis=1)
        for child in range(branching):
            node_id = f"{parent}.{child}" if parent else str(child)
            nodes.append(TreeNode(node_id, parent, level, centroids[child].astype(np.float32)))
            split(node_id, level + 1, members[assignment == child])

    split("", 1, np.arange(len(vectors)))
    return RoutingTree(nodes)
