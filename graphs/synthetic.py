"""HippoRAG-shaped random graphs and queries, for benchmarks of the walk at any size.

The shape follows what the store builds from real corpora (see ``memory/derived.py``):
about ten entity nodes per passage; every entity mentioned by at least one passage
(its "home" passage) and popular entities (years, countries) mentioned by many, drawn
from a Zipf law so entity degrees are heavy-tailed; ``fact`` edges between entities
of one passage (weight = number of passages supporting the pair); a ``topic`` edge
from each passage to its title entity; ``synonym`` edges between similar entities
(here: entities with nearby numbers, weight about 1.7 as in real stores, where a
pair's similarity is counted from both sides).

A query is a handful of entity seeds taken from one or two passages (weights as
:func:`graphs.retrieve.fact_seeds` gives them: a linking score divided by the
entity's number of mentions) and dense scores for every passage: a normal bulk,
higher for the passages that mention a seed, min-max normalised as
:func:`graphs.retrieve.passage_seeds` does.

Everything is drawn from one ``numpy`` generator, so a seed gives the same graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .kg import EDGE_KINDS

__all__ = ["SyntheticGraph", "SyntheticQuery", "hipporag_graph", "random_query"]

_KIND = {kind: code for code, kind in enumerate(EDGE_KINDS)}


@dataclass(frozen=True)
class SyntheticGraph:
    """A generated graph as arrays, in the layout of :meth:`KnowledgeGraph.edge_arrays`.

    Node ``i`` is passage ``i`` for ``i < passages`` and entity ``i - passages`` after.

    Attributes
    ----------
    passages, entities : int
        Node counts.
    node_kinds : ndarray of int8
        0 for entity, 1 for passage (as in ``edge_arrays``).
    node_keys : ndarray of int64
        The key of each node (its number within its kind).
    sources, targets : ndarray of int64
        Edge endpoints as node indices (one row per edge and kind).
    kinds : ndarray of int8
        Edge kind codes, indices into :data:`graphs.kg.EDGE_KINDS`.
    weights : ndarray of float64
        Edge weights.
    """

    passages: int
    entities: int
    node_kinds: np.ndarray
    node_keys: np.ndarray
    sources: np.ndarray
    targets: np.ndarray
    kinds: np.ndarray
    weights: np.ndarray

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.passages + self.entities

    def adjacency(self, scale: dict[str, float] | None = None) -> sp.csr_matrix:
        """Symmetric CSR adjacency with each kind's weights times ``scale[kind]``.

        The default scale is HippoRAG's walk: every kind 1, ``topic`` 4 (the store's
        mention edge plus its ``topic_edge_weight`` of 3).
        """
        scale = scale if scale is not None else {"fact": 1.0, "mention": 1.0, "topic": 3.0,
                                                 "synonym": 1.0}
        factor = np.array([scale.get(kind, 0.0) for kind in EDGE_KINDS])[self.kinds]
        weights = self.weights * factor
        rows = np.concatenate([self.sources, self.targets])
        cols = np.concatenate([self.targets, self.sources])
        matrix = sp.csr_matrix((np.concatenate([weights, weights]), (rows, cols)),
                               shape=(self.size, self.size))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        return matrix


@dataclass(frozen=True)
class SyntheticQuery:
    """Entity seeds (node indices and weights) and a dense score per passage."""

    entity_nodes: np.ndarray
    entity_weights: np.ndarray
    dense_scores: np.ndarray

    def prior(self, weight: float = 0.05) -> np.ndarray:
        """Passage reset weights: dense scores min-max normalised, times ``weight``."""
        low, high = self.dense_scores.min(), self.dense_scores.max()
        span = high - low
        return weight * ((self.dense_scores - low) / span if span > 0 else np.ones_like(self.dense_scores))


def hipporag_graph(passages: int, seed: int = 0, entities_per_passage: int = 10,
                   shared_mentions: int = 4, facts_per_passage: int = 8,
                   synonyms_per_entity: float = 1.5, zipf: float = 1.05) -> SyntheticGraph:
    """Generate a HippoRAG-shaped graph with ``passages * (1 + entities_per_passage)`` nodes.

    Parameters
    ----------
    passages : int
        Number of passage nodes.
    seed : int
        Seed of the random generator.
    entities_per_passage : int
        Entities per passage; each passage is the home of this many entities.
    shared_mentions : int
        Extra mentions per passage of popular entities (Zipf-distributed ranks).
    facts_per_passage : int
        Fact edges drawn between the entities a passage mentions.
    synonyms_per_entity : float
        Mean number of synonym edges per entity.
    zipf : float
        Exponent of the popularity law of shared mentions (larger: fewer, bigger hubs).

    Examples
    --------
    >>> g = hipporag_graph(100, seed=1)
    >>> g.passages, g.entities, g.size
    (100, 1000, 1100)
    >>> g.adjacency().shape
    (1100, 1100)
    """
    if passages < 1:
        raise ValueError("passages must be positive")
    rng = np.random.default_rng(seed)
    entities = passages * entities_per_passage
    passage_ids = np.arange(passages)
    # Home mentions: entity e lives in passage e // entities_per_passage (shuffled).
    home = rng.permutation(entities) // entities_per_passage
    home_entity = np.arange(entities)
    # Shared mentions: Zipf ranks over a random popularity order of the entities.
    popularity = rng.permutation(entities)
    ranks = np.minimum(rng.zipf(zipf, size=passages * shared_mentions) - 1, entities - 1)
    shared_entity = popularity[ranks]
    shared_passage = np.repeat(passage_ids, shared_mentions)
    mention_passage = np.concatenate([home, shared_passage])
    mention_entity = np.concatenate([home_entity, shared_entity])
    pairs = np.unique(mention_passage * entities + mention_entity)
    mention_passage, mention_entity = pairs // entities, pairs % entities
    # Facts: random pairs among each passage's mentioned entities; support counts add up.
    order = np.argsort(mention_passage, kind="stable")
    starts = np.searchsorted(mention_passage[order], passage_ids)
    counts = np.bincount(mention_passage, minlength=passages)
    draws = passages * facts_per_passage
    owner = np.repeat(passage_ids, facts_per_passage)
    first = order[starts[owner] + (rng.random(draws) * counts[owner]).astype(np.int64)]
    second = order[starts[owner] + (rng.random(draws) * counts[owner]).astype(np.int64)]
    a, b = mention_entity[first], mention_entity[second]
    keep = a != b
    low, high = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    fact_pairs, support = np.unique(low * entities + high, return_counts=True)
    # Topic: the passage's first home entity is its title.
    title = np.full(passages, -1, dtype=np.int64)
    title[home[::-1]] = home_entity[::-1]
    # Synonyms: entities with nearby numbers (a stand-in for embedding neighbours).
    synonym_count = rng.poisson(synonyms_per_entity / 2, size=entities)
    left = np.repeat(np.arange(entities), synonym_count)
    right = (left + rng.integers(1, 50, size=len(left))) % entities
    syn_low, syn_high = np.minimum(left, right), np.maximum(left, right)
    syn_pairs = np.unique(syn_low * entities + syn_high)
    syn_pairs = syn_pairs[syn_pairs // entities != syn_pairs % entities]
    entity_node = passages  # offset of entity nodes
    sources = np.concatenate([mention_passage, passage_ids, fact_pairs // entities + entity_node,
                              syn_pairs // entities + entity_node])
    targets = np.concatenate([mention_entity + entity_node, title + entity_node,
                              fact_pairs % entities + entity_node, syn_pairs % entities + entity_node])
    kinds = np.concatenate([np.full(len(mention_passage), _KIND["mention"]),
                            np.full(passages, _KIND["topic"]),
                            np.full(len(fact_pairs), _KIND["fact"]),
                            np.full(len(syn_pairs), _KIND["synonym"])]).astype(np.int8)
    weights = np.concatenate([np.ones(len(mention_passage)), np.ones(passages),
                              support.astype(np.float64),
                              rng.uniform(1.6, 1.9, size=len(syn_pairs))])
    node_kinds = np.concatenate([np.ones(passages, np.int8), np.zeros(entities, np.int8)])
    node_keys = np.concatenate([passage_ids, np.arange(entities)]).astype(np.int64)
    return SyntheticGraph(passages, entities, node_kinds, node_keys, sources.astype(np.int64),
                          targets.astype(np.int64), kinds, weights)


def random_query(graph: SyntheticGraph, rng: np.random.Generator, hops: int = 2) -> SyntheticQuery:
    """A query: seeds from ``hops`` passages linked through an entity, and dense scores.

    Each chosen passage gives two or three of its entities as seeds, weighted by a
    linking score in [0.5, 1] over the entity's number of mentions; dense scores are
    N(0.35, 0.06) with +0.25 on the chosen passages and +0.1 on other passages
    mentioning a seed, plus a few random high scores (distractors).

    Examples
    --------
    >>> g = hipporag_graph(200, seed=2)
    >>> q = random_query(g, np.random.default_rng(0))
    >>> len(q.dense_scores) == g.passages and len(q.entity_nodes) > 0
    True
    """
    mentions = (graph.kinds == _KIND["mention"])
    passage_of, entity_of = graph.sources[mentions], graph.targets[mentions]
    mention_count = np.bincount(entity_of - graph.passages, minlength=graph.entities)
    chosen = [int(rng.integers(graph.passages))]
    seeds: dict[int, float] = {}
    for hop in range(hops):
        entities = entity_of[passage_of == chosen[-1]]
        picked = rng.choice(entities, size=min(len(entities), int(rng.integers(2, 4))), replace=False)
        for node in picked.tolist():
            score = rng.uniform(0.5, 1.0)
            seeds[node] = seeds.get(node, 0.0) + score / max(1, mention_count[node - graph.passages])
        if hop + 1 < hops:
            bridge = int(picked[-1])
            others = passage_of[(entity_of == bridge) & (passage_of != chosen[-1])]
            chosen.append(int(rng.choice(others)) if len(others) else int(rng.integers(graph.passages)))
    dense = rng.normal(0.35, 0.06, size=graph.passages)
    seeded = np.isin(entity_of, list(seeds))
    dense[np.unique(passage_of[seeded])] += 0.1
    dense[chosen] += 0.25
    dense[rng.integers(graph.passages, size=3)] += rng.uniform(0.1, 0.3, size=3)
    nodes = np.array(sorted(seeds), dtype=np.int64)
    return SyntheticQuery(nodes, np.array([seeds[n] for n in nodes.tolist()]), dense)
