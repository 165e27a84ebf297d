"""Query-time retrieval: dense, BM25, HippoRAG 2 (fact linking) and HippoRAG 1 (entity linking).

Every query runs in one :class:`~memory.core.ReadView`: the storage in a read
transaction and the derived state (faiss, graph, BM25) at the same generation, so
what it returns is one committed state and a forgotten passage is never returned
after its forget returned. A query's *scope* (an ``as_of`` time slice and a
``where`` metadata filter) decides which passages and facts it may see, in every
mode, before anything is ranked.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

import numpy as np

from graphs.kg import GraphMatrix, Node
from graphs.localppr import SparseValues
from graphs.retrieve import Ranking, Seed, entity_seeds, fact_seeds, merge_seeds, passage_prior, rank_passages
from graphs.temporal import WalkSlice, as_of_slice

from .config import RetrievalConfig
from .documents import check_argument
from .errors import InvalidQueryError, StaleResultError
from .explain import Explanation, Hit, explain_graph_hit
from .scope import Scope, parse_where, query_scope
from .temporal import query_period
from .timeexpr import Interval, mentioned_periods

if TYPE_CHECKING:
    from .core import ReadView, StoreCore

__all__ = ["retrieve", "MODES", "QueryTrace", "edge_weights", "fuse_rankings", "prefer_period", "last_trace"]

logger = logging.getLogger(__name__)

MODES = ("hipporag", "hipporag1", "dense", "bm25", "hybrid")
_TRACES = threading.local()
_T = TypeVar("_T")


@dataclass
class QueryTrace:
    """What a query did: seconds per stage, the PPR seeds, the linked facts and the walk.

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
    generation: int = 0
    #: The walk's ranking (graph modes; unpacks as the walked matrix and exact scores),
    #: read by :attr:`node_scores`.
    walk: Ranking | None = field(default=None, repr=False)

    @property
    def node_scores(self) -> dict[Node, float]:
        """PPR mass of the 50 strongest entity nodes (graph modes; computed when asked)."""
        if self.walk is None:
            return {}
        matrix, scores = self.walk
        rows = matrix.rows_of_kind("entity")
        strongest = rows[np.lexsort((rows, -scores[rows]))][:50]
        return {matrix.nodes[r]: float(scores[r]) for r in strongest if scores[r] > 0}


class _Concurrent(Generic[_T]):
    """A call run on its own thread: :meth:`result` joins it and returns (or raises) what it did.

    A new thread per call, not a pool: nothing is shared between queries or survives a fork.
    """

    def __init__(self, function: Callable[..., _T], *args: Any) -> None:
        self._outcome: tuple[bool, Any] = (False, RuntimeError("the call has not finished"))
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(function, args), name="memory-query",
                                        daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., _T], args: tuple[Any, ...]) -> None:
        try:
            self._outcome = (True, function(*args))
        except BaseException as error:  # handed to the caller by result()
            self._outcome = (False, error)
        finally:
            self._done.set()

    def join(self) -> None:
        """Wait until the call has finished, even through a Ctrl-C (re-raised once it has).

        Not ``Thread.join``: an interrupted join marks a running thread dead
        (cpython#90882, seen on 3.11), so a second join would return at once.
        """
        interrupted: BaseException | None = None
        while not self._done.is_set():
            try:
                self._done.wait()
            except BaseException as error:  # KeyboardInterrupt: the call must not outlive the view
                interrupted = interrupted or error
        if interrupted is not None:
            raise interrupted

    def result(self) -> _T:
        """The call's return value; re-raises its exception."""
        self.join()
        done, value = self._outcome
        if not done:
            raise value
        return value


@dataclass
class _FactCandidates:
    """The facts nearest a query (key, normalised score), their (subject, relation, object)
    keys and entity names, and the cross-encoder's judgement when one was started."""

    linked: list[tuple[int, float]]
    facts: dict[int, tuple[int, str, int]]
    names: dict[int, str]
    judgement: _Concurrent[np.ndarray] | None = None

    def named(self, key: int) -> tuple[str, str, str]:
        """A fact as (subject name, relation, object name)."""
        subject, relation, obj = self.facts[key]
        return self.names[subject], relation, self.names[obj]

    def text(self, key: int, separator: str = " ") -> str:
        """A fact as words: "subject relation object"."""
        return separator.join(self.named(key))

    def wait(self) -> None:
        """Wait for the judgement, if one is under way."""
        if self.judgement is not None:
            self.judgement.join()


