"""PPR against networkx and python-igraph on random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from graphs.ppr import personalized_pagerank


def _random_graph(seed: int, n: int, p: float) -> tuple[nx.Graph, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    graph = nx.gnp_random_graph(n, p, seed=seed)
    graph.add_nodes_from(range(n))  # keep isolated (dangling) nodes
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.1, 5.0))
    matrix = nx.to_scipy_sparse_array(graph, nodelist=range(n), weight="weight", format="csr")
    return graph, sp.csr_matrix(matrix)


def _reset(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    reset = np.zeros(n)
    chosen = rng.choice(n, size=max(1, n // 10), replace=False)
    reset[chosen] = rng.uniform(0.1, 1.0, size=len(chosen))
    return reset


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("damping", [0.3, 0.5, 0.85])
def test_matches_networkx_pagerank(seed, damping):
    n = 30 + 10 * seed
    graph, matrix = _random_graph(seed, n, p=0.08)
    reset = _reset(seed, n)
    ours = personalized_pagerank(matrix, reset, damping=damping, tol=1e-13, max_iter=1000)
    personalization = {i: reset[i] for i in range(n) if reset[i] > 0}
    reference = nx.pagerank(graph, alpha=damping, personalization=personalization,
                            weight="weight", tol=1e-14, max_iter=10000)
    expected = np.array([reference[i] for i in range(n)])
    assert np.abs(ours - expected).max() < 1e-6
    assert ours.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
def test_matches_igraph_prpack(seed):
    igraph = pytest.importorskip("igraph")
    n = 50 + 20 * seed
    graph, matrix = _random_graph(seed, n, p=0.05)
    reset = _reset(seed, n)
    ours = personalized_pagerank(matrix, reset, damping=0.5, tol=1e-13, max_iter=1000)
    g = igraph.Graph(n=n, edges=list(graph.edges))
    g.es["weight"] = [graph[u][v]["weight"] for u, v in graph.edges]
    reference = g.personalized_pagerank(damping=0.5, reset=reset.tolist(), weights="weight",
                                        implementation="prpack")
    assert np.abs(ours - np.array(reference)).max() < 1e-6


def test_restart_only_when_damping_zero():
    _, matrix = _random_graph(1, 20, 0.2)
    reset = _reset(1, 20)
    assert np.allclose(personalized_pagerank(matrix, reset, damping=0.0), reset / reset.sum())


@pytest.mark.parametrize("bad", [np.zeros(5), -np.ones(5), np.full(5, np.nan), np.ones(4)])
def test_rejects_bad_reset(bad):
    matrix = sp.csr_matrix(np.ones((5, 5)) - np.eye(5))
    with pytest.raises(ValueError):
        personalized_pagerank(matrix, bad)
