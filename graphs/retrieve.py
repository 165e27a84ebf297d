"""HippoRAG scoring on the knowledge graph: seeds, reset vector, PPR, ranking, paths.

Pure functions over a :class:`~graphs.kg.KnowledgeGraph`; the store supplies the
query-dependent inputs (linked facts or entities, dense passage scores).

- HippoRAG 2 (``fact_seeds``): the query is linked to its most similar facts;
  each fact's subject and object become seeds weighted by the fact's score
  (min-max normalised over all facts), averaged over the facts naming the entity
  and divided by the number of passages mentioning it (node specificity).
  Every passage node is also seeded with its dense score, min-max normalised
  and multiplied by the passage-node weight (0.05).
- HippoRAG 1 (``entity_seeds``): query phrases are linked to their nearest
  entities, weighted by similarity and node specificity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .kg import EDGE_KINDS, GraphMatrix, KnowledgeGraph, Node
from .localppr import LocalPPR, PushSettings, local_ppr
from .ppr import personalized_pagerank
from .walk import Walk, WalkSlice
from .walkindex import WalkView

__all__ = [
    "Seed",
    "fact_seeds",
    "entity_seeds",
    "passage_seeds",
    "merge_seeds",
    "passage_prior",
    "rank_passages",
    "Ranking",
    "SlicedMatrix",
    "slice_walk",
    "strongest_paths",
    "WalkSlice",
    "PushSettings",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seed:
    """A reset-vector entry: a node, its weight and why it was chosen."""

    node: Node
    weight: float
    reason: str


def _specificity(graph: KnowledgeGraph, node: Node, enabled: bool) -> float:
    if not enabled:
        return 1.0
    return 1.0 / max(1, graph.degree(node, "mention"))


def fact_seeds(
    linked_facts: Iterable[tuple[int, int, float, str]],
    graph: KnowledgeGraph,
    node_specificity: bool = True,
) -> list[Seed]:
    """Entity seeds from linked facts ``(subject key, object key, score, label)``.

    Scores are expected in [0, 1] (HippoRAG 2 min-max normalises them over all facts).
    """
    facts = list(linked_facts)
    if not facts:
        return []
    sums: dict[Node, list[float]] = {}
    reasons: dict[Node, list[str]] = {}
    for subject, obj, score, label in facts:
        for key in (subject, obj):
            node = ("entity", key)
            if node not in graph.nodes:
                continue
            sums.setdefault(node, []).append(max(score, 0.0))
            reasons.setdefault(node, []).append(label)
    seeds = []
    for node, scores in sums.items():
        weight = float(np.mean(scores)) * _specificity(graph, node, node_specificity)
        if weight > 0:
            seeds.append(Seed(node, weight, "linked fact: " + "; ".join(reasons[node])))
    return seeds


def entity_seeds(
    linked_entities: Iterable[tuple[int, float, str]],
    graph: KnowledgeGraph,
    node_specificity: bool = True,
    weight: float = 1.0,
) -> list[Seed]:
    """Entity seeds from ``(entity key, similarity, query phrase)`` links, scaled by ``weight``."""
    best: dict[Node, tuple[float, str]] = {}
    for key, score, phrase in linked_entities:
        node = ("entity", key)
        if node in graph.nodes and score > best.get(node, (-1.0, ""))[0]:
            best[node] = (score, phrase)
    return [
        Seed(node, weight * max(score, 0.0) * _specificity(graph, node, node_specificity),
             f"query phrase {phrase!r} (similarity {score:.3f})")
        for node, (score, phrase) in best.items()
        if score > 0
    ]


def merge_seeds(seeds: Iterable[Seed]) -> list[Seed]:
    """One seed per node: weights added, reasons joined (first-seen node order).

    >>> merge_seeds([Seed(("entity", 1), 0.5, "a"), Seed(("entity", 1), 0.25, "b")])
    [Seed(node=('entity', 1), weight=0.75, reason='a; b')]
    """
    merged: dict[Node, Seed] = {}
    for seed in seeds:
        known = merged.get(seed.node)
        merged[seed.node] = seed if known is None else Seed(
            seed.node, known.weight + seed.weight, f"{known.reason}; {seed.reason}")
    return list(merged.values())


def passage_seeds(dense_scores: Mapping[int, float], weight: float) -> list[Seed]:
    """Passage seeds: dense scores min-max normalised, times ``weight``."""
    if weight <= 0 or not dense_scores:
        return []
    values = np.array(list(dense_scores.values()), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low
    seeds = []
    for key, score in dense_scores.items():
        normalised = (score - low) / span if span > 0 else 1.0
        if normalised > 0:
            seeds.append(Seed(("passage", key), weight * normalised,
                              f"dense similarity {score:.3f}"))
    return seeds


class Ranking:
    """The outcome of :func:`rank_passages`: the walked graph, the ranking and node scores.

    Unpacks as ``matrix, scores`` (the former return value). ``scores`` holds every
    node's *exact* score: for ``method="push"`` it is power iteration over the walked
    graph, run on first use (it costs the graph, as any all-node vector does; traces
    and reference checks read it). The ranking itself, :meth:`top_passages` and
    :meth:`scores_of` use the push's scores and never touch the whole graph.

    Attributes
    ----------
    matrix : WalkView, GraphMatrix or SlicedMatrix
        The graph walked, with ``nodes``, ``index`` and ``rows_of_kind`` (its ``.matrix``
        is materialised only when read).
    method : str
        ``"push"`` or ``"power"``.
    local : LocalPPR or None
        The push's result (its bounds and work), for ``method="push"``.
    """

    def __init__(self, matrix: GraphMatrix | WalkView | SlicedMatrix, method: str,
                 local: LocalPPR | None = None, dense: np.ndarray | None = None,
                 exact: Callable[[], np.ndarray] | None = None) -> None:
        self.matrix = matrix
        self.method = method
        self.local = local
        self._dense = dense
        self._exact = exact

    def __iter__(self) -> Iterator:
        return iter((self.matrix, self.scores))

    @property
    def scores(self) -> np.ndarray:
        """Exact score of every row (computed on first use for ``method="push"``)."""
        if self._dense is None:
            self._dense = (self._exact() if self._exact is not None
                           else np.zeros(self.matrix.walk.size))
        return self._dense

    def scores_of(self, rows: np.ndarray) -> np.ndarray:
        """Scores of some rows as ranked (the push's, for ``method="push"``)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.local is None:
            return self.scores[rows]
        return self.local.scores_of(rows)

    def top_passages(self, k: int) -> list[tuple[Node, float]]:
        """The ``k`` best passages with positive scores, best first (ties by row)."""
        if self.local is not None:
            rows = self.local.top(k)
        else:
            rows = self.matrix.rows_of_kind("passage")
            scores = self.scores[rows]
            rows = rows[np.lexsort((rows, -scores))][:k]
            rows = rows[self.scores[rows] > 0]
        scores = self.scores_of(rows)
        return [(self.matrix.nodes[r], float(s)) for r, s in zip(rows.tolist(), scores.tolist())]


class SlicedMatrix:
    """A :class:`GraphMatrix` seen through an as-of slice: the same rows, the matrix
    materialised only when read (explanations)."""

    def __init__(self, base: GraphMatrix | WalkView, walk: Walk) -> None:
        self.base = base
        self.walk = walk
        self.nodes = base.nodes
        self.index = base.index

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The sliced adjacency (a copy, built on first use)."""
        return self.walk.materialize()

    def rows_of_kind(self, kind: str) -> np.ndarray:
        """Row numbers of the nodes of one kind."""
        return self.base.rows_of_kind(kind)


def slice_walk(matrix: GraphMatrix | WalkView, walk_slice: WalkSlice | None) -> Walk:
    """The walk over ``matrix`` with ``walk_slice`` applied lazily (no copy of the matrix).

    >>> g = KnowledgeGraph()
    >>> a, b, p = ("entity", 1), ("entity", 2), ("passage", 3)
    >>> g.replace_edges([a, b, p], [(a, b, "fact", 2.0), (a, p, "mention", 1.0)])
    >>> walk = slice_walk(g.matrix(), WalkSlice({(a, b): 1.0}, frozenset({p})))
    >>> walk.degree_of(np.arange(3)).tolist()
    [1.0, 1.0, 0.0]
    """
    walk = matrix.walk
    if walk_slice is None or (not walk_slice.excluded and not walk_slice.removed_weight):
        return walk
    excluded = [matrix.index[n] for n in walk_slice.excluded if n in matrix.index]
    rows, cols, amounts = [], [], []
    for (a, b), weight in walk_slice.removed_weight.items():
        i, j = matrix.index.get(a), matrix.index.get(b)
        if i is not None and j is not None and weight > 0:
            rows.append(i)
            cols.append(j)
            amounts.append(float(weight))
    removed = (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
               np.array(amounts, dtype=np.float64))
    return walk.slice(np.array(excluded, dtype=np.int64), removed)


def rank_passages(
    graph: KnowledgeGraph,
    seeds: list[Seed],
    damping: float,
    kinds: Iterable[str] | Mapping[str, float] = EDGE_KINDS,
    tol: float = 1e-10,
    max_iter: int = 200,
    adjust: Callable[[GraphMatrix], GraphMatrix] | None = None,
    *,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
    walk_slice: WalkSlice | None = None,
    method: str = "push",
    top_k: int = 5,
    push: PushSettings | None = None,
) -> Ranking:
    """Run PPR from the seeds; returns the walked graph and the scores (a :class:`Ranking`).

    Parameters
    ----------
    graph : KnowledgeGraph
        The graph.
    seeds : list of Seed
        Reset entries. Passage seeds join the prior (with ``method="push"`` they are
        never pushed from).
    damping : float
        Probability of following an edge.
    kinds : iterable or mapping
        Edge kinds walked, or their weight multipliers (see :meth:`KnowledgeGraph.matrix`).
    tol, max_iter :
        Power iteration's stopping rule (``method="power"``).
    adjust : callable, optional
        Maps the graph's matrix to the one walked (an as-of slice as a copy; costs the
        graph). Prefer ``walk_slice``.
    prior : (keys, weights), optional
        Passage keys and reset weights, as arrays (the dense prior; see
        :func:`passage_prior`).
    walk_slice : WalkSlice, optional
        What the walk must not see (an as-of slice), applied lazily.
    method : {"push", "power"}
        Local push (:func:`graphs.localppr.local_ppr`, the default) or power
        iteration over the whole graph (the reference).
    top_k : int
        The ranking depth the push must get right (more is fine, it only costs more).
    push : PushSettings, optional
        The push's accuracy settings.

    Examples
    --------
    >>> g = KnowledgeGraph()
    >>> e, p, q = ("entity", 1), ("passage", 1), ("passage", 2)
    >>> g.replace_edges([e], [(e, p, "mention", 2.0), (e, q, "mention", 1.0)])
    >>> ranking = rank_passages(g, [Seed(e, 1.0, "linked")], damping=0.5)
    >>> [node for node, _ in ranking.top_passages(2)]
    [('passage', 1), ('passage', 2)]
    >>> matrix, scores = ranking  # the former (matrix, scores) return value: exact scores
    >>> round(float(scores.sum()), 6)
    1.0
    """
    if method not in ("push", "power"):
        raise ValueError(f"unknown method {method!r}; use 'push' or 'power'")
    base = graph.walk_view(kinds) if adjust is None else graph.matrix(kinds)
    if adjust is not None:
        adjusted = adjust(base)
        matrix: GraphMatrix | WalkView | SlicedMatrix = adjusted
        walk = adjusted.walk
        if walk_slice is not None:
            walk = slice_walk(adjusted, walk_slice)
            matrix = SlicedMatrix(adjusted, walk)
    else:
        walk = slice_walk(base, walk_slice)
        matrix = base if walk is base.walk else SlicedMatrix(base, walk)
    seed_rows, seed_weights, prior_rows, prior_weights = _reset_parts(matrix, seeds, prior)
    if seed_weights.sum() + prior_weights.sum() <= 0:
        return Ranking(matrix, method, dense=np.zeros(len(matrix.nodes)))

    def exact() -> np.ndarray:
        reset = np.zeros(walk.size)
        np.add.at(reset, seed_rows, seed_weights)
        np.add.at(reset, prior_rows, prior_weights)
        adjacency = matrix.matrix if walk is getattr(matrix, "walk", None) else walk.materialize()
        transition = (matrix.transition if isinstance(matrix, (GraphMatrix, WalkView))
                      and adjacency is matrix.matrix else None)
        return personalized_pagerank(adjacency, reset, damping, tol=tol, max_iter=max_iter,
                                     transition=transition)

    if method == "power":
        return Ranking(matrix, method, dense=exact())
    settings = push or PushSettings()
    passage_prior_vector = np.zeros(len(walk.passages))
    np.add.at(passage_prior_vector, walk.passage_index[prior_rows], prior_weights)
    local = local_ppr(walk, seed_rows, seed_weights, passage_prior_vector, damping, top_k,
                      **settings.as_kwargs())
    logger.debug("push ranking: %s", local.stats)
    return Ranking(matrix, method, local=local, exact=exact)


def _reset_parts(matrix: GraphMatrix | WalkView | SlicedMatrix, seeds: list[Seed],
                 prior: tuple[np.ndarray, np.ndarray] | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seed rows and weights (non-passages), prior rows and weights (passages)."""
    seed_rows, seed_weights, prior_rows, prior_weights = [], [], [], []
    for seed in seeds:
        row = matrix.index.get(seed.node)
        if row is None or seed.weight <= 0:
            continue
        if seed.node[0] == "passage":
            prior_rows.append(row)
            prior_weights.append(seed.weight)
        else:
            seed_rows.append(row)
            seed_weights.append(seed.weight)
    rows = np.array(prior_rows, dtype=np.int64)
    weights = np.array(prior_weights, dtype=np.float64)
    if prior is not None:
        keys, values = (np.asarray(x) for x in prior)
        base = matrix.base if isinstance(matrix, SlicedMatrix) else matrix
        found = base.passage_rows(keys)
        keep = (found >= 0) & (np.asarray(values, dtype=np.float64) > 0)
        rows = np.concatenate([rows, found[keep]])
        weights = np.concatenate([weights, np.asarray(values, dtype=np.float64)[keep]])
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("prior weights must be finite and non-negative")
    return (np.array(seed_rows, dtype=np.int64), np.array(seed_weights, dtype=np.float64),
            rows, weights)


