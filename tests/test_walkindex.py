"""The incrementally kept walk structure equals a rebuild after any sequence of edits."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphs.kg import EDGE_KINDS, KnowledgeGraph
from graphs.retrieve import Seed, rank_passages

NODES = [("entity", i) for i in range(12)] + [("passage", i) for i in range(6)]
KINDS = {"fact": 1.0, "mention": 1.0, "topic": 3.0, "synonym": 0.5}

edge = st.tuples(st.sampled_from(NODES), st.sampled_from(NODES), st.sampled_from(EDGE_KINDS),
                 st.floats(0.25, 3.0))
edit = st.one_of(
    st.tuples(st.just("replace"), st.lists(st.sampled_from(NODES), min_size=1, max_size=3),
              st.lists(edge, max_size=8)),
    st.tuples(st.just("remove"), st.lists(st.sampled_from(NODES), min_size=1, max_size=2)),
    st.tuples(st.just("add"), st.lists(st.sampled_from(NODES), min_size=1, max_size=2)),
)


def _apply(graph: KnowledgeGraph, step) -> None:
    if step[0] == "replace":
        nodes = set(step[1])
        edges = [e for e in step[2] if e[0] != e[1] and (e[0] in nodes or e[1] in nodes)]
        # replace_edges wants every current edge of the nodes: keep those it does not rewrite
        kept = [(a, b, kind, w) for a in nodes for b in graph.neighbours(a)
                for kind, w in graph.edge_kinds(a, b).items() if False]
        graph.replace_edges(nodes, edges + kept)
    elif step[0] == "remove":
        graph.remove_nodes(step[1])
    else:
        graph.add_nodes(step[1])


def _by_node(matrix, nodes, index) -> dict:
    dense = matrix.toarray()
    return {(a, b): round(dense[i, j], 9) for a, i in index.items() for b, j in index.items()
            if abs(dense[i, j]) > 1e-12}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edge, min_size=1, max_size=25), st.lists(edit, min_size=1, max_size=12))
def test_walk_view_equals_a_rebuild_after_edits(initial, edits):
    graph = KnowledgeGraph()
    graph.replace_edges(NODES[:4], [e for e in initial if e[0] != e[1]])
    graph.walk_view(KINDS)
    for step in edits:
        _apply(graph, step)
        view = graph.walk_view(KINDS)
        rebuilt = graph.matrix(KINDS)
        assert set(view.index) == set(rebuilt.index) == graph.nodes
        assert _by_node(view.matrix, view.nodes, view.index) == _by_node(
            rebuilt.matrix, rebuilt.nodes, rebuilt.index)
        rows = np.arange(view.walk.size)
        assert np.allclose(view.walk.degree_of(rows), np.asarray(view.matrix.sum(axis=1)).ravel())
        assert abs(view.walk.total_degree - rebuilt.matrix.sum()) < 1e-9
        for kind in ("entity", "passage"):
            assert sorted(view.nodes[r] for r in view.rows_of_kind(kind)) == sorted(
                n for n in graph.nodes if n[0] == kind)
        keys = np.arange(7)
        found = view.passage_rows(keys)
        assert [view.nodes[r] if r >= 0 else None for r in found.tolist()] == [
            ("passage", k) if ("passage", k) in graph.nodes else None for k in keys.tolist()]
        seeds = [Seed(n, 1.0, "s") for n in NODES[:3] if n in graph.nodes]
        prior = (np.arange(6), np.linspace(0.01, 0.05, 6))
        if seeds:
            push = rank_passages(graph, seeds, 0.5, KINDS, prior=prior, top_k=3)
            power = rank_passages(graph, seeds, 0.5, KINDS, prior=prior, method="power",
                                  tol=1e-14, max_iter=2000)
            rows = push.local.candidates
            assert np.all(np.abs(push.scores_of(rows) - power.scores_of(rows))
                          <= push.local.bounds + 1e-9)


def test_many_small_writes_rebuild_once_they_reach_a_tenth_of_the_graph():
    graph = KnowledgeGraph()
    entities = [("entity", i) for i in range(200)]
    graph.replace_edges(entities, [(entities[i], entities[i + 1], "fact", 1.0) for i in range(199)])
    first = graph.walk_view()
    for i in range(3):
        graph.replace_edges([("passage", i)], [(entities[i], ("passage", i), "mention", 1.0)])
        view = graph.walk_view()
        assert view.walk.adjacency is first.walk.adjacency  # caught up, not rebuilt
    for i in range(3, 60):
        graph.replace_edges([("passage", i)], [(entities[i], ("passage", i), "mention", 1.0)])
        graph.walk_view()
    assert graph.walk_view().walk.adjacency is not first.walk.adjacency  # rebuilt by now
    assert len(graph._log) == 0


def test_a_node_removed_and_added_back_between_queries():
    graph = KnowledgeGraph()
    e, p = ("entity", 1), ("passage", 1)
    graph.replace_edges([e], [(e, p, "mention", 1.0), (e, ("entity", 2), "fact", 1.0)])
    graph.walk_view()
    graph.remove_nodes([e])
    graph.replace_edges([e], [(e, p, "mention", 2.0)])
    view = graph.walk_view()
    rebuilt = graph.matrix()
    assert _by_node(view.matrix, view.nodes, view.index) == _by_node(
        rebuilt.matrix, rebuilt.nodes, rebuilt.index)
