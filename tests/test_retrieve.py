"""Retrieval modes and explanations."""

from __future__ import annotations

import pytest

from memory import InvalidQueryError, RetrievalConfig

from .conftest import BOTH_BACKENDS, BRIDGE_CORPUS
from .helpers import rows, graph

BACKENDS = BOTH_BACKENDS

QUESTION = "In which country was Alice Varga born?"


@pytest.fixture
def bridge_store(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    return store


@pytest.mark.parametrize("mode", ["hipporag", "hipporag1", "dense", "bm25", "hybrid"])
def test_every_mode_ranks_the_directly_relevant_passage(bridge_store, mode):
    hits = bridge_store.retrieve(QUESTION, top_k=3, mode=mode)
    assert 1 <= len(hits) <= 3
    assert "alice" in [h.doc_id for h in hits[:2]]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(hits[i].score >= hits[i + 1].score for i in range(len(hits) - 1))  # hybrid too: one scale
    assert hits[0].text == bridge_store.get(hits[0].doc_id).text
    assert hits[0].mode == mode


def test_hipporag_reaches_the_bridge_passage_through_the_graph(bridge_store):
    hits = bridge_store.retrieve(QUESTION, top_k=3, mode="hipporag")
    lakeview = next(h for h in hits if h.doc_id == "lakeview")
    explanation = lakeview.explain()
    assert explanation.mode == "hipporag"
    seeds = {s.name: s for s in explanation.seeds}
    assert "alice varga" in seeds and seeds["alice varga"].kind == "entity"
    assert "linked fact" in seeds["alice varga"].reason
    assert all(s.weight > 0 for s in explanation.seeds)
    assert explanation.paths, "a graph hit explains itself with paths"
    entity_seeds = {s.name for s in explanation.seeds if s.kind == "entity"}
    for path in explanation.paths:
        if path.edges:  # a walk from an entity seed, never a trivial passage -> itself
            assert path.nodes[-1] == "passage lakeview ('Lakeview')" and path.nodes[0] in entity_seeds
            assert len(path.edges) == len(path.nodes) - 1
        else:  # the passage's own seed, named by document id, with its reason
            assert path.nodes[0].startswith("passage lakeview ('Lakeview'): ")
    multi_hop = [p for p in explanation.paths if p.nodes[0] == "alice varga"]
    assert multi_hop and "lakeview" in multi_hop[0].nodes
    assert "bear in" in multi_hop[0].edges[0]  # the fact edge that carried the walk
    as_dict = lakeview.to_dict(explain=True)
    assert as_dict["explanation"]["paths"][0]["nodes"][-1] == "passage lakeview ('Lakeview')"


def test_hipporag1_links_query_phrases_to_entities(bridge_store):
    hit = bridge_store.retrieve(QUESTION, top_k=1, mode="hipporag1")[0]
    explanation = hit.explain()
    assert any(s.name == "alice varga" and "query phrase" in s.reason for s in explanation.seeds)


def test_dense_and_bm25_explain_their_scores(bridge_store):
    for mode, word in (("dense", "cosine"), ("bm25", "BM25")):
        explanation = bridge_store.retrieve(QUESTION, top_k=1, mode=mode)[0].explain()
        assert word in explanation.summary and not explanation.paths


def test_ablation_switches_change_the_walk(bridge_store):
    base = bridge_store.retrieve(QUESTION, top_k=6)
    plain = bridge_store.retrieve(QUESTION, top_k=6, config=RetrievalConfig(
        synonymy=False, node_specificity=False, passage_node_weight=0.0, damping=0.3))
    assert {h.doc_id for h in base} and {h.doc_id for h in plain}
    assert [round(h.score, 9) for h in base] != [round(h.score, 9) for h in plain]


def _linked(store) -> list[str]:
    """Reasons of the entity seeds of the store's last query."""
    return [s.reason for s in store.last_query.seeds if s.node[0] == "entity"]


def test_cross_encoder_keeps_only_the_relevant_linked_facts(bridge_store):
    bridge_store.retrieve(QUESTION, top_k=6, config=RetrievalConfig(fact_filter="none"))
    unfiltered = " ".join(_linked(bridge_store))
    hits = bridge_store.retrieve(QUESTION, top_k=6)  # default: cross-encoder filter
    filtered = " ".join(_linked(bridge_store))
    assert "(alice varga, bear in, lakeview)" in filtered
    for irrelevant in ("(harrow, have, famous school)", "(norland, be country in, europe)"):
        assert irrelevant in unfiltered and irrelevant not in filtered
    assert [h.doc_id for h in hits[:2]] == ["alice", "lakeview"]  # the bridge passage comes second


def test_query_entities_are_linked_beside_facts(bridge_store):
    bridge_store.retrieve(QUESTION, top_k=3)
    reasons = _linked(bridge_store)
    assert any("query phrase 'Alice Varga'" in r and "linked fact" in r for r in reasons)  # one seed per node
    assert not any("'country'" in r for r in reasons)  # a common noun is not a named entity
    bridge_store.retrieve(QUESTION, top_k=3, config=RetrievalConfig(query_phrases="all"))
    assert any("query phrase 'country'" in r for r in _linked(bridge_store))
    bridge_store.retrieve(QUESTION, top_k=3, config=RetrievalConfig(entity_link_weight=0.0))
    assert not any("query phrase" in r for r in _linked(bridge_store))


def test_hybrid_opens_with_the_best_dense_hit_then_follows_the_graph(bridge_store):
    dense = [h.doc_id for h in bridge_store.retrieve("Which town has a famous school?", 6, "dense")]
    graph = [h.doc_id for h in bridge_store.retrieve("Which town has a famous school?", 6, "hipporag")]
    hybrid = bridge_store.retrieve("Which town has a famous school?", 6, "hybrid")
    ids = [h.doc_id for h in hybrid]
    assert ids[0] == dense[0]
    assert ids[1:] == [d for d in graph if d != dense[0]][:5]
    assert [h.rank for h in hybrid] == list(range(1, 7)) and {h.mode for h in hybrid} == {"hybrid"}
    assert hybrid[0].explain().summary.startswith("hybrid: dense rank 1 (score ")
    assert [h.score for h in hybrid] == [1 / r for r in range(1, 7)]
    assert hybrid[1].explain().summary.startswith("hybrid: hipporag rank")
    lead2 = bridge_store.retrieve("Which town has a famous school?", 6, "hybrid",
                                  RetrievalConfig(hybrid_dense_lead=2))
    assert [h.doc_id for h in lead2[:2]] == dense[:2]


def test_empty_store_returns_no_hits(make_store):
    assert make_store().retrieve("anything") == []


@pytest.mark.parametrize("query, kwargs, message", [
    ("", {}, "query is empty"),
    ("   ", {}, "query is empty"),
    (None, {}, "query must be a string"),
    ("\u200b\u200b", {}, "no visible character"),
    ("\ud800 lone", {}, "not valid Unicode"),
    ("q", {"mode": "magic"}, "unknown mode"),
    ("q", {"top_k": 0}, "top_k"),
])
def test_bad_queries_raise_named_errors(bridge_store, query, kwargs, message):
    with pytest.raises(InvalidQueryError, match=message):
        bridge_store.retrieve(query, **kwargs)


def test_synonym_edges_are_explained_by_their_cosine(make_store):
    store = make_store()
    store.ingest([
        {"id": "t", "title": "Teutberga", "text": "Teutberga was a queen. She was a daughter of Bosonid Boso the Elder."},
        {"id": "l", "title": "Lothair II", "text": "Lothair II married Teutberga, daughter of Boso the Elder."},
        {"id": "x", "title": "Cats", "text": "Cats are small animals."},
    ])
    paths = [str(p) for h in store.retrieve("Whose daughter was Teutberga?", top_k=2) for p in h.explain().paths]
    labels = [edge for p in paths for edge in p.split("--[")[1:] if edge.startswith("synonym")]
    assert labels, paths
    for label in labels:
        cosine = float(label.split("cosine ")[1].split("]")[0])
        assert 0.8 <= cosine <= 1.0  # the stored similarity, not the summed edge weight


def test_passages_are_tied_to_the_entity_their_title_names(bridge_store):
    kg = graph(bridge_store)
    names = {name: key for key, name in rows(bridge_store, "SELECT key, name FROM entities")}
    docs = {doc_id: key for key, doc_id in rows(bridge_store, "SELECT key, id FROM documents")}
    lakeview = ("passage", docs["lakeview"])
    assert kg.edge_kinds(("entity", names["lakeview"]), lakeview) == {"mention": 1.0, "topic": 1.0}
    assert kg.edge_kinds(("entity", names["norland"]), lakeview) == {"mention": 1.0}
    assert bridge_store.stats()["edges"]["topic"] == len(BRIDGE_CORPUS)
    hits = bridge_store.retrieve(QUESTION, top_k=3)
    lakeview_hit = next(h for h in hits if h.doc_id == "lakeview")
    assert any("title of" in p.edges for p in lakeview_hit.explain().paths)
    untied = bridge_store.retrieve(QUESTION, top_k=3, config=RetrievalConfig(topic_edge_weight=0.0))
    assert [round(h.score, 9) for h in hits] != [round(h.score, 9) for h in untied]


def test_local_push_and_power_iteration_rank_alike(bridge_store):
    for query in (QUESTION, "Which town lies on the Brisk River?", "Where was Bob Mills born?"):
        for as_of in (None, "2020"):
            power = bridge_store.retrieve(query, top_k=4, config=RetrievalConfig(ppr_method="power"), as_of=as_of)
            push = bridge_store.retrieve(query, top_k=4, config=RetrievalConfig(ppr_method="push"), as_of=as_of)
            assert [h.doc_id for h in push] == [h.doc_id for h in power]
            assert [round(h.score, 6) for h in push] == pytest.approx([round(h.score, 6) for h in power], abs=1e-4)


def test_out_of_scope_passages_do_not_deepen_the_push(make_store, monkeypatch):
    # passages outside a `where` scope are cut out of the walk and carry no prior, so the
    # push must rank as deep as asked, not as deep as asked plus every hidden passage
    import graphs.retrieve

    store = make_store()
    store.ingest([dict(doc, metadata={"part": "kept" if i % 3 == 0 else "hidden"})
                  for i, doc in enumerate(BRIDGE_CORPUS)])
    hidden = sum(1 for i in range(len(BRIDGE_CORPUS)) if i % 3)
    asked = []
    original = graphs.retrieve.local_ppr

    def recording(*args, **kwargs):
        asked.append(args[5])  # top_k
        return original(*args, **kwargs)

    monkeypatch.setattr(graphs.retrieve, "local_ppr", recording)
    scope = {"part": "kept"}
    push = store.retrieve(QUESTION, top_k=2, config=RetrievalConfig(ppr_method="push"), where=scope)
    power = store.retrieve(QUESTION, top_k=2, config=RetrievalConfig(ppr_method="power"), where=scope)
    assert [h.doc_id for h in push] == [h.doc_id for h in power]
    assert asked and max(asked) == 2 + RetrievalConfig().dense_lead < 2 + hidden


def test_model_calls_run_beside_the_query_parse_and_never_outlive_the_query(bridge_store, monkeypatch):
    # the query is encoded on a second thread while it is parsed, and the cross-encoder
    # judges the linked facts on one while the phrases are linked; their failures are the
    # caller's, and a failure on the calling thread still waits for them
    import threading
    import time

    from memory import MemoryStoreError

    models = bridge_store.core.models
    reranker, embedder = models.cross_encoder, models.embedder
    original_score, original_encode = reranker.score, embedder.encode
    threads = {}

    def failing(name):
        def call(*args):
            threads[name] = threading.current_thread()
            raise MemoryStoreError(f"{name} down")
        return call

    def failing_query_encoder(texts, kind):
        return failing("encoder")(texts) if kind == "query" else original_encode(texts, kind)

    for name, target, replacement in [("reranker", reranker, failing("reranker")),
                                      ("encoder", embedder, failing_query_encoder)]:
        monkeypatch.setattr(target, "score" if name == "reranker" else "encode", replacement)
        with pytest.raises(MemoryStoreError, match=f"{name} down"):
            bridge_store.retrieve(QUESTION)
        assert threads[name] is not threading.current_thread()
        monkeypatch.undo()

    finished = []

    def slow_score(query, texts):
        time.sleep(0.3)
        finished.append(query)
        return original_score(query, texts)

    def failing_phrase_encoder(texts, kind):
        if kind == "entity":
            raise MemoryStoreError("phrase encoder down")
        return original_encode(texts, kind)

    monkeypatch.setattr(reranker, "score", slow_score)
    monkeypatch.setattr(embedder, "encode", failing_phrase_encoder)
    with pytest.raises(MemoryStoreError, match="phrase encoder down"):
        bridge_store.retrieve(QUESTION)
    assert finished == [QUESTION]  # joined before retrieve returned
    monkeypatch.undo()

    encoded = []

    def slow_query_encoder(texts, kind):
        if kind == "query":
            time.sleep(0.3)
            encoded.append(texts[0])
        return original_encode(texts, kind)

    def failing_parse(query, named):
        raise MemoryStoreError("no parser")

    monkeypatch.setattr(embedder, "encode", slow_query_encoder)
    monkeypatch.setattr(models, "query_phrases", failing_parse)
    with pytest.raises(MemoryStoreError, match="no parser"):
        bridge_store.retrieve(QUESTION)
    assert encoded == [QUESTION]  # the query's encoding was waited for too
    monkeypatch.undo()
    assert [h.doc_id for h in bridge_store.retrieve(QUESTION, top_k=2)] == ["alice", "lakeview"]


def test_an_interrupted_wait_still_waits_for_the_helper_thread(monkeypatch):
    # a Ctrl-C while the query waits for a helper must not let the helper outlive the query
    # (an interrupted Thread.join would mark the running thread dead and return)
    import threading
    import time

    from memory.retrieval import _Concurrent

    finished = threading.Event()

    def slow():
        time.sleep(0.3)
        finished.set()
        return 7

    helper = _Concurrent(slow)
    real_wait = helper._done.wait
    calls = []

    def interrupted_once(timeout=None):
        calls.append(timeout)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_wait(timeout)

    monkeypatch.setattr(helper._done, "wait", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        helper.join()
    assert finished.is_set() and len(calls) >= 2  # raised only once the call was over
    assert helper.result() == 7
