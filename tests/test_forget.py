"""Forgetting: provenance, exactness against a store that never saw the document, no residue, audit."""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory import (
    GraphConfig,
    InvalidQueryError,
    MemoryStore,
    StoreConfig,
    UnknownDocumentError,
    UnknownEntityError,
)
from memory.check import check_store
from memory.cli import main
from memory.storage import DB_FILENAME, SCHEMA_VERSION
from memory.documents import content_hash
from memory.dump import canonical_dump, dump_lines
from memory.indexing import suppression_digest

from .conftest import BOTH_BACKENDS, BRIDGE_CORPUS
from .helpers import count, graph, location, rows

BACKENDS = BOTH_BACKENDS

CANARY = "Zorvexquil"


def _facts(store: MemoryStore) -> dict[str, list[str]]:
    return canonical_dump(store)["facts"]


def test_forget_decrements_shared_support_and_removes_what_reaches_zero(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS + [
        {"id": "alice2", "title": "Varga biography", "text": "Alice Varga was born in Lakeview. She studied in Harrow."},
    ])
    shared = "alice varga | bear in | lakeview"
    assert _facts(store)[shared] == ["alice", "alice2"]
    only_alice2 = "alice varga | study in | harrow"
    assert _facts(store)[only_alice2] == ["alice2"]
    report = store.forget("alice2")
    facts = _facts(store)
    assert facts[shared] == ["alice"]  # kept, weight 2 -> 1
    assert only_alice2 not in facts
    assert "varga biography" not in canonical_dump(store)["entities"]  # only alice2 named it
    assert report.documents == ("alice2",)
    assert report.removed["documents"] == 1 and report.removed["facts"] >= 1
    assert report.kept["facts"] >= 1 and report.kept["entities"] >= 2  # alice varga, lakeview, harrow
    assert graph(store).edge_kinds(*_fact_nodes(store, "alice varga", "lakeview"))["fact"] == 1.0
    with pytest.raises(UnknownDocumentError):
        store.get("alice2")


def _fact_nodes(store, subject, obj):
    names = {name: key for key, name in rows(store, "SELECT key, name FROM entities")}
    return ("entity", names[subject]), ("entity", names[obj])


#: One synonym per entity, so removing an entity's nearest neighbour must promote the next one.
ONE_SYNONYM = StoreConfig(graph=GraphConfig(synonymy_top_k=1))


def test_forget_recomputes_synonym_lists_that_held_a_removed_entity(make_store):
    docs = [{"id": "t", "title": "Teutberga", "text": "Teutberga was a daughter of Bosonid Boso the Elder."},
            {"id": "l", "title": "Lothair II", "text": "Lothair II married a daughter of Boso the Elder."},
            {"id": "y", "title": "Counts", "text": "Boso the Younger was a count."}]
    store = make_store("a", ONE_SYNONYM)
    store.ingest(docs)
    lists = {s: t for s, t, _ in canonical_dump(store)["synonyms"]}
    assert lists["boso the elder"] == "bosonid boso the elder"
    report = store.forget("t")
    after = canonical_dump(store)
    lists = {s: t for s, t, _ in after["synonyms"]}
    assert lists.get("boso the elder") not in (None, "bosonid boso the elder")  # recomputed, not pruned
    assert report.recomputed["synonym_lists"] >= 1
    fresh = make_store("b", ONE_SYNONYM)
    fresh.ingest([d for d in docs if d["id"] != "t"])
    assert after == canonical_dump(fresh)


_SENTENCES = [
    "Alice Varga was born in Lakeview.", "Lakeview is a town in Norland.", "Norland is a country in Europe.",
    "Bob Mills was born in Harrow.", "Harrow is a town in London.", "Alice Varga studied chemistry in Paris.",
    "Paris is the capital of France.", "The Brisk River flows through Lakeview.", "Bob Mills painted the Brisk River.",
    f"{CANARY} Dale is a village near Harrow.", "Alice M. Varga wrote a book about Lakeview Town.",
    "Bob J. Mills painted Lakeview Town.", "Norland Republic borders the Brisk River Valley.",
]
_document = st.lists(st.sampled_from(_SENTENCES), min_size=1, max_size=3, unique=True).map(" ".join)
_corpus = st.lists(_document, min_size=1, max_size=3)


