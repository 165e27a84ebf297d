"""Derived indexes carry the database generation and are rebuilt when stale."""

from __future__ import annotations

import json

from memory import MemoryStore

from .conftest import BRIDGE_CORPUS

QUESTION = "In which country was Alice Varga born?"


def _ranking(store):
    return [(h.doc_id, round(h.score, 10)) for h in store.retrieve(QUESTION, top_k=6)]


def test_missing_or_stale_indexes_are_rebuilt(make_store, tmp_path, embedder, extractor):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    expected = _ranking(store)
    generation = store.stats()["generation"]
    store.close()
    folder = tmp_path / "store"
    meta = json.loads((folder / "fact.json").read_text())
    assert meta["generation"] == generation
    (folder / "entity.faiss").unlink()
    (folder / "fact.json").write_text(json.dumps({**meta, "generation": generation - 1}))
    (folder / "document.faiss").write_bytes(b"corrupt")
    with MemoryStore(folder, embedder=embedder, extractor=extractor) as reopened:
        assert _ranking(reopened) == expected
    assert json.loads((folder / "fact.json").read_text())["generation"] == generation
    assert (folder / "entity.faiss").exists()


def test_index_files_match_database_after_each_write(make_store, tmp_path):
    store = make_store()
    for doc in BRIDGE_CORPUS:
        store.ingest(doc)
        generation = store.stats()["generation"]
        for kind in ("document", "entity", "fact"):
            meta = json.loads((tmp_path / "store" / f"{kind}.json").read_text())
            assert meta["generation"] == generation
            assert meta["count"] == store.db.query(
                "SELECT count(*) FROM embeddings WHERE kind = ?", (kind,))[0][0]


def test_incremental_graph_equals_graph_rebuilt_from_database(make_store, tmp_path, embedder, extractor,
                                                              sample_corpus):
    store = make_store()
    store.ingest(sample_corpus[:25])
    store.ingest(sample_corpus[25:40])
    # Replace the newest document (its entities hold the largest keys) with new content.
    store.ingest({**sample_corpus[39], "text": "A new text about the Zambezi River and Victoria Falls."})
    store.ingest({**sample_corpus[3], "text": "Another rewrite, naming Lake Kariba."})
    incremental = store.derived.graph
    rebuilt = MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor)
    fresh = rebuilt.derived.graph
    assert incremental.nodes == fresh.nodes
    assert incremental.edge_counts() == fresh.edge_counts()
    a, b = incremental.matrix(), fresh.matrix()
    assert a.nodes == b.nodes
    assert abs(a.matrix - b.matrix).max() < 1e-12
    rebuilt.close()


def test_reading_a_store_does_not_load_the_encoder(make_store, tmp_path):
    make_store().ingest(BRIDGE_CORPUS)
    with MemoryStore(tmp_path / "store") as reopened:
        assert reopened.stats()["documents"] == len(BRIDGE_CORPUS)
        assert reopened.get("alice").title == "Alice Varga"
        assert reopened._embedder is None  # only the stored vector size was needed
