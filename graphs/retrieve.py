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

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .kg import EDGE_KINDS, GraphMatrix, KnowledgeGraph, Node
from .ppr import personalized_pagerank

__all__ = [
    "Seed",
    "fact_seeds",
    "entity_seeds",
    "passage_seeds",
    "merge_seeds",
    "rank_passages",
    "strongest_paths",
]


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


def rank_passages(
    graph: KnowledgeGraph,
    seeds: list[Seed],
    damping: float,
    kinds: Iterable[str] | Mapping[str, float] = EDGE_KINDS,
    tol: float = 1e-10,
    max_iter: int = 200,
    adjust: Callable[[GraphMatrix], GraphMatrix] | None = None,
) -> tuple[GraphMatrix, np.ndarray]:
    """Run PPR from the seeds; returns the matrix used and the scores of every node.

    ``adjust`` maps the graph's matrix to the one walked (an as-of slice).
    """
    matrix = graph.matrix(kinds)
    if adjust is not None:
        matrix = adjust(matrix)
    reset = np.zeros(len(matrix.nodes), dtype=np.float64)
    for seed in seeds:
        row = matrix.index.get(seed.node)
        if row is not None:
            reset[row] += seed.weight
    if reset.sum() == 0:
        return matrix, reset
    return matrix, personalized_pagerank(matrix.matrix, reset, damping, tol=tol, max_iter=max_iter,
                                         transition=matrix.transition)


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