def _docs(prefix: str, texts: list[str]) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": text} for i, text in enumerate(texts)]


def _build(path: Any, batches: list[list[dict]], forget: list[str], embedder, extractor, cache: Path) -> dict:
    with MemoryStore(path, ONE_SYNONYM, embedder=embedder, extractor=extractor, cache_dir=cache) as store:
        for batch in batches:
            if batch:
                store.ingest(batch)
        if forget:
            store.forget(ids=forget)
        return canonical_dump(store)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a1=_corpus, a2=st.lists(_document, max_size=2), b=_corpus)
def test_forget_b_equals_never_ingesting_b(a1, a2, b, embedder, extractor, fresh_location):
    """ingest A1, B, A2; forget B  ==  ingest A1, A2: documents, entities, facts with
    support, synonymy edges and vectors (in the database and in faiss), compared by content."""
    docs_a1, docs_a2, docs_b = _docs("a", a1), _docs("c", a2), _docs("b", b)
    with tempfile.TemporaryDirectory() as tmp:
        forgotten = _build(fresh_location(), [docs_a1, docs_b, docs_a2], [d["id"] for d in docs_b],
                           embedder, extractor, Path(tmp) / "x")
        never = _build(fresh_location(), [docs_a1 + docs_a2], [], embedder, extractor, Path(tmp) / "y")
    for section in never:
        assert forgotten[section] == never[section], section


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _store_files_containing(store, request, needle: bytes) -> list[str]:
    """Files of the store holding ``needle``: its directory, or (PostgreSQL) the cluster's data
    directory and this process's cache directory."""
    found = _files_containing(store.path, needle) if store.path.exists() else []
    if store.core.storage.dialect == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        found += [str(p) for p in cluster.data_files() if needle in p.read_bytes()]
    return found


def test_no_residue_of_a_forgotten_canary(make_store, request, backend):
    store = make_store("canary")
    canary = f"Zorvex{uuid.uuid4().hex[:10]}quil"  # unique: a shared cluster holds other tests' data
    secret = {"id": "secret", "title": f"{canary} Dale",
              "text": f"{canary} Dale is a village near Harrow. The {canary} family founded it."}
    store.ingest(BRIDGE_CORPUS + [secret])
    needle = canary.encode()
    if backend == "postgresql":  # committed rows reach the data files at a checkpoint
        store.core.storage.purge()
    assert _store_files_containing(store, request, needle), "the canary must be on disk before forgetting"
    assert count(store, "extraction_cache") == len(BRIDGE_CORPUS) + 1
    report = store.forget("secret", purge=True)  # on SQLite nothing more to do; on PostgreSQL: VACUUM FULL, WAL
    assert report.extraction_cache_purged == 1
    # Ask about it without naming it (a query's own words are echoed in its explanation).
    hits = [h for mode in ("hipporag", "hybrid", "dense", "bm25")
            for h in store.retrieve("Which village near Harrow did a family found?", top_k=7, mode=mode)]
    assert hits
    for hit in hits:
        shown = json.dumps(hit.to_dict(explain=True), ensure_ascii=False)
        assert canary.lower() not in shown.lower()
    store.close()
    assert _store_files_containing(store, request, needle) == []
    assert _store_files_containing(store, request, canary.lower().encode()) == []


