"""Ingest, reopen, replace and transaction behaviour of MemoryStore."""

from __future__ import annotations

import dataclasses

import pytest

from memory import Document, UnknownDocumentError
from memory.extract import Extraction

from memory.dump import canonical_dump
from .conftest import BOTH_BACKENDS, BRIDGE_CORPUS
from .helpers import count, reopen, rows

BACKENDS = BOTH_BACKENDS


def test_ingest_reopen_retrieve_round_trip(make_store, embedder, extractor):
    store = make_store()
    ids = store.ingest(BRIDGE_CORPUS)
    assert ids == [d["id"] for d in BRIDGE_CORPUS]
    before = [(h.doc_id, round(h.score, 12)) for h in store.retrieve("Where was Alice Varga born?")]
    stats = store.stats()
    dump = canonical_dump(store)
    store.close()
    with reopen(store, embedder=embedder, extractor=extractor) as reopened:
        assert reopened.stats()["documents"] == len(BRIDGE_CORPUS)
        assert reopened.stats()["facts"] == stats["facts"]
        assert canonical_dump(reopened) == dump
        after = [(h.doc_id, round(h.score, 12)) for h in reopened.retrieve("Where was Alice Varga born?")]
        assert after == before
        assert reopened.get("alice").text == BRIDGE_CORPUS[0]["text"]


def test_same_id_same_content_is_a_no_op(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    generation = store.stats()["generation"]
    audit_rows = count(store, "audit")
    store.ingest(BRIDGE_CORPUS[:2])
    assert store.stats()["generation"] == generation
    assert count(store, "audit") == audit_rows


def test_same_id_new_content_replaces_what_only_it_supported(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    entities = set(canonical_dump(store)["entities"])
    assert "brisk river" in entities
    store.ingest({"id": "lakeview", "title": "Lakeview", "text": "Lakeview is a small town in Norland."})
    dump = canonical_dump(store)
    assert "brisk river" not in dump["entities"]  # only the old version mentioned it
    assert "norland" in dump["entities"]  # still supported (also by the norland passage)
    assert store.get("lakeview").text == "Lakeview is a small town in Norland."
    assert len(store) == len(BRIDGE_CORPUS)


def test_replacement_equals_fresh_ingest(make_store):
    """Replacing a document leaves the same content as never having had the old one."""
    new_lakeview = {"id": "lakeview", "title": "Lakeview", "text": "Lakeview is a port city in Westmark."}
    replaced = make_store("replaced")
    replaced.ingest(BRIDGE_CORPUS)
    replaced.ingest(new_lakeview)
    fresh = make_store("fresh")
    fresh.ingest([d for d in BRIDGE_CORPUS if d["id"] != "lakeview"] + [new_lakeview])
    a, b = canonical_dump(replaced), canonical_dump(fresh)
    for part in a:
        if part != "documents":
            assert a[part] == b[part], part
    assert [d[:3] for d in a["documents"]] == [d[:3] for d in b["documents"]]


def test_same_content_under_two_ids_is_two_documents(make_store):
    store = make_store()
    text = "Lakeview is a small town in Norland."
    assert store.ingest([{"id": "a", "text": text}, {"id": "b", "text": text}]) == ["a", "b"]
    assert len(store) == 2
    support = rows(store, "SELECT count(*) FROM fact_sources")[0][0]
    facts = store.stats()["facts"]
    assert facts >= 1 and support == 2 * facts  # each fact supported by both documents


def test_default_id_is_content_hash_and_dataclass_input(make_store):
    @dataclasses.dataclass
    class Note:
        text: str
        title: str = ""

    store = make_store()
    first = store.ingest([Note("Paris is the capital of France.")])
    second = store.ingest([Document(text="Paris is the capital of France.")])
    assert first == second and len(first[0]) == 24
    assert len(store) == 1


def test_failed_batch_leaves_store_unchanged(make_store, extractor):
    class FailingExtractor:
        name = "failing-on-norland"

        def extract(self, docs):
            if any("Norland" in d.text for d in docs):
                raise RuntimeError("extractor crashed")
            return extractor.extract(docs)

    store = make_store(extractor=FailingExtractor())
    store.ingest(BRIDGE_CORPUS[:1])
    before = canonical_dump(store)
    generation = store.stats()["generation"]
    with pytest.raises(RuntimeError):
        store.ingest(BRIDGE_CORPUS[1:])
    assert canonical_dump(store) == before
    assert store.stats()["generation"] == generation
    assert "lakeview" not in store
    assert count(store, "extraction_cache") == 1  # nothing cached for the rolled-back batch
    # and the in-memory indexes still work
    assert store.retrieve("Alice Varga", top_k=1, mode="dense")[0].doc_id == "alice"


def test_extraction_cache_is_keyed_by_content(make_store, extractor):
    calls = []

    class CountingExtractor:
        name = extractor.name

        def extract(self, docs):
            calls.extend(d.id for d in docs)
            return extractor.extract(docs)

    store = make_store(extractor=CountingExtractor())
    store.ingest({"id": "one", "title": "T", "text": "Lakeview is a town in Norland."})
    store.ingest({"id": "two", "title": "T", "text": "Lakeview is a town in Norland."})
    assert calls == ["one"]
    assert isinstance(Extraction.from_json(rows(store, "SELECT payload FROM extraction_cache")[0][0]),
                      Extraction)


def test_get_unknown_id(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS[:1])
    with pytest.raises(UnknownDocumentError, match="nope"):
        store.get("nope")


def test_stats_counts(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    stats = store.stats()
    assert stats["documents"] == 6
    assert stats["entities"] == count(store, "entities") > 6
    assert stats["edges"]["mention"] == count(store, "mentions")
    assert stats["edges"]["fact"] > 0
    assert stats["bytes_on_disk"] > 0
    graph = store.to_networkx()
    assert graph.number_of_nodes() == stats["documents"] + stats["entities"]
    assert {"entity", "passage"} == {data["kind"] for _, data in graph.nodes(data=True)}


def test_audit_rows_hold_no_content(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    audit = rows(store, "SELECT action, target_hash, counts FROM audit")
    assert len(audit) == 1 and audit[0][0] == "ingest"
    assert "Alice" not in repr(audit) and "alice" not in repr(audit)
