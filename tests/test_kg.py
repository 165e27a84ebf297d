"""Incremental graph edits equal a rebuild; networkx export."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graphs.kg import KnowledgeGraph


def _edges(rng: random.Random, nodes: list, count: int) -> list:
    kinds = ["fact", "mention", "synonym"]
    return [(rng.choice(nodes), rng.choice(nodes), rng.choice(kinds), rng.uniform(0.5, 2)) for _ in range(count)]


def _as_dense(graph: KnowledgeGraph) -> dict:
    built = graph.matrix()
    dense = built.matrix.toarray()
    return {(a, b): dense[i, j] for a, i in built.index.items() for b, j in built.index.items() if dense[i, j]}


def test_replace_edges_equals_rebuild():
    rng = random.Random(3)
    nodes = [("entity", i) for i in range(30)] + [("passage", i) for i in range(10)]
    edges = [e for e in _edges(rng, nodes, 150) if e[0] != e[1]]
    incremental = KnowledgeGraph()
    incremental.replace_edges(nodes, edges)
    # Rewrite the edges of a few nodes: drop some, add new ones.
    touched = set(rng.sample(nodes, 5))
    kept = [e for e in edges if e[0] not in touched and e[1] not in touched]
    new = [e for e in _edges(rng, nodes, 40) if (e[0] in touched or e[1] in touched) and e[0] != e[1]]
    incremental.replace_edges(touched, new)
    rebuilt = KnowledgeGraph()
    rebuilt.replace_edges(nodes, kept + new)
    a, b = _as_dense(incremental), _as_dense(rebuilt)
    assert a.keys() == b.keys()
    assert all(np.isclose(a[k], b[k]) for k in a)


def test_matrix_is_symmetric_and_filters_kinds():
    graph = KnowledgeGraph()
    e1, e2, p = ("entity", 1), ("entity", 2), ("passage", 1)
    graph.replace_edges([e1, e2, p], [(e1, e2, "fact", 2.0), (e1, e2, "synonym", 0.9), (e1, p, "mention", 1.0),
                                      (e1, p, "topic", 1.0)])
    full = graph.matrix().matrix
    assert (full != full.T).nnz == 0
    assert full[graph.matrix().index[e1], graph.matrix().index[e2]] == 2.9
    assert full[graph.matrix().index[e1], graph.matrix().index[p]] == 2.0
    no_synonyms = graph.matrix(["fact", "mention"])
    assert no_synonyms.matrix[no_synonyms.index[e1], no_synonyms.index[e2]] == 2.0
    assert no_synonyms.matrix[no_synonyms.index[e1], no_synonyms.index[p]] == 1.0
    scaled = graph.matrix({"fact": 1.0, "mention": 1.0, "topic": 3.0, "synonym": 0.0})
    assert scaled.matrix[scaled.index[e1], scaled.index[p]] == 4.0
    assert scaled.matrix[scaled.index[e1], scaled.index[e2]] == 2.0
    with pytest.raises(ValueError, match="unknown edge kind"):
        graph.matrix(["fact", "hyperlink"])
    assert graph.edge_counts() == {"fact": 1, "mention": 1, "topic": 1, "synonym": 1}
    graph.remove_nodes([e2])
    assert graph.edge_counts() == {"fact": 0, "mention": 1, "topic": 1, "synonym": 0}


def test_to_networkx_keeps_kinds_and_labels():
    graph = KnowledgeGraph()
    e1, p = ("entity", 1), ("passage", 4)
    graph.replace_edges([e1], [(e1, p, "mention", 1.0)])
    exported = graph.to_networkx({e1: "paris", p: "doc-4"})
    assert exported.nodes["entity:1"]["label"] == "paris"
    assert exported.edges["entity:1", "passage:4"] == {"weight": 1.0, "mention": 1.0}


def test_edge_arrays_round_trip():
    rng = random.Random(7)
    nodes = [("entity", i) for i in range(25)] + [("passage", i) for i in range(8)]
    graph = KnowledgeGraph()
    graph.replace_edges(nodes, [e for e in _edges(rng, nodes, 120) if e[0] != e[1]])
    graph.add_nodes([("entity", 99)])  # isolated nodes survive
    arrays = graph.edge_arrays()
    assert arrays["node_kinds"].dtype == np.int8 and arrays["weights"].dtype == np.float64
    assert (arrays["sources"] < arrays["targets"]).all()
    rebuilt = KnowledgeGraph.from_edge_arrays(**arrays)
    assert rebuilt.nodes == graph.nodes
    assert _as_dense(rebuilt) == _as_dense(graph)
    for node in graph.nodes:
        assert rebuilt.neighbours(node) == graph.neighbours(node)
        for other in graph.neighbours(node):
            assert rebuilt.edge_kinds(node, other) == graph.edge_kinds(node, other)
    assert rebuilt.edge_counts() == graph.edge_counts()
    again = rebuilt.edge_arrays()
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)


def test_from_edge_arrays_rejects_bad_arrays():
    good = KnowledgeGraph()
    good.replace_edges([("entity", 1)], [(("entity", 1), ("passage", 2), "mention", 1.0)])
    arrays = good.edge_arrays()
    for key, value, message in [("kinds", np.array([9], np.int8), "edge kind"),
                                ("targets", np.array([5]), "out of range"),
                                ("weights", np.array([1.0, 2.0]), "length"),
                                ("node_kinds", np.array([0, 3], np.int8), "node kind")]:
        with pytest.raises(ValueError, match=message):
            KnowledgeGraph.from_edge_arrays(**(arrays | {key: value}))


def test_matrix_caches_rows_by_kind_and_passage_lookup():
    graph = KnowledgeGraph()
    graph.replace_edges([("entity", 1)], [(("entity", 1), ("passage", 7), "mention", 1.0),
                                          (("entity", 1), ("passage", 3), "mention", 1.0)])
    built = graph.matrix()
    assert built.rows_of_kind("passage").tolist() == [1, 2]
    assert built.rows_of_kind("entity") is built.rows_of_kind("entity")
    assert built.passage_rows(np.array([7, 3, 5])).tolist() == [2, 1, -1]
    assert built.walk is built.walk and built.walk.passages.tolist() == [1, 2]


def test_degree_by_kind_follows_every_edit() -> None:
    rng = np.random.default_rng(7)
    graph = KnowledgeGraph()
    nodes = [("entity", k) for k in range(8)] + [("passage", k) for k in range(6)]
    kinds = ["fact", "mention", "topic", "synonym"]

    def brute(node, kind):
        return sum(1 for other in graph.neighbours(node) if kind in graph.edge_kinds(node, other))

    for step in range(300):
        action = rng.integers(3)
        picked = [nodes[i] for i in rng.choice(len(nodes), size=3, replace=False)]
        if action == 0:
            edges = [(picked[0], picked[i], kinds[rng.integers(4)], 1.0) for i in (1, 2)]
            graph.replace_edges([picked[0]], edges)
        elif action == 1:
            graph.remove_nodes([picked[0]])
        else:
            graph.replace_edges([], [(picked[1], picked[2], kinds[rng.integers(4)], 0.5)])
        for node in nodes:
            for kind in kinds:
                assert graph.degree(node, kind) == brute(node, kind), (step, node, kind)