def test_forget_writes_an_audit_row_without_content(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    store.forget(ids=["harrow", "bob"])
    at, action, target_hash, counts = rows(store, 
        "SELECT at, action, target_hash, counts FROM audit ORDER BY seq DESC LIMIT 1")[0]
    assert action == "forget" and target_hash == content_hash("bob", "harrow")
    counts = json.loads(counts)
    assert counts["documents_removed"] == 2 and "facts_removed" in counts
    row = f"{at} {action} {target_hash} {json.dumps(counts)}".lower()
    assert "harrow" not in row and "bob" not in row and "painter" not in row


@pytest.mark.parametrize("args, kwargs, error", [
    (("nope",), {}, UnknownDocumentError),
    ((), {"ids": ["alice", "nope"]}, UnknownDocumentError),
    ((), {}, InvalidQueryError),
    (("alice",), {"ids": ["bob"]}, InvalidQueryError),
    ((), {"ids": "alice"}, InvalidQueryError),
    ((), {"ids": []}, InvalidQueryError),
    ((), {"ids": ["alice", ""]}, InvalidQueryError),
])
def test_bad_forget_changes_nothing(make_store, args, kwargs, error):
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    before = canonical_dump(store)
    audit_rows = count(store, "audit")
    with pytest.raises(error):
        store.forget(*args, **kwargs)
    assert canonical_dump(store) == before
    assert count(store, "audit") == audit_rows


def test_forget_dump_and_check_commands(make_store, tmp_path, capsys):
    store = make_store("cli")
    store.ingest(BRIDGE_CORPUS)
    store.close()
    path = location(store)
    assert main(["check", "--store", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["forget", "--store", str(path), "--doc", "harrow", "--doc", "bob", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == ["harrow", "bob"] and report["removed"]["documents"] == 2
    assert main(["forget", "--store", str(path), "--doc", "harrow"]) == 2
    assert "no document with id 'harrow'" in capsys.readouterr().err
    assert main(["dump", "--store", str(path), "--out", str(tmp_path / "a.jsonl")]) == 0
    fresh = make_store("fresh")
    fresh.ingest([d for d in BRIDGE_CORPUS if d["id"] not in ("harrow", "bob")])
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert lines == list(dump_lines(fresh)) and lines == sorted(lines)
    assert {json.loads(line)["section"] for line in lines} >= {"documents", "entities", "facts", "vectors"}
    assert main(["check", "--store", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "missing").exists()


@pytest.mark.sqlite_only
def test_check_finds_damage(make_store, tmp_path, capsys):
    store = make_store("damaged")
    store.ingest(BRIDGE_CORPUS)
    store.close()
    with sqlite3.connect(tmp_path / "damaged" / DB_FILENAME) as conn:
        conn.execute("DELETE FROM embeddings WHERE kind = 'entity' AND key = (SELECT min(key) FROM entities)")
        conn.execute("DELETE FROM fact_sources WHERE fact = (SELECT min(key) FROM facts)")
    assert main(["check", "--store", str(tmp_path / "damaged")]) == 1
    out = capsys.readouterr().out
    assert "1 fact without a source" in out and "entity rows without an embedding" in out


def test_forget_fact_keeps_the_passages_and_stops_the_fact_coming_back(make_store):
    store = make_store()
    store.ingest(BRIDGE_CORPUS + [{"id": "alice2", "text": "Alice Varga was born in Lakeview."}])
    fact = "alice varga | bear in | lakeview"
    assert _facts(store)[fact] == ["alice", "alice2"]
    with pytest.raises(UnknownEntityError, match="stored relations between them: bear in"):
        store.forget_fact("Alice Varga", "born in", "Lakeview")  # relations are stored lemmatised
    report = store.forget_fact("Alice Varga", "bear in", "Lakeview")
    assert fact not in _facts(store)
    assert report.stated_in == ("alice", "alice2") and report.removed["facts"] == 1
    assert store.get("alice").text.endswith("born in Lakeview.")
    assert {"alice varga", "lakeview"} <= set(canonical_dump(store)["entities"])  # still mentioned
    store.ingest({"id": "alice3", "text": "Alice Varga was born in Lakeview."})  # cached extraction
    store.ingest({"id": "alice4", "text": "Alice Varga was born in Lakeview, in Norland."})  # new extraction
    assert fact not in _facts(store)
    digests = [row[0] for row in rows(store, "SELECT digest FROM suppressed")]
    assert digests and all(re.fullmatch("[0-9a-f]{64}", d) for d in digests)  # digests, never names
    assert rows(store, "SELECT action FROM audit ORDER BY seq DESC LIMIT 3")[-1][0] == "forget_fact"
    with pytest.raises(UnknownEntityError):
        store.forget_fact("Alice Varga", "bear in", "Atlantis")


def test_forget_entity_without_and_with_cascade(make_store):
    store = make_store("plain")
    store.ingest(BRIDGE_CORPUS)
    report = store.forget_entity("LAKEVIEW ")
    dump = canonical_dump(store)
    assert "lakeview" not in dump["entities"]
    assert not any("lakeview" in triple.split(" | ")[::2] for triple in dump["facts"])
    assert not any("lakeview" in pair[:2] for pair in dump["synonyms"])
    assert set(report.stated_in) == {"alice", "lakeview"} and report.documents == ()
    assert store.get("lakeview").title == "Lakeview"  # the passages stay
    store.ingest({"id": "again", "text": "Lakeview is a small town in Norland."})
    assert "lakeview" not in canonical_dump(store)["entities"]  # kept from coming back
    cascade = make_store("cascade")
    cascade.ingest(BRIDGE_CORPUS)
    report = cascade.forget_entity("Lakeview", cascade=True)
    assert set(report.documents) == {"alice", "lakeview"} and report.removed["documents"] == 2
    assert len(cascade) == len(BRIDGE_CORPUS) - 2 and "lakeview" not in canonical_dump(cascade)["entities"]
    with pytest.raises(UnknownEntityError):
        cascade.forget_entity("Lakeview")
    assert main(["check", "--store", location(cascade)]) == 0


@pytest.mark.sqlite_only
def test_a_schema_1_store_is_migrated_to_the_current_schema_on_open(make_store, tmp_path):
    store = make_store("old")
    store.ingest(BRIDGE_CORPUS[:2])
    store.close()
    with sqlite3.connect(tmp_path / "old" / DB_FILENAME) as conn:  # back to what schema 1 had
        conn.execute("DROP TABLE suppressed")
        conn.execute("DROP TABLE functional_relations")
        for table in ("bank_routes", "bank_blocks", "bank_nodes", "bank_weights", "changes"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE audit DROP COLUMN generation")
        conn.execute("DROP INDEX documents_by_extraction")
        conn.execute("DROP INDEX documents_by_title")
        conn.execute("DROP INDEX documents_by_source")
        conn.execute("ALTER TABLE documents DROP COLUMN source")
        conn.execute("ALTER TABLE documents DROP COLUMN text_valid_from")
        conn.execute("ALTER TABLE documents DROP COLUMN text_valid_to")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    reopened = make_store("old")
    with reopened.view() as view:
        assert view.storage.meta.get("schema_version") == str(SCHEMA_VERSION) == "6"
        assert view.storage.documents.passages_of("alice") == []
    reopened.forget_entity("Lakeview")
    with reopened.view() as view:
        assert suppression_digest("entity", "lakeview") in view.storage.meta.suppressed("entity")
    assert len(reopened) == 2 and check_store(reopened) == []


@pytest.mark.sqlite_only
def test_replacing_a_document_leaves_no_trace_of_its_old_text(make_store):
    store = make_store("replace")
    store.ingest(BRIDGE_CORPUS + [{"id": "v", "text": f"{CANARY} Dale is a village near Harrow."}])
    store.ingest({"id": "v", "text": "Eastport is a harbour in Norland."})
    assert count(store, "extraction_cache") == len(BRIDGE_CORPUS) + 1
    store.close()
    assert _files_containing(store.path, CANARY.encode()) == []


_operation = st.one_of(
    st.tuples(st.just("ingest"), st.sampled_from("abcdef"), _document),
    st.tuples(st.just("forget"), st.sampled_from("abcdef"), st.just("")),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(_operation, min_size=1, max_size=8))
def test_any_history_of_ingests_replacements_and_forgets_equals_its_final_state(operations, embedder,
                                                                                extractor, fresh_location):
    """Whatever the order of writes, the store equals one built from the documents left."""
    final: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with MemoryStore(fresh_location(), ONE_SYNONYM, embedder=embedder, extractor=extractor,
                         cache_dir=Path(tmp) / "x") as store:
            for action, doc_id, text in operations:
                if action == "ingest":
                    store.ingest({"id": doc_id, "text": text})
                    final[doc_id] = text
                elif doc_id in final:
                    store.forget(doc_id)
                    del final[doc_id]
                else:
                    with pytest.raises(UnknownDocumentError):
                        store.forget(doc_id)
            history = canonical_dump(store)
            assert check_store(store) == []
        with MemoryStore(fresh_location(), ONE_SYNONYM, embedder=embedder, extractor=extractor,
                         cache_dir=Path(tmp) / "y") as fresh:
            if final:
                fresh.ingest([{"id": k, "text": v} for k, v in sorted(final.items())])
            expected = canonical_dump(fresh)
    for section in expected:
        assert history[section] == expected[section], section
