"""Each misuse raises a named error and changes nothing."""

from __future__ import annotations

import json
import sqlite3

import pytest

from memory import (
    ConfigError,
    EmbeddingConfig,
    GraphConfig,
    IncompatibleStoreError,
    InvalidDocumentError,
    MemoryStore,
    MemoryStoreError,
    NotAStoreError,
    RetrievalConfig,
    StoreConfig,
)
from memory.storage import DB_FILENAME

from memory.dump import canonical_dump
from .conftest import BRIDGE_CORPUS


@pytest.mark.parametrize("docs, message", [
    ([], "no documents"),
    ({"text": ""}, "empty"),
    ({"text": "   \n"}, "empty"),
    ({"title": "no text"}, "missing"),
    ({"text": 42}, "must be a string"),
    ([{"text": "fine"}, {"text": None}], "#1"),
    (42, "expected"),
    ({"text": "x", "id": ""}, "'id' is empty"),
    ({"text": "x", "metadata": {"k": object()}}, "JSON"),
    ({"text": "x", "title": 3}, "title"),
])
def test_invalid_documents(make_store, docs, message):
    store = make_store()
    store.ingest(BRIDGE_CORPUS[:1])
    before = canonical_dump(store)
    with pytest.raises(InvalidDocumentError, match=message):
        store.ingest(docs)
    assert canonical_dump(store) == before


def test_path_that_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("hello")
    with pytest.raises(NotAStoreError, match="is a file"):
        MemoryStore(target)


def test_non_empty_directory_without_store(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotAStoreError, match="non-empty"):
        MemoryStore(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_foreign_sqlite_file(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    sqlite3.connect(folder / DB_FILENAME).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(NotAStoreError, match="not a memory store"):
        MemoryStore(folder)


def test_garbage_file_named_like_a_store(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / DB_FILENAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotAStoreError):
        MemoryStore(folder)


def test_incompatible_schema_version(make_store, tmp_path):
    store = make_store()
    store.ingest(BRIDGE_CORPUS[:1])
    store.close()
    conn = sqlite3.connect(tmp_path / "store" / DB_FILENAME)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(IncompatibleStoreError, match="schema version 999"):
        MemoryStore(tmp_path / "store")


def test_incompatible_configuration(make_store, tmp_path):
    make_store().close()
    with pytest.raises(IncompatibleStoreError, match="embedding"):
        MemoryStore(tmp_path / "store", StoreConfig(embedding=EmbeddingConfig(model="other-model")))
    with pytest.raises(IncompatibleStoreError, match="graph"):
        MemoryStore(tmp_path / "store", StoreConfig(graph=GraphConfig(synonymy_threshold=0.5)))


def test_embedder_mismatch_is_caught(make_store, tmp_path, extractor):
    store = make_store()
    store.ingest(BRIDGE_CORPUS[:1])
    store.close()

    class OtherEmbedder:
        name = "other"
        dim = 384

        def encode(self, texts, kind):
            raise AssertionError("must not be used")

    reopened = MemoryStore(tmp_path / "store", embedder=OtherEmbedder(), extractor=extractor)
    with pytest.raises(IncompatibleStoreError, match="other"):
        reopened.retrieve("Alice")
    reopened.close()


def test_closed_store_refuses_work(make_store):
    store = make_store()
    store.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        store.ingest(BRIDGE_CORPUS[:1])


def test_stored_config_round_trips(make_store, tmp_path):
    config = StoreConfig(graph=GraphConfig(synonymy_threshold=0.9, synonymy_top_k=3))
    make_store(config=config).close()
    with MemoryStore(tmp_path / "store") as reopened:
        assert reopened.config.graph == config.graph
    stored = json.loads(sqlite3.connect(tmp_path / "store" / DB_FILENAME).execute(
        "SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    assert stored["graph"]["synonymy_top_k"] == 3


@pytest.mark.parametrize("field, value, message", [
    ("damping", 1.0, "damping"),
    ("passage_node_weight", -0.1, "passage_node_weight"),
    ("fact_top_k", 0, "fact_top_k"),
    ("entity_link_weight", -1.0, "entity_link_weight"),
    ("query_phrases", "some", "query_phrases"),
    ("fact_filter", "llm", "fact_filter"),
    ("fact_candidates", 2, "fact_candidates"),
    ("hybrid_dense_lead", -1, "hybrid_dense_lead"),
])
def test_bad_retrieval_settings_are_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        RetrievalConfig(**{field: value})
