"""Query-time retrieval: dense, BM25, HippoRAG 2 (fact linking) and HippoRAG 1 (entity linking)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import numpy as np

from graphs.kg import GraphMatrix, Node
from graphs.temporal import WalkSlice, as_of_slice
from graphs.retrieve import (
    Seed,
    entity_seeds,
    fact_seeds,
    merge_seeds,
    passage_seeds,
    rank_passages,
    strongest_paths,
)

from .config import RetrievalConfig
from .db import Database
from .derived import DerivedState
from .embed import Embedder
from .errors import InvalidQueryError
from .explain import Explanation, Hit, PathInfo, SeedInfo
from .rerank import CrossEncoder
from .temporal import TimeSlice
from .timeexpr import Interval, mentioned_periods

__all__ = ["Retriever", "MODES", "QueryTrace", "edge_weights", "fuse_rankings", "prefer_period"]

logger = logging.getLogger(__name__)

MODES = ("hipporag", "hipporag1", "dense", "bm25", "hybrid")
_SEEDS_SHOWN = 8


@dataclass
class QueryTrace:
    """What the last query did: seconds per stage, the PPR seeds, the linked facts and the
    PPR mass of the strongest entity nodes.

    ``facts`` holds the (subject, relation, object) names of the facts linked to the
    query (after the recognition filter), for fact-level scoring in ``eval``.
    """

    mode: str = ""
    embedding: float = 0.0
    linking: float = 0.0
    ppr: float = 0.0
    ranking: float = 0.0
    seeds: list[Seed] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)
    as_of: date | None = None
    #: The walked matrix and its PPR scores (graph modes), read by :attr:`node_scores`.
    walk: tuple[GraphMatrix, np.ndarray] | None = field(default=None, repr=False)

    @property
    def node_scores(self) -> dict[Node, float]:
        """PPR mass of the 50 strongest entity nodes (graph modes; computed when asked,
        so queries that do not look at it do not pay for it)."""
        if self.walk is None:
            return {}
        matrix, scores = self.walk
        rows = matrix.rows_of_kind("entity")
        strongest = rows[np.lexsort((rows, -scores[rows]))][:50]
        return {matrix.nodes[r]: float(scores[r]) for r in strongest if scores[r] > 0}


def _min_max(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float64)
    span = scores.max() - scores.min()
    return (scores - scores.min()) / span if span > 0 else np.ones_like(scores)


def edge_weights(config: RetrievalConfig) -> dict[str, float]:
    """Multiplier per edge kind for the walk, from the retrieval configuration.

    >>> edge_weights(RetrievalConfig(synonymy=False, topic_edge_weight=2.0))
    {'fact': 1.0, 'mention': 1.0, 'topic': 2.0, 'synonym': 0.0}
    """
    return {"fact": 1.0, "mention": 1.0, "topic": config.topic_edge_weight,
            "synonym": 1.0 if config.synonymy else 0.0}


def fuse_rankings(graph_hits: list[Hit], dense_hits: list[Hit], dense_lead: int, top_k: int) -> list[Hit]:
    """Hybrid ranking: the best ``dense_lead`` dense hits, then the graph ranking.

    The passages most similar to the question open the list (dense retrieval
    is good at the first hop); the graph walk's ranking fills the rest (it finds
    the later hops). A passage appears once.

    >>> from memory.explain import Explanation
    >>> def hits(ids, mode):
    ...     return [Hit(i, 1.0, "", "", r, mode, lambda: Explanation(mode, "")) for r, i in
    ...             enumerate(ids, 1)]
    >>> [h.doc_id for h in fuse_rankings(hits("abcde", "hipporag"), hits("xa", "dense"), 1, 4)]
    ['x', 'a', 'b', 'c']
    """
    fused: list[Hit] = []
    seen: set[str] = set()
    for hit in list(dense_hits[:dense_lead]) + list(graph_hits) + list(dense_hits[dense_lead:]):
        if len(fused) == top_k:
            break
        if hit.doc_id in seen:
            continue
        seen.add(hit.doc_id)
        note = f"hybrid: {hit.mode} rank {hit.rank}; "
        fused.append(dataclasses.replace(
            hit, rank=len(fused) + 1, mode="hybrid",
            _explain=lambda hit=hit, note=note: dataclasses.replace(
                hit.explain(), mode="hybrid", summary=note + hit.explain().summary)))
    return fused


def prefer_period(hits: list[Hit], period: Interval) -> list[Hit]:
    """The hits whose text mentions a time in ``period`` first, each group in its order.

    A passage that talks about the asked time is more likely to say what held then
    than one about other years that merely matches the question's words.

    >>> from memory.explain import Explanation
    >>> from memory.timeexpr import parse_period
    >>> hits = [Hit(i, 1.0, "", text, r, "dense", lambda: Explanation("dense", "")) for r, (i, text)
    ...         in enumerate([("a", "Smith, 1990 to 1995."), ("b", "Jones, 2001-2004."), ("c", "Lee.")], 1)]
    >>> [(h.doc_id, h.rank) for h in prefer_period(hits, parse_period(2003))]
    [('b', 1), ('a', 2), ('c', 3)]
    """
    mentions = [any(p.overlaps(period) for p in mentioned_periods(hit.text)) for hit in hits]
    order = sorted(range(len(hits)), key=lambda i: not mentions[i])
    ranked = []
    for rank, i in enumerate(order, start=1):
        hit = hits[i]
        if mentions[i]:
            note = f"mentions the asked period (was rank {hit.rank}); "
            explain = (lambda hit=hit, note=note: dataclasses.replace(
                hit.explain(), summary=note + hit.explain().summary))
            hit = dataclasses.replace(hit, rank=rank, _explain=explain)
        else:
            hit = dataclasses.replace(hit, rank=rank)
        ranked.append(hit)
    return ranked


class Retriever:
    """Runs the retrieval modes over a store's database and derived state."""

    def __init__(self, db: Database, derived: DerivedState, embedder: Callable[[], Embedder],
                 query_phrases: Callable[[str, bool], list[str]],
                 cross_encoder: Callable[[], CrossEncoder],
                 bank_links: Callable[[str, int], list[tuple[int, float, str]]] | None = None) -> None:
        self.db = db
        self._bank_links = bank_links
        self.derived = derived
        self._embedder = embedder
        self._query_phrases = query_phrases
        self._cross_encoder = cross_encoder
        self.trace = QueryTrace()
        self.slice: TimeSlice | None = None

    def retrieve(self, query: str, top_k: int, mode: str, config: RetrievalConfig,
                 time_slice: TimeSlice | None = None, period_depth: int = 0) -> list[Hit]:
        """Rank passages for a query; see :meth:`memory.MemoryStore.retrieve`.

        With a ``time_slice``, only the passages and facts that hold in its period are
        seen: by the dense and lexical rankings, the fact linking and the walk; and
        among the best ``period_depth`` passages, those whose text mentions a time in
        the period come first (:func:`prefer_period`).
        """
        self.slice = time_slice
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("query must be a non-empty string")
        if mode not in MODES:
            raise InvalidQueryError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise InvalidQueryError("top_k must be a positive integer")
        self.trace = QueryTrace(mode)
        if time_slice is None or period_depth <= 0:
            return self._ranked(query, top_k, mode, config)
        pool = self._ranked(query, max(top_k, period_depth), mode, config)
        return prefer_period(pool, time_slice.period)[:top_k]

    def _ranked(self, query: str, top_k: int, mode: str, config: RetrievalConfig) -> list[Hit]:
        if len(self.derived.vectors["document"]) == 0:
            return []
        if mode == "bm25":
            return self._bm25(query, top_k)
        started = time.perf_counter()
        query_vector = self._embedder().encode([query], "query")
        self.trace.embedding = time.perf_counter() - started
        if mode == "dense":
            return self._dense(query_vector, top_k)
        if mode == "hybrid":
            graph_hits = self._graph(query, query_vector, top_k, "hipporag", config)
            return fuse_rankings(graph_hits, self._dense(query_vector, top_k), config.hybrid_dense_lead,
                                 top_k)
        return self._graph(query, query_vector, top_k, mode, config)

    # -- lexical and dense ---------------------------------------------------------------

    def _bm25(self, query: str, top_k: int) -> list[Hit]:
        import bm25s

        retriever, keys = self.derived.bm25()
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        k = min(top_k + len(self._excluded), len(keys))
        results, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        ranked = [(keys[int(i)], float(s)) for i, s in zip(results[0], scores[0])
                  if s > 0 and keys[int(i)] not in self._excluded][:top_k]
        return self._hits(ranked, "bm25", lambda key, score: Explanation(
            "bm25", f"BM25 score {score:.3f} over title and text"))

    @property
    def _excluded(self) -> frozenset[int]:
        """Passages hidden by the time slice."""
        return self.slice.excluded_documents if self.slice else frozenset()

    def _dense_scores(self, query_vector: np.ndarray) -> dict[int, float]:
        ids, scores = self.derived.vectors["document"].all_scores(query_vector)
        excluded = self._excluded
        return {key: score for key, score in zip(ids.tolist(), scores.astype(np.float64).tolist())
                if key not in excluded}

    def _dense(self, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        started = time.perf_counter()
        excluded = self._excluded
        scores, ids = self.derived.vectors["document"].search(query_vector, top_k + len(excluded))
        ranked = [(int(i), float(s)) for s, i in zip(scores[0], ids[0])
                  if i >= 0 and int(i) not in excluded][:top_k]
        self.trace.ranking = time.perf_counter() - started
        return self._hits(ranked, "dense", lambda key, score: Explanation(
            "dense", f"cosine similarity {score:.3f} between query and passage embeddings"))

    # -- graph modes -----------------------------------------------------------------------

    def _link(self, query: str, query_vector: np.ndarray, mode: str,
              config: RetrievalConfig) -> list[Seed]:
        """Entity seeds: linked facts (``hipporag``) and/or query phrases (both modes)."""
        if mode == "hipporag1":
            seeds = self._link_phrases(query, config, 1.0, whole_query_fallback=True)
        else:
            seeds = self._link_facts(query, query_vector, config)
            if config.entity_link_weight > 0:
                seeds += self._link_phrases(query, config, config.entity_link_weight)
        if config.bank_seeds > 0 and self._bank_links is not None:
            links = self._bank_links(query, config.bank_seeds)
            named = {("entity", key): (name, score) for key, score, name in links}
            seeds += [dataclasses.replace(seed, reason="memory bank predicts {!r} ({:.3f})".format(
                          *named[seed.node]))
                      for seed in entity_seeds(links, self.derived.graph, config.node_specificity,
                                               config.bank_seed_weight)]
        return merge_seeds(seeds)

    def _link_facts(self, query: str, query_vector: np.ndarray, config: RetrievalConfig) -> list[Seed]:
        # HippoRAG 2: min-max normalise the query-fact scores over all facts, keep the top k
        # (after the cross-encoder's recognition filter when configured).
        ids, scores = self.derived.vectors["fact"].all_scores(query_vector)
        if self.slice is not None:
            holding = np.fromiter((int(i) in self.slice.holding_facts for i in ids), bool, len(ids))
            ids, scores = ids[holding], scores[holding]
        if len(ids) == 0:
            return []
        normalised = _min_max(scores)
        filtered = config.fact_filter == "cross-encoder"
        depth = config.fact_candidates if filtered else config.fact_top_k
        top = np.argsort(-normalised, kind="stable")[:depth]
        linked = [(int(ids[i]), float(normalised[i])) for i in top]
        facts = self.db.facts_by_key(k for k, _ in linked)
        names = self.db.entity_names({e for s, _, o in facts.values() for e in (s, o)})
        if filtered:
            linked = self._recognise(query, linked, facts, names, config)
        self.trace.facts = [(names[facts[k][0]], facts[k][1], names[facts[k][2]])
                            for k, _ in linked if k in facts]
        return fact_seeds(
            [(facts[k][0], facts[k][2], score,
              f"({names[facts[k][0]]}, {facts[k][1]}, {names[facts[k][2]]}) {score:.3f}")
             for k, score in linked if k in facts],
            self.derived.graph, config.node_specificity)

    def _link_phrases(self, query: str, config: RetrievalConfig, weight: float,
                      whole_query_fallback: bool = False) -> list[Seed]:
        # HippoRAG 1: each named entity (or noun phrase) of the query -> its nearest entity.
        phrases = self._query_phrases(query, config.query_phrases == "named")
        if not phrases:
            if not whole_query_fallback:
                return []
            phrases = [query]
        phrase_vectors = self._embedder().encode(phrases, "entity")
        scores, ids = self.derived.vectors["entity"].search(phrase_vectors, 1)
        links = [(int(ids[i][0]), float(scores[i][0]), phrase)
                 for i, phrase in enumerate(phrases) if ids.shape[1] and ids[i][0] >= 0]
        return entity_seeds(links, self.derived.graph, config.node_specificity, weight)

    def _recognise(self, query: str, linked: list[tuple[int, float]],
                   facts: dict[int, tuple[int, str, int]], names: dict[int, str],
                   config: RetrievalConfig) -> list[tuple[int, float]]:
        """Keep the linked facts the cross-encoder judges relevant (recognition memory)."""
        linked = [(key, score) for key, score in linked if key in facts]
        texts = [f"{names[facts[k][0]]} {facts[k][1]} {names[facts[k][2]]}" for k, _ in linked]
        logits = self._cross_encoder().score(query, texts) if texts else np.zeros(0)
        order = sorted(range(len(linked)), key=lambda i: (-logits[i], i))
        return [linked[i] for i in order[: config.fact_top_k]
                if logits[i] >= config.fact_filter_threshold]

    def _graph(self, query: str, query_vector: np.ndarray, top_k: int, mode: str,
               config: RetrievalConfig) -> list[Hit]:
        started = time.perf_counter()
        seeds = self._link(query, query_vector, mode, config)
        if mode == "hipporag":
            seeds = seeds + passage_seeds(self._dense_scores(query_vector), config.passage_node_weight)
        self.trace.linking = time.perf_counter() - started
        if not any(seed.node[0] == "entity" for seed in seeds):
            logger.info("no entity linked to the query; falling back to dense retrieval")
            return self._dense(query_vector, top_k)
        self.trace.seeds = seeds
        started = time.perf_counter()
        weights = edge_weights(config)
        ranking = rank_passages(self.derived.graph, seeds, config.damping, weights,
                                tol=config.ppr_tol, max_iter=config.ppr_max_iter,
                                walk_slice=self._slicer(weights.get("fact", 0.0)), top_k=top_k)
        self.trace.ppr = time.perf_counter() - started
        started = time.perf_counter()
        self.trace.walk = ranking  # unpacks as (matrix, scores)
        matrix = ranking.matrix
        ranked = [(node[1], score) for node, score in ranking.top_passages(top_k)]
        self.trace.ranking = time.perf_counter() - started
        return self._hits(ranked, mode, lambda key, score: self._explain_graph(
            mode, key, score, seeds, matrix))

    def _slicer(self, fact_weight: float) -> WalkSlice | None:
        """The as-of slice the walk applies on the fly, or None without a time slice."""
        if self.slice is None:
            return None
        time_slice = self.slice
        removed = {(("entity", s), ("entity", o)): support * fact_weight
                   for (s, o), support in time_slice.removed_fact_weight.items()}
        excluded = {("passage", key) for key in time_slice.excluded_documents}
        return as_of_slice(removed, excluded)

    def _explain_graph(self, mode: str, key: int, score: float, seeds: list[Seed],
                       matrix: GraphMatrix) -> Explanation:
        ordered = sorted(seeds, key=lambda s: (s.node[0] != "entity", -s.weight))
        entity_keys = {s.node[1] for s in seeds if s.node[0] == "entity"}
        paths = strongest_paths(matrix, seeds, ("passage", key))
        for nodes, _ in paths:
            entity_keys.update(n[1] for n in nodes if n[0] == "entity")
        names = self.db.entity_names(entity_keys)
        docs = self.db.documents_by_key({n[1] for nodes, _ in paths for n in nodes
                                         if n[0] == "passage"} | {s.node[1] for s in ordered[:_SEEDS_SHOWN]
                                                                  if s.node[0] == "passage"})

        def name(node: Node) -> str:
            if node[0] == "entity":
                return names.get(node[1], f"entity {node[1]}")
            doc = docs.get(node[1])
            return repr(doc[1] or doc[0]) if doc else f"#{node[1]}"

        def label(node: Node) -> str:
            return name(node) if node[0] == "entity" else f"passage {name(node)}"

        seed_infos = [SeedInfo(s.node[0], name(s.node), s.weight, s.reason)
                      for s in ordered[:_SEEDS_SHOWN]]
        path_infos = [PathInfo([label(n) for n in nodes],
                               [self._edge_label(a, b) for a, b in zip(nodes, nodes[1:])],
                               strength) for nodes, strength in paths]
        return Explanation(mode, f"personalized PageRank mass {score:.4g} from {len(seeds)} seed nodes",
                           seed_infos, path_infos)

    def _edge_label(self, a: Node, b: Node) -> str:
        kinds = self.derived.graph.edge_kinds(a, b)
        if "fact" in kinds and a[0] == b[0] == "entity":
            facts = self.db.facts_between(a[1], b[1])
            if facts:
                subject, relation, obj, support = facts[0]
                arrow = relation if subject == a[1] else f"{relation} (reversed)"
                more = f" +{len(facts) - 1} more" if len(facts) > 1 else ""
                return f"{arrow}; support {support}{more}"
        if "synonym" in kinds:
            score = self.db.synonym_score(a[1], b[1])
            return "synonym" if score is None else f"synonym, cosine {score:.3f}"
        if "topic" in kinds:
            return "title of" if b[0] == "passage" else "titled"
        if "mention" in kinds:
            return "mentioned in" if b[0] == "passage" else "mentions"
        return "/".join(sorted(kinds))

    def _hits(self, ranked: list[tuple[int, float]], mode: str,
              explain: Callable[[int, float], Explanation]) -> list[Hit]:
        docs = self.db.documents_by_key(k for k, _ in ranked)
        hits = []
        for rank, (key, score) in enumerate(ranked, start=1):
            doc_id, title, text, _ = docs[key]
            hits.append(Hit(doc_id=doc_id, score=score, title=title, text=text, rank=rank, mode=mode,
                            _explain=lambda key=key, score=score: explain(key, score)))
        return hits
