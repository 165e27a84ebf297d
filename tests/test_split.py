"""Splitting documents into passages at ingest, and forgetting or replacing a split document."""

from __future__ import annotations

import json

import pytest

from memory import ConfigError, IngestConfig, UnknownDocumentError
from memory.cli import main
from memory.dump import canonical_dump
from memory.split import split_text

BOOK = {"id": "book", "title": "Norland", "text": (
    "Norland is a country in northern Europe.\n\nIts capital is Eastport.\n\n"
    "Lakeview is a small town in Norland. Lakeview lies on the Brisk River.")}
PARAGRAPHS = IngestConfig(split="paragraph")


def test_window_split_covers_the_text_with_the_requested_overlap():
    text = " ".join(str(i) for i in range(10))
    windows = split_text(text, IngestConfig(split="window", window_tokens=4, window_overlap=1))
    assert windows == ["0 1 2 3", "3 4 5 6", "6 7 8 9"]
    assert split_text("short text", IngestConfig(split="window", window_tokens=50)) == ["short text"]
    assert split_text("a\n\nb", IngestConfig()) == ["a\n\nb"]


@pytest.mark.parametrize("values, message", [
    ({"split": "sentences"}, "ingest.split"),
    ({"split": "window", "window_tokens": 0}, "window_tokens"),
    ({"split": "window", "window_tokens": 5, "window_overlap": 5}, "window_overlap"),
])
def test_bad_split_settings_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        IngestConfig(**values)


def test_a_split_document_is_stored_as_passages_and_forgotten_whole(make_store):
    store = make_store()
    assert store.ingest(BOOK, split=PARAGRAPHS) == ["book"]
    assert [store.get(f"book#{i}").text for i in range(3)] == [
        "Norland is a country in northern Europe.", "Its capital is Eastport.",
        "Lakeview is a small town in Norland. Lakeview lies on the Brisk River."]
    assert store.get("book#2").title == "Norland"
    assert store.retrieve("Which town lies on the Brisk River?", top_k=1)[0].doc_id == "book#2"
    with pytest.raises(UnknownDocumentError):
        store.get("book")
    report = store.forget("book")
    assert report.removed["documents"] == 3 and len(store) == 0
    with pytest.raises(UnknownDocumentError):
        store.forget("book")


def test_re_ingesting_a_split_document_replaces_its_passages(make_store):
    store = make_store("again")
    store.ingest(BOOK, split=PARAGRAPHS)
    shorter = dict(BOOK, text="Norland is a country in northern Europe.\n\nIts capital is Westport.")
    store.ingest(shorter, split=PARAGRAPHS)
    fresh = make_store("fresh")
    fresh.ingest(shorter, split=PARAGRAPHS)
    a, b = canonical_dump(store), canonical_dump(fresh)
    for section in b:
        assert a[section] == b[section], section
    assert len(store) == 2 and store.get("book#1").text == "Its capital is Westport."
    assert store.ingest(shorter, split=PARAGRAPHS) == ["book"] and len(store) == 2  # a no-op


def test_ingest_command_splits(tmp_path, capsys):
    path = tmp_path / "docs.json"
    path.write_text(json.dumps([BOOK]))
    store = tmp_path / "store"
    assert main(["ingest", "--store", str(store), str(path), "--split", "window",
                 "--window-tokens", "8", "--overlap", "2", "-q"]) == 0
    assert "1 documents ingested" in capsys.readouterr().out
    assert main(["forget", "--store", str(store), "--doc", "book", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"]["documents"] == 4
    assert main(["ingest", "--store", str(store), str(path), "--split", "window", "--window-tokens", "0"]) == 2
    assert "window_tokens" in capsys.readouterr().err
