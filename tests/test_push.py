"""Local push PPR against power iteration (the reference) on random graphs, seeds and slices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphs.kg import KnowledgeGraph
from graphs.localppr import PushSettings, SparseValues, local_ppr, prior_diffusion
from graphs.ppr import personalized_pagerank, transition_matrix
from graphs.push import Walk, forward_push, unique_ints
from graphs.retrieve import Seed, passage_prior, rank_passages, slice_walk
from graphs.synthetic import hipporag_graph, random_query
from graphs.temporal import as_of_slice, slice_matrix

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def graphs_and_resets(draw, slices: bool = False):
    """A random weighted graph (passages 0..p-1, then entities; some isolated nodes), entity
    seeds, a prior on every passage and optionally a slice."""
    passages = draw(st.integers(2, 12))
    entities = draw(st.integers(1, 20))
    size = passages + entities
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    density = draw(st.floats(0.05, 0.5))
    upper = sp.random(size, size, density=density, random_state=rng, format="csr",
                      data_rvs=lambda k: rng.uniform(0.2, 4.0, k))
    upper = sp.triu(upper, k=1)
    lower_passages = np.zeros((size, size), dtype=bool)
    lower_passages[:passages, :passages] = True  # passages touch entities only
    dense = upper.toarray()
    dense[lower_passages] = 0.0
    adjacency = sp.csr_matrix(dense + dense.T)
    count = draw(st.integers(0, 4))
    seed_rows = rng.choice(np.arange(passages, size), size=min(count, entities), replace=False)
    seed_weights = rng.uniform(0.05, 1.0, len(seed_rows))
    prior = rng.uniform(0.0, 0.05, passages) * draw(st.sampled_from([0.0, 1.0, 10.0]))
    if seed_weights.sum() + prior.sum() <= 0:
        prior[0] = 0.01
    excluded = removed = None
    if slices:
        excluded = rng.choice(passages, size=draw(st.integers(0, passages // 2)), replace=False)
        coo = sp.triu(adjacency, k=1).tocoo()
        pick = rng.random(len(coo.data)) < 0.3
        removed = (coo.row[pick].astype(np.int64), coo.col[pick].astype(np.int64),
                   coo.data[pick] * rng.uniform(0.2, 1.5, pick.sum()))
        prior[excluded] = 0.0
        if seed_weights.sum() + prior.sum() <= 0:
            keep = np.setdiff1d(np.arange(passages), excluded)
            prior[keep[0] if len(keep) else 0] = 0.01
    return adjacency, passages, seed_rows, seed_weights, prior, excluded, removed


def _exact(adjacency: sp.csr_matrix, passages: int, seed_rows, seed_weights, prior, damping=0.5):
    reset = np.zeros(adjacency.shape[0])
    reset[:passages] += prior
    np.add.at(reset, seed_rows, seed_weights)
    return personalized_pagerank(adjacency, reset, damping, tol=1e-14, max_iter=2000)


def _operator(adjacency: sp.csr_matrix, vector: np.ndarray, damping: float) -> np.ndarray:
    """L(s) = (1 - a) sum_k a^k (P.T)^k s, mass lost at nodes without edges."""
    transposed, _ = transition_matrix(adjacency)
    out, current = np.zeros_like(vector), vector.copy()
    for _ in range(200):
        out += (1 - damping) * current
        current = damping * (transposed @ current)
    return out


@SETTINGS
@given(graphs_and_resets(), st.sampled_from([1e-2, 1e-4, 1e-8]), st.sampled_from([0.3, 0.5, 0.85]))
def test_forward_push_keeps_its_invariant(case, eps, damping):
    adjacency, passages, seed_rows, seed_weights, prior, _, _ = case
    walk = Walk(adjacency)
    sources = [(np.arange(passages), prior + 0.01), (np.array([passages]), np.array([1.0]))]
    state = forward_push(walk, sources, damping, eps)
    degree = walk.degree_of(state.nodes)
    assert (state.residual <= eps * degree[None, :] + 1e-15).all()
    for i, (nodes, weights) in enumerate(sources):
        source = np.zeros(walk.size)
        np.add.at(source, nodes, weights)
        estimate, residual = np.zeros(walk.size), np.zeros(walk.size)
        estimate[state.nodes], residual[state.nodes] = state.estimate[i], state.residual[i]
        expected = _operator(adjacency, source, damping)
        assert np.allclose(estimate + _operator(adjacency, residual, damping), expected, atol=1e-12)


@SETTINGS
@given(graphs_and_resets(), st.integers(1, 5),
       st.sampled_from([PushSettings(), PushSettings(depth=0, eps_candidate=1e-2, candidates=2),
                        PushSettings(depth=2, hub_cap=2, eps_seed=1e-2)]))
def test_local_ppr_is_within_its_bound_and_exact_where_certified(case, top_k, push):
    adjacency, passages, seed_rows, seed_weights, prior, _, _ = case
    exact = _exact(adjacency, passages, seed_rows, seed_weights, prior)
    walk = Walk(adjacency, passages=np.arange(passages))
    result = local_ppr(walk, seed_rows, seed_weights, prior, 0.5, top_k, **push.as_kwargs())
    refined = result.candidates
    assert np.all(np.abs(result.scores_of(refined) - exact[refined]) <= result.bounds + 1e-12)
    others = np.setdiff1d(np.arange(passages), refined)
    degree = walk.degree_of(others)
    assert np.all(np.abs(result.scores_of(others) - exact[others])
                  <= result.estimate_bound * degree + 1e-12)
    # Wherever two refined scores differ by more than their bounds, the exact order agrees.
    scores = result.scores_of(refined)
    apart = np.abs(scores[:, None] - scores[None, :]) > result.bounds[:, None] + result.bounds[None, :]
    agree = np.sign(scores[:, None] - scores[None, :]) == np.sign(exact[refined][:, None]
                                                                  - exact[refined][None, :])
    assert agree[apart].all()
    if result.certified:
        order = np.lexsort((np.arange(passages), -exact[:passages]))
        expected = [int(r) for r in order[:top_k] if exact[r] > 0]
        listed = result.top(top_k).tolist()
        # A passage exact PPR scores 0 may follow the positive ones, its estimate within its bound.
        assert listed[:len(expected)] == expected
        for extra in listed[len(expected):]:
            assert exact[extra] == 0
            where = np.flatnonzero(refined == extra)
            bound = (result.bounds[where[0]] if len(where)
                     else result.estimate_bound * walk.degree_of(np.array([extra]))[0])
            assert result.scores_of(np.array([extra]))[0] <= bound + 1e-12


@SETTINGS
@given(graphs_and_resets(slices=True))
def test_local_ppr_on_a_lazy_slice_matches_the_sliced_copy(case):
    adjacency, passages, seed_rows, seed_weights, prior, excluded, removed = case
    walk = Walk(adjacency, passages=np.arange(passages)).slice(excluded, removed)
    copy = walk.materialize()
    nodes = [("passage", i) if i < passages else ("entity", i) for i in range(walk.size)]
    from graphs.kg import GraphMatrix
    reference = slice_matrix(GraphMatrix(adjacency, nodes, {n: i for i, n in enumerate(nodes)}),
                             {(nodes[a], nodes[b]): w for a, b, w in zip(*removed)},
                             {nodes[i] for i in excluded.tolist()})
    assert abs(copy - reference.matrix).max() < 1e-12
    assert np.allclose(walk.degree_of(np.arange(walk.size)), np.asarray(copy.sum(axis=1)).ravel())
    exact = _exact(copy, passages, seed_rows, seed_weights, prior)
    result = local_ppr(walk, seed_rows, seed_weights, prior, 0.5, 3)
    refined = result.candidates
    assert np.all(np.abs(result.scores_of(refined) - exact[refined]) <= result.bounds + 1e-12)
    assert not set(result.top(3).tolist()) & set(excluded.tolist()) or prior[excluded].sum() > 0


@SETTINGS
@given(graphs_and_resets(), st.integers(0, 3))
def test_prior_diffusion_equals_the_series(case, depth):
    adjacency, passages, _, _, prior, _, _ = case
    walk = Walk(adjacency)
    degree = walk.degree_of(np.arange(walk.size))
    beta = 0.3 * prior.sum() / max(degree.sum(), 1e-12)
    density = np.zeros(walk.size)
    density[:passages] = np.where(degree[:passages] > 0, prior / np.where(degree[:passages] > 0,
                                                                        degree[:passages], 1), 0)
    deviation = (density - beta) * degree
    transposed, _ = transition_matrix(adjacency)
    expected, current = np.zeros(walk.size), deviation.copy()
    for j in range(1, depth + 1):
        current = transposed @ current
        expected += 0.5 * 0.5 ** j * current
    nodes = np.arange(walk.size)
    values, sampled = prior_diffusion(walk, nodes, SparseValues(nodes, density), beta, 0.5, depth,
                                      hub_cap=None)
    assert np.allclose(values, expected, atol=1e-12) and not sampled.any()


def test_benchmark_shaped_graph_gives_the_exact_top5():
    graph = hipporag_graph(300, seed=3)
    adjacency = graph.adjacency()
    walk = Walk(adjacency, passages=np.arange(graph.passages))
    rng = np.random.default_rng(0)
    for _ in range(5):
        query = random_query(graph, rng)
        prior = query.prior()
        exact = _exact(adjacency, graph.passages, query.entity_nodes, query.entity_weights, prior)
        result = local_ppr(walk, query.entity_nodes, query.entity_weights, prior, 0.5, 5)
        expected = np.lexsort((np.arange(graph.passages), -exact[:graph.passages]))[:5]
        assert result.top(5).tolist() == expected.tolist()
        assert result.stats["candidate_pushes"] > 0


def test_synthetic_graphs_are_reproducible_and_hipporag_shaped():
    a, b = hipporag_graph(200, seed=5), hipporag_graph(200, seed=5)
    assert all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("sources", "targets", "kinds", "weights"))
    assert a.entities == 10 * a.passages
    adjacency = a.adjacency()
    assert (adjacency != adjacency.T).nnz == 0
    degree = np.diff(adjacency.indptr)
    assert degree[:a.passages].min() >= 10  # every passage mentions its home entities
    assert degree[a.passages:].max() > 10 * np.median(degree[a.passages:])  # hubs
    graph = KnowledgeGraph.from_edge_arrays(a.node_kinds, a.node_keys, a.sources, a.targets,
                                            a.kinds, a.weights)
    assert sum(graph.edge_counts().values()) == len(a.sources)


def _toy_graph() -> KnowledgeGraph:
    graph = KnowledgeGraph()
    edges = [(("entity", 1), ("passage", 1), "mention", 1.0), (("entity", 1), ("passage", 2), "mention", 1.0),
             (("entity", 2), ("passage", 2), "mention", 1.0), (("entity", 2), ("passage", 3), "mention", 1.0),
             (("entity", 3), ("passage", 3), "mention", 1.0), (("entity", 1), ("entity", 2), "fact", 2.0),
             (("entity", 2), ("entity", 3), "fact", 1.0), (("entity", 3), ("passage", 4), "mention", 1.0),
             (("entity", 1), ("passage", 1), "topic", 1.0)]
    graph.replace_edges({n for e in edges for n in e[:2]}, edges)
    return graph


@pytest.mark.parametrize("with_slice", [False, True])
def test_rank_passages_push_equals_power_iteration(with_slice):
    graph = _toy_graph()
    seeds = [Seed(("entity", 1), 0.7, "a"), Seed(("entity", 3), 0.2, "b")]
    keys = np.array([1, 3, 4]) if with_slice else np.array([1, 2, 3, 4])  # as the store does
    prior = passage_prior(keys, np.linspace(0.1, 0.5, len(keys)), 0.05)
    kinds = {"fact": 1.0, "mention": 1.0, "topic": 3.0, "synonym": 1.0}
    walk_slice = (as_of_slice({(("entity", 1), ("entity", 2)): 1.0}, [("passage", 2)])
                  if with_slice else None)
    push = rank_passages(graph, seeds, 0.5, kinds, prior=prior, walk_slice=walk_slice, top_k=3)
    power = rank_passages(graph, seeds, 0.5, kinds, prior=prior, walk_slice=walk_slice,
                          method="power", tol=1e-14, max_iter=1000)
    assert [n for n, _ in push.top_passages(3)] == [n for n, _ in power.top_passages(3)]
    rows = push.local.candidates
    assert np.allclose(push.scores_of(rows), power.scores_of(rows), atol=1e-4)
    matrix, scores = push  # the former return value still unpacks, with exact scores
    assert scores.shape == (len(matrix.nodes),)
    assert np.allclose(scores, power.scores)
    if with_slice:
        assert ("passage", 2) not in [n for n, _ in push.top_passages(4)]
        copy = slice_matrix(graph.matrix(kinds), {(("entity", 1), ("entity", 2)): 1.0},
                            {("passage", 2)})
        assert abs(push.matrix.matrix - copy.matrix).max() < 1e-12  # explanations see the slice
        legacy = rank_passages(graph, seeds, 0.5, kinds, prior=prior, method="power", tol=1e-14,
                               max_iter=1000, adjust=lambda m: slice_matrix(
                                   m, {(("entity", 1), ("entity", 2)): 1.0}, {("passage", 2)}))
        assert np.allclose(legacy.scores, power.scores)


def test_passage_seeds_in_the_list_act_as_the_prior():
    graph = _toy_graph()
    keys, weights = passage_prior(np.array([1, 2, 3, 4]), np.array([0.3, 0.5, 0.1, 0.2]), 0.05)
    listed = [Seed(("entity", 2), 0.5, "a")] + [Seed(("passage", int(k)), float(w), "dense")
                                                 for k, w in zip(keys, weights)]
    a = rank_passages(graph, listed, 0.5)
    b = rank_passages(graph, [Seed(("entity", 2), 0.5, "a")], 0.5, prior=(keys, weights))
    assert a.top_passages(4) == b.top_passages(4)
    assert rank_passages(graph, [], 0.5).top_passages(3) == []
    with pytest.raises(ValueError, match="unknown method"):
        rank_passages(graph, listed, 0.5, method="magic")


def test_walk_slice_without_changes_is_the_shared_walk():
    graph = _toy_graph()
    matrix = graph.matrix()
    assert slice_walk(matrix, None) is matrix.walk
    assert slice_walk(matrix, as_of_slice({}, [])) is matrix.walk
    assert unique_ints(np.array([4, 4, 1])).tolist() == [1, 4]


def test_local_ppr_rejects_bad_input():
    walk = Walk(sp.csr_matrix(np.array([[0, 1.0], [1.0, 0]])), passages=np.array([0]))
    with pytest.raises(ValueError):
        local_ppr(walk, np.array([1]), np.array([-1.0]))
    with pytest.raises(ValueError):
        local_ppr(walk, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(1))
    with pytest.raises(ValueError):
        local_ppr(walk, np.array([1]), np.array([1.0]), np.zeros(2))


def test_a_deep_ranking_refines_every_passage_it_returns():
    graph = hipporag_graph(200, seed=4)
    walk = Walk(graph.adjacency(), passages=np.arange(graph.passages))
    query = random_query(graph, np.random.default_rng(2))
    result = local_ppr(walk, query.entity_nodes, query.entity_weights, query.prior(), 0.5, 30)
    assert set(result.top(30).tolist()) <= set(result.candidates.tolist())