def passage_prior(keys: np.ndarray, dense_scores: np.ndarray, weight: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The dense prior as arrays: scores min-max normalised, times ``weight``
    (what :func:`passage_seeds` gives, without a Seed per passage).

    >>> keys, weights = passage_prior(np.array([3, 4, 5]), np.array([0.2, 0.6, 0.4]), 0.05)
    >>> keys.tolist(), weights.round(3).tolist()
    ([4, 5], [0.05, 0.025])
    """
    keys = np.asarray(keys, dtype=np.int64)
    scores = np.asarray(dense_scores, dtype=np.float64)
    if weight <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    low, high = scores.min(), scores.max()
    normalised = (scores - low) / (high - low) if high > low else np.ones_like(scores)
    keep = normalised > 0
    return keys[keep], weight * normalised[keep]


def _walk_costs(adjacency: sp.csr_matrix) -> sp.csr_matrix:
    """Reversed walk costs: entry ``[v, u]`` is ``-log P(u -> v)`` (plus a tiny epsilon)."""
    out_weight = np.asarray(adjacency.sum(axis=1)).ravel()
    coo = adjacency.tocoo()
    probability = coo.data / out_weight[coo.row]
    cost = -np.log(probability) + 1e-12
    return sp.csr_matrix((cost, (coo.col, coo.row)), shape=adjacency.shape)


def strongest_paths(
    matrix: GraphMatrix,
    seeds: list[Seed],
    target: Node,
    max_paths: int = 3,
) -> list[tuple[list[Node], float]]:
    """The most probable walks from seed nodes to ``target``.

    A walk's strength is the seed's share of the reset mass times the product of
    its transition probabilities. Returns up to ``max_paths`` ``(nodes, strength)``
    pairs, strongest first, each path starting at a seed and ending at ``target``.
    """
    if target not in matrix.index or not seeds:
        return []
    total = sum(seed.weight for seed in seeds) or 1.0
    costs = _walk_costs(matrix.matrix)
    source = matrix.index[target]
    distances, predecessors = dijkstra(costs, directed=True, indices=source, return_predecessors=True)
    scored = []
    for seed in seeds:
        row = matrix.index.get(seed.node)
        if row is None or not math.isfinite(distances[row]):
            continue
        scored.append((seed.weight / total * math.exp(-distances[row]), row))
    scored.sort(reverse=True)
    paths = []
    for strength, row in scored[:max_paths]:
        path = [row]
        while path[-1] != source:
            path.append(int(predecessors[path[-1]]))
        paths.append(([matrix.nodes[i] for i in path], strength))
    return paths
