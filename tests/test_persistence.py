"""The derived state follows the database: the vector snapshot, catch-up and rebuilds."""

from __future__ import annotations

import numpy as np

from memory import MemoryStore
from memory.check import check_store
from memory.snapshot import SNAPSHOT_NAME, read_snapshot, snapshot_generation
from memory.storage import EMBEDDING_KINDS

from .conftest import BRIDGE_CORPUS
from .helpers import count, graph

QUESTION = "In which country was Alice Varga born?"


def _ranking(store):
    return [(h.doc_id, round(h.score, 10)) for h in store.retrieve(QUESTION, top_k=6)]


def test_a_missing_or_damaged_snapshot_is_rebuilt_from_the_database(make_store, tmp_path, embedder, extractor):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    expected = _ranking(store)
    generation = store.generation
    store.close()
    cache = tmp_path / "store" / "cache"
    assert snapshot_generation(cache) == generation  # written on close
    for damage in (lambda: (cache / SNAPSHOT_NAME).write_bytes(b"corrupt"), lambda: (cache / SNAPSHOT_NAME).unlink()):
        damage()
        with MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor) as reopened:
            assert _ranking(reopened) == expected
            assert reopened.core.last_catch_up.source == "rebuild"
            assert check_store(reopened) == []
        assert snapshot_generation(cache) == generation


def test_a_reopened_store_starts_from_the_snapshot_and_catches_up_from_the_log(make_store, tmp_path, embedder,
                                                                              extractor):
    store = make_store()
    store.ingest(BRIDGE_CORPUS[:3])
    store.close()
    writer = MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor)
    reader = MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor)
    assert reader.stats()["documents"] == 3 and reader.core.last_catch_up.source == "snapshot"
    writer.ingest(BRIDGE_CORPUS[3:])
    assert [h.doc_id for h in reader.retrieve("Where was Bob Mills born?", mode="dense", top_k=1)] == ["bob"]
    assert reader.core.last_catch_up.source == "log" and reader.core.last_catch_up.changes > 0
    assert check_store(reader) == []
    writer.close()
    reader.close()


def test_after_a_forget_no_older_snapshot_stays_and_none_can_be_written_back(make_store, tmp_path, embedder,
                                                                              extractor):
    store = make_store()
    for doc in BRIDGE_CORPUS:
        store.ingest(doc)
    cache = tmp_path / "store" / "cache"
    stale = MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor)
    stale.stats()  # loaded at the generation before the forget
    stale_snapshot = stale.core._derived.capture()
    store.close()  # writes a snapshot of the current generation
    reopened = MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor)
    reopened.forget("bob")
    assert snapshot_generation(cache) is None  # the older snapshot held bob's vectors: deleted
    from memory.derived import persist_snapshot

    assert not persist_snapshot(cache, stale_snapshot)  # a process that is behind cannot write it back
    stale.close()
    assert snapshot_generation(cache) is None
    reopened.close()  # the current state is written again, and equals the database
    snapshot = read_snapshot(cache, EMBEDDING_KINDS)
    with MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor) as final:
        assert snapshot is not None and snapshot.generation == final.generation
        with final.view() as view:
            for kind in EMBEDDING_KINDS:
                keys, vectors = view.storage.vectors.get(kind)
                assert np.array_equal(snapshot.arrays[kind][0], keys)
                assert np.array_equal(snapshot.arrays[kind][1], vectors)
        assert sum(len(snapshot.arrays[k][0]) for k in EMBEDDING_KINDS) == count(final, "embeddings")


def test_incremental_graph_equals_graph_rebuilt_from_database(make_store, tmp_path, embedder, extractor,
                                                              sample_corpus):
    store = make_store()
    store.ingest(sample_corpus[:25])
    store.ingest(sample_corpus[25:40])
    # Replace the newest document (its entities hold the largest keys) with new content.
    store.ingest({**sample_corpus[39], "text": "A new text about the Zambezi River and Victoria Falls."})
    store.ingest({**sample_corpus[3], "text": "Another rewrite, naming Lake Kariba."})
    incremental = graph(store)
    store.close()
    (tmp_path / "store" / "cache" / SNAPSHOT_NAME).unlink()
    with MemoryStore(tmp_path / "store", embedder=embedder, extractor=extractor) as rebuilt:
        fresh = graph(rebuilt)
    assert incremental.nodes == fresh.nodes
    assert incremental.edge_counts() == fresh.edge_counts()
    a, b = incremental.matrix(), fresh.matrix()
    assert a.nodes == b.nodes
    assert abs(a.matrix - b.matrix).max() < 1e-12


def test_reading_a_store_does_not_load_the_encoder(make_store, tmp_path):
    make_store().ingest(BRIDGE_CORPUS)
    with MemoryStore(tmp_path / "store") as reopened:
        assert reopened.stats()["documents"] == len(BRIDGE_CORPUS)
        assert reopened.get("alice").title == "Alice Varga"
        assert reopened.core.models.loaded_embedder is None  # only the stored vector size was needed


def test_check_reports_a_stale_snapshot_and_a_derived_state_unlike_the_database(make_store, tmp_path):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    store.close()
    cache = tmp_path / "store" / "cache"
    planted = (cache / SNAPSHOT_NAME).read_bytes()  # holds every passage's vector
    store = make_store()
    store.forget(BRIDGE_CORPUS[0]["id"])
    store.close()
    (cache / SNAPSHOT_NAME).write_bytes(planted)  # a snapshot from before the forget, as a stale writer would leave
    reopened = make_store()
    problems = check_store(reopened)
    assert any("vectors of removed rows" in p for p in problems), problems
    assert not any("claims generation" in p for p in problems)  # its generation is older, not newer
    # a derived state that drifted from the database (as a lost catch-up would leave it)
    with reopened._core.view() as view:
        keys, _ = view.derived.vectors["document"].arrays()
        view.derived.vectors["document"].remove([int(keys[0])])
    assert any("the document index holds" in p for p in check_store(reopened))