def _recognised(linked: list[tuple[int, float]], logits: np.ndarray,
                config: RetrievalConfig) -> list[tuple[int, float]]:
    """The linked facts the cross-encoder judged relevant (recognition memory), best first."""
    order = sorted(range(len(linked)), key=lambda i: (-logits[i], i))
    kept = [i for i in order[:config.fact_top_k] if logits[i] >= config.fact_filter_threshold]
    if config.fact_weight == "recognition":  # the filter's confidence scales the fact's weight
        return [(linked[i][0], linked[i][1] / (1.0 + float(np.exp(-logits[i])))) for i in kept]
    return [linked[i] for i in kept]


def last_trace() -> QueryTrace | None:
    """The trace of the calling thread's last query."""
    return getattr(_TRACES, "trace", None)


# -- rankings and fusion -------------------------------------------------------------------------------

def _min_max(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float64)
    span = scores.max() - scores.min()
    return (scores - scores.min()) / span if span > 0 else np.ones_like(scores)


def _dense_led(walked: list[tuple[int, float]], lead: list[int], ranking: Ranking) -> list[tuple[int, float]]:
    """The ``lead`` passages first, then the walk's order; scores stay PPR mass, in rank order.

    A lead passage's score is raised to the best score after it, so scores never rise
    down the list.
    """
    if not lead:
        return walked
    chosen = set(lead)
    rest = [(key, score) for key, score in walked if key not in chosen]
    best = rest[0][1] if rest else 0.0
    index = ranking.matrix.index
    rows = np.array([index.get(("passage", key), -1) for key in lead], dtype=np.int64)
    walk_scores = np.zeros(len(lead))
    if (rows >= 0).any():
        walk_scores[rows >= 0] = ranking.scores_of(rows[rows >= 0])
    head = [(key, max(float(score), best)) for key, score in zip(lead, walk_scores)]
    for i in range(len(head) - 2, -1, -1):  # keep the lead's own order non-increasing
        head[i] = (head[i][0], max(head[i][1], head[i + 1][1]))
    return head + rest


def _best_indices(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores``, best first, ties by the smaller id.

    The same order as a full ``np.lexsort((ids, -scores))[:k]``, from a partial sort: the
    candidates are every score at least the k-th largest (so ties at the boundary stay).

    >>> _best_indices(np.array([0.1, 0.9, 0.5, 0.9]), np.array([10, 11, 12, 9]), 2).tolist()
    [3, 1]
    """
    n = len(scores)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        candidates = np.arange(n)
    else:
        kth = np.partition(scores, n - k)[n - k]  # from the top end: faster than negating
        candidates = np.flatnonzero(scores >= kth)
    return candidates[np.lexsort((ids[candidates], -scores[candidates]))][:k]


@dataclass(frozen=True)
class _DenseScores:
    """Every in-scope passage's dense similarity to the query, as parallel arrays."""

    ids: np.ndarray
    scores: np.ndarray

    @property
    def low(self) -> float:
        """The lowest score (min-max normalisation's zero)."""
        return float(self.scores.min()) if len(self.scores) else 0.0

    def normalised(self, score: float) -> float:
        """``score`` min-max normalised over every passage in scope."""
        span = float(self.scores.max()) - self.low if len(self.scores) else 0.0
        return (score - self.low) / span if span > 0 else 1.0

    def best(self, n: int) -> list[int]:
        """The ``n`` most similar passages, best first (ties by key)."""
        return [int(k) for k in self.ids[_best_indices(self.scores, self.ids, n)]]

    def score(self, key: int) -> float:
        """One passage's score (0 when it is out of scope)."""
        return float(self.scores_of([key])[0])

    @cached_property
    def _lookup(self) -> SparseValues:
        return SparseValues(self.ids, self.scores)

    def scores_of(self, keys: list[int]) -> list[float]:
        """Scores of some passages (0 for one out of scope)."""
        return self._lookup(np.asarray(keys, dtype=np.int64)).tolist()


def edge_weights(config: RetrievalConfig) -> dict[str, float]:
    """Multiplier per edge kind for the walk, from the retrieval configuration.

    >>> edge_weights(RetrievalConfig(synonymy=False, topic_edge_weight=2.0))
    {'fact': 1.0, 'mention': 1.0, 'topic': 2.0, 'synonym': 0.0}
    """
    return {"fact": 1.0, "mention": 1.0, "topic": config.topic_edge_weight,
            "synonym": 1.0 if config.synonymy else 0.0}


def fuse_rankings(graph_hits: list[Hit], dense_hits: list[Hit], dense_lead: int, top_k: int) -> list[Hit]:
    """Hybrid ranking: the best ``dense_lead`` dense hits, then the graph ranking.

    Scores are on one scale, in rank order: the reciprocal of the fused rank (1, 1/2,
    1/3...); each hit's explanation names the ranking it came from and its score there.

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
        note = f"hybrid: {hit.mode} rank {hit.rank} (score {hit.score:.4g}); "
        fused.append(dataclasses.replace(
            hit, rank=len(fused) + 1, mode="hybrid", score=1.0 / (len(fused) + 1),
            _explain=lambda hit=hit, note=note: dataclasses.replace(
                hit.explain(), mode="hybrid", summary=note + hit.explain().summary)))
    return fused


def prefer_period(hits: list[Hit], period: Interval) -> list[Hit]:
    """The hits whose text mentions a time in ``period`` first, each group in its order.

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
            explain = (lambda hit=hit, note=note: dataclasses.replace(hit.explain(),
                                                                      summary=note + hit.explain().summary))
            hit = dataclasses.replace(hit, rank=rank, _explain=explain)
        else:
            hit = dataclasses.replace(hit, rank=rank)
        ranked.append(hit)
    return ranked


def retrieve(core: "StoreCore", query: Any, top_k: int = 5, mode: str = "hipporag",
             config: RetrievalConfig | None = None, as_of: Any = None, where: Any = None,
             explain: bool = False) -> list[Hit]:
    """Rank passages for a query; see :meth:`memory.MemoryStore.retrieve`."""
    check_argument(query, "query")
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidQueryError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise InvalidQueryError("top_k must be a positive integer")
    if config is not None and not isinstance(config, RetrievalConfig):
        raise InvalidQueryError("config must be a RetrievalConfig")
    conditions = parse_where(where) if where is not None else None
    config = config or core.config.retrieval
    period = query_period(core.config.temporal, query, as_of)
    # a time the question names is part of what it asks about; an explicit as_of only says when to look
    depth = core.config.temporal.period_rerank_depth if as_of is None and period is not None else 0
    with core.view() as view:
        retriever = _Retriever(view, core, query_scope(view, period, conditions))
        retriever.trace.as_of = period.start if period else None
        if depth > 0 and period is not None:
            hits = prefer_period(retriever.ranked(query, max(top_k, depth), mode, config), period)[:top_k]
        else:
            hits = retriever.ranked(query, top_k, mode, config)
        if explain:
            hits = [_with_explanation(hit) for hit in hits]
    _TRACES.trace = retriever.trace
    return hits


def _with_explanation(hit: Hit) -> Hit:
    explanation = hit.explain()
    return dataclasses.replace(hit, _explain=lambda: explanation)


class _Retriever:
    """Runs the retrieval modes in one read view."""

    def __init__(self, view: "ReadView", core: "StoreCore", scope: Scope) -> None:
        self.view = view
        self.core = core
        self.scope = scope
        self.trace = QueryTrace(generation=view.generation)
        self._explaining = False

    @property
    def derived(self) -> Any:
        return self.view.derived

    def ranked(self, query: str, top_k: int, mode: str, config: RetrievalConfig) -> list[Hit]:
        self.trace.mode = mode
        if len(self.derived.vectors["document"]) == 0:
            return []
        if mode == "bm25":
            return self._bm25(query, top_k)
        graph_mode = "hipporag" if mode == "hybrid" else mode
        started = time.perf_counter()
        phrases: list[str] | None = None
        if mode == "dense" or not self._links_phrases(graph_mode, config):
            query_vector = self.core.models.embedder.encode([query], "query")
        else:  # the query is encoded on a second thread (the model call releases the GIL) while this one parses it
            encoding = _Concurrent(self.core.models.embedder.encode, [query], "query")
            try:
                phrases = self.core.models.query_phrases(query, config.query_phrases == "named")
            finally:
                encoding.join()
            query_vector = encoding.result()
        self.trace.embedding = time.perf_counter() - started
        if mode == "dense":
            return self._dense(query_vector, top_k)
        graph_hits = self._graph(query, query_vector, top_k, graph_mode, config, phrases)
        if mode == "hybrid":
            return fuse_rankings(graph_hits, self._dense(query_vector, top_k), config.hybrid_dense_lead, top_k)
        return graph_hits

    # -- lexical and dense ----------------------------------------------------------------------

    def _bm25(self, query: str, top_k: int) -> list[Hit]:
        import bm25s

        retriever, keys = self.derived.bm25(self.view.storage)
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab or not keys:
            return []
        excluded = self.scope.excluded_documents
        k = min(top_k + len(excluded), len(keys))
        results, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        ranked = [(keys[int(i)], float(s)) for i, s in zip(results[0], scores[0])
                  if s > 0 and keys[int(i)] not in excluded][:top_k]
        return self._hits(ranked, "bm25", lambda key, score: Explanation(
            "bm25", f"BM25 score {score:.3f} over title and text"))

    def _dense(self, query_vector: np.ndarray, top_k: int) -> list[Hit]:
        started = time.perf_counter()
        excluded = self.scope.excluded_documents
        scores, ids = self.derived.vectors["document"].search(query_vector, top_k + len(excluded))
        ranked = [(int(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0 and int(i) not in excluded][:top_k]
        self.trace.ranking = time.perf_counter() - started
        return self._hits(ranked, "dense", lambda key, score: Explanation(
            "dense", f"cosine similarity {score:.3f} between query and passage embeddings"))

    # -- graph modes ----------------------------------------------------------------------------

    def _link(self, query: str, query_vector: np.ndarray, mode: str, config: RetrievalConfig,
              phrases: list[str] | None) -> list[Seed]:
        """Entity seeds: linked facts (``hipporag``) and/or the query's parsed ``phrases`` (both modes).

        In ``hipporag`` mode the cross-encoder judges the candidate facts on a second thread
        while this one links the query's phrases (the model calls release the GIL).
        """
        if mode == "hipporag1":
            seeds = self._link_phrases(query, phrases or [], config, 1.0, whole_query_fallback=True)
        else:
            candidates = self._fact_candidates(query, query_vector, config)
            try:
                linked = ([] if phrases is None else
                          self._link_phrases(query, phrases, config, config.entity_link_weight))
            finally:
                candidates.wait()
            seeds = self._fact_seeds(candidates, config) + linked
        if config.bank_seeds > 0 and self.view.storage.meta.get("bank_config") is not None:
            from .bank.recall import entity_links

            links = entity_links(self.view, query, config.bank_seeds)
            named = {("entity", key): (name, score) for key, score, name in links}
            seeds += [dataclasses.replace(seed, reason="memory bank predicts {!r} ({:.3f})".format(*named[seed.node]))
                      for seed in entity_seeds(links, self.derived.graph, config.node_specificity,
                                               config.bank_seed_weight)]
        return merge_seeds(seeds)

    def _fact_candidates(self, query: str, query_vector: np.ndarray, config: RetrievalConfig) -> _FactCandidates:
        """The facts nearest the query, named; the cross-encoder's judgement started (when configured).

        HippoRAG 2: the query-fact scores are min-max normalised over all facts in scope;
        the best ``fact_top_k`` are linked, or the best ``fact_candidates`` go to the filter.
        """
        ids, scores = self.derived.vectors["fact"].all_scores(query_vector)
        holding = self.scope.holding_facts
        if holding is not None:
            keep = np.isin(ids, np.fromiter(holding, np.int64, len(holding)))
            ids, scores = ids[keep], scores[keep]
        if len(ids) == 0:
            return _FactCandidates([], {}, {})
        normalised = _min_max(scores)
        filtered = config.fact_filter == "cross-encoder"
        depth = config.fact_candidates if filtered else config.fact_top_k
        linked = [(int(ids[i]), float(normalised[i])) for i in _best_indices(normalised, ids, depth)]
        storage = self.view.storage
        facts = storage.graph.facts_by_key(k for k, _ in linked)
        names = storage.graph.entity_names({e for s, _, o in facts.values() for e in (s, o)})
        linked = [(key, score) for key, score in linked if key in facts]
        candidates = _FactCandidates(linked, facts, names)
        if filtered and linked:
            texts = [candidates.text(key) for key, _ in linked]
            candidates.judgement = _Concurrent(self.core.models.cross_encoder.score, query, texts)
        return candidates

    def _fact_seeds(self, candidates: _FactCandidates, config: RetrievalConfig) -> list[Seed]:
        """Seeds from the linked facts (those the cross-encoder judged relevant, when it judges)."""
        linked, facts = candidates.linked, candidates.facts
        if candidates.judgement is not None:
            linked = _recognised(linked, candidates.judgement.result(), config)
        self.trace.facts = [candidates.named(k) for k, _ in linked]
        return fact_seeds([(facts[k][0], facts[k][2], score, f"({candidates.text(k, ', ')}) {score:.3f}")
                           for k, score in linked], self.derived.graph, config.node_specificity)

    @staticmethod
    def _links_phrases(mode: str, config: RetrievalConfig) -> bool:
        """Whether ``mode`` links the query's own phrases (``hipporag`` may weigh them 0)."""
        return mode == "hipporag1" or config.entity_link_weight > 0

    def _link_phrases(self, query: str, phrases: list[str], config: RetrievalConfig, weight: float,
                      whole_query_fallback: bool = False) -> list[Seed]:
        # HippoRAG 1: each named entity (or noun phrase) of the query -> its nearest entity.
        # In hipporag mode the query as a whole is linked too when an entity is as close to
        # it as a synonym would be (a query that names a node, e.g. a passage's title).
        whole = not whole_query_fallback and config.whole_query_link_threshold <= 1.0
        if not phrases and whole_query_fallback:
            phrases = [query]
        texts = phrases + ([query] if whole and query not in phrases else [])
        if not texts:
            return []
        vectors = self.core.models.embedder.encode(texts, "entity")
        scores, ids = self.derived.vectors["entity"].search(vectors, 1)
        links = [(int(ids[i][0]), float(scores[i][0]), text) for i, text in enumerate(texts)
                 if ids.shape[1] and ids[i][0] >= 0
                 and (i < len(phrases) or scores[i][0] >= config.whole_query_link_threshold)]
        return entity_seeds(links, self.derived.graph, config.node_specificity, weight)

    def _graph(self, query: str, query_vector: np.ndarray, top_k: int, mode: str,
               config: RetrievalConfig, phrases: list[str] | None) -> list[Hit]:
        started = time.perf_counter()
        seeds = self._link(query, query_vector, mode, config, phrases)
        dense = self._dense_in_scope(query_vector) if mode == "hipporag" else None
        prior = self._prior(dense, config) if dense is not None else None
        self.trace.linking = time.perf_counter() - started
        if not any(seed.node[0] == "entity" for seed in seeds):
            logger.info("no entity linked to the query; falling back to dense retrieval")
            return self._dense(query_vector, top_k)
        shown = seeds + _strongest_prior_seeds(prior, dense)
        self.trace.seeds = shown
        started = time.perf_counter()
        weights = edge_weights(config)
        graph = self.derived.graph
        method = config.ppr_method
        if method == "auto":  # the push pays off on large graphs; a small graph's power iteration is cheap
            method = "push" if len(graph.nodes) >= config.push_min_nodes else "power"
        walk_slice = self._slicer(weights.get("fact", 0.0))
        excluded = self.scope.excluded_documents
        # The walk's ranking must be right this deep. Out-of-scope passages are cut out of
        # the walk and carry no prior, so they score 0 and take no place, unless a seed sits
        # on one (an as-of query can hide hundreds: counting them all made the push refine
        # hundreds of passages).
        seeded_out = sum(1 for seed in seeds if seed.node[0] == "passage" and seed.node[1] in excluded)
        depth = top_k + seeded_out + config.dense_lead
        ranking = rank_passages(graph, seeds, config.damping, weights, tol=config.ppr_tol,
                                max_iter=config.ppr_max_iter, prior=prior, method=method,
                                top_k=depth, walk_slice=walk_slice)
        if dense is not None and config.bridge_passages > 0 and config.bridge_candidates > 0:
            bridge = self._bridge_seeds(ranking, dense, config)
            if bridge:
                seeds = seeds + bridge
                shown = shown + bridge
                self.trace.seeds = shown
                ranking = rank_passages(graph, seeds, config.damping, weights, tol=config.ppr_tol,
                                        max_iter=config.ppr_max_iter, prior=prior, method=method,
                                        top_k=depth, walk_slice=walk_slice)
        self.trace.ppr = time.perf_counter() - started
        started = time.perf_counter()
        self.trace.walk = ranking
        matrix = ranking.matrix
        lead = dense.best(config.dense_lead) if dense is not None and config.dense_lead > 0 else []
        walked = [(node[1], score) for node, score in ranking.top_passages(top_k + len(excluded) + len(lead))
                  if node[1] not in excluded]
        ranked = _dense_led(walked, lead, ranking)[:top_k]
        self.trace.ranking = time.perf_counter() - started
        notes = {key: f"opens the ranking as the passage most similar to the query (dense rank {n}, "
                      f"cosine {dense.score(key):.3f}); " for n, key in enumerate(lead, start=1)} if dense else {}

        def explain(key: int, score: float) -> Explanation:
            explanation = explain_graph_hit(self.view, mode, key, score, shown, matrix)
            note = notes.get(key)
            return dataclasses.replace(explanation, summary=note + explanation.summary) if note else explanation

        return self._hits(ranked, mode, explain, graph=(mode, shown, matrix, notes))

    def _bridge_seeds(self, ranking: Ranking, dense: "_DenseScores", config: RetrievalConfig) -> list[Seed]:
        """The bridge hop: passages titled by entities the first walk's best passages mention.

        The best ``bridge_passages`` passages of the first walk (in scope) are the first
        hop; every entity they mention that titles another passage leads to it; the
        ``bridge_candidates`` of those most similar to the query become passage seeds.
        """
        excluded = self.scope.excluded_documents
        first = [node for node, _ in ranking.top_passages(config.bridge_passages + len(excluded))
                 if node[1] not in excluded][:config.bridge_passages]
        graph = self.derived.graph
        hop = set(first)
        via: dict[int, tuple[int, int]] = {}
        # the graph's own adjacency: no whole-graph matrix is built on the query path
        for node in first:
            for entity in sorted(n for n in graph.neighbours(node) if n[0] == "entity"):
                if graph.degree(entity, "topic") == 0:
                    continue
                for target in sorted(n for n in graph.neighbours(entity) if n[0] == "passage"
                                     and "topic" in graph.edge_kinds(entity, n)):
                    if target not in hop and target[1] not in excluded:
                        via.setdefault(target[1], (node[1], entity[1]))
        if not via:
            return []
        candidates = sorted(via)
        similarity = dict(zip(candidates, dense.scores_of(candidates)))
        best = [key for key in heapq.nsmallest(config.bridge_candidates, candidates,
                                               key=lambda key: (-similarity[key], key))
                if similarity[key] > dense.low]
        storage = self.view.storage
        ids = storage.documents.ids({via[key][0] for key in best})
        names = storage.graph.entity_names({via[key][1] for key in best})
        return [Seed(("passage", key), config.bridge_weight * dense.normalised(similarity[key]),
                     f"bridge hop: passage {ids.get(via[key][0])} mentions {names.get(via[key][1])!r}, which "
                     f"titles this passage; dense similarity {similarity[key]:.3f}") for key in best]

    def _dense_in_scope(self, query_vector: np.ndarray) -> "_DenseScores":
        """Every passage in scope with its dense score, as arrays."""
        ids, scores = self.derived.vectors["document"].all_scores(query_vector)
        excluded = self.scope.excluded_documents
        if excluded:
            keep = ~np.isin(ids, np.fromiter(excluded, np.int64, len(excluded)))
            ids, scores = ids[keep], scores[keep]
        return _DenseScores(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64))

    def _prior(self, dense: "_DenseScores", config: RetrievalConfig) -> tuple[np.ndarray, np.ndarray] | None:
        """Every passage in scope seeded with its dense score (HippoRAG 2's passage nodes), as arrays."""
        keys, weights = passage_prior(dense.ids, dense.scores, config.passage_node_weight)
        return (keys, weights) if len(keys) else None

    def _slicer(self, fact_weight: float) -> WalkSlice | None:
        """The scope's slice of the walk, applied on the fly, or None when nothing is hidden."""
        scope = self.scope
        if not scope.removed_fact_weight and not scope.excluded_documents:
            return None
        removed = {(("entity", s), ("entity", o)): support * fact_weight
                   for (s, o), support in scope.removed_fact_weight.items()}
        excluded = {("passage", key) for key in scope.excluded_documents}
        return as_of_slice(removed, excluded)

    def _hits(self, ranked: list[tuple[int, float]], mode: str, explain: Callable[[int, float], Explanation],
              graph: tuple[str, list[Seed], GraphMatrix, dict[int, str]] | None = None) -> list[Hit]:
        docs = self.view.storage.documents.by_key(k for k, _ in ranked)
        view, core, generation = self.view, self.core, self.view.generation
        hits = []
        for rank, (key, score) in enumerate(ranked, start=1):
            doc_id, title, text, _ = docs[key]

            def later(key: int = key, score: float = score, doc_id: str = doc_id) -> Explanation:
                return _explain_later(core, generation, doc_id, key, score, explain, graph, view)

            hits.append(Hit(doc_id=doc_id, score=score, title=title, text=text, rank=rank, mode=mode,
                            _explain=later, generation=generation))
        return hits


def _explain_later(core: "StoreCore", generation: int, doc_id: str, key: int, score: float,
                   explain: Callable[[int, float], Explanation],
                   graph: tuple[str, list[Seed], GraphMatrix, dict[int, str]] | None,
                   original: "ReadView") -> Explanation:
    """An explanation computed when asked: in the hit's own view while it is open, else in a
    new one, refused if anything was removed since the hit was retrieved."""
    if graph is None:
        return explain(key, score)
    mode, seeds, matrix, notes = graph
    if core.storage.engine.in_transaction and original.storage.meta.generation == generation:
        return explain(key, score)
    with core.view() as view:
        if view.generation != generation and view.storage.meta.removed_since(generation):
            raise StaleResultError(f"the store changed since {doc_id!r} was retrieved (something was forgotten); "
                                   "retrieve again, or retrieve with explain=True")
        explanation = explain_graph_hit(view, mode, key, score, seeds, matrix)
        note = notes.get(key)
        return dataclasses.replace(explanation, summary=note + explanation.summary) if note else explanation



def _strongest_prior_seeds(prior: tuple[np.ndarray, np.ndarray] | None, dense: _DenseScores | None,
                           shown: int = 8) -> list[Seed]:
    """The strongest passage seeds of the dense prior as :class:`Seed` objects (for traces and
    explanations; the walk itself takes the prior as arrays)."""
    if prior is None or dense is None:
        return []
    keys, weights = prior
    top = _best_indices(weights, keys, shown)
    similarity = dense.scores_of(keys[top].tolist())
    return [Seed(("passage", int(keys[i])), float(weights[i]), f"dense similarity {score:.3f}")
            for i, score in zip(top, similarity)]
