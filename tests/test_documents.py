"""Input validation of documents and stated facts: every bad input is a named error.

The cases are grouped by class (Unicode, invisible text, ids and titles, metadata,
sizes, facts); hypothesis then throws arbitrary values at the validators and checks
that each is either accepted in a canonical, storable form or refused with a named
error, never anything else.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.config import IngestConfig
from memory.documents import (MAX_BATCH_CHARS, MAX_FACT_PART_CHARS, MAX_ID_CHARS, MAX_METADATA_CHARS,
                              MAX_METADATA_DEPTH, MAX_TEXT_CHARS, MAX_TITLE_CHARS, Document, coerce_documents,
                              coerce_facts)
from memory.extract import normalize_phrase, normalize_relation
from memory.errors import DocumentTooLargeError, InvalidDocumentError, InvalidFactError, MemoryStoreError


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


class NotJSON:
    pass


BAD_DOCUMENTS = {
    "unicode": [
        {"text": "Paris \ud800 is in France."},
        {"text": "\udfff"},
        {"text": "fine", "title": "bad \udc80 title"},
        {"text": "fine", "id": "id-\ud83d"},
        {"text": "fine", "metadata": {"k": "\ud800"}},
        {"text": "fine", "metadata": {"\ud800": 1}},
        {"text": "fine", "metadata": {"k": ["ok", {"deep": "\udbff"}]}},
    ],
    "invisible": [
        {"text": ""},
        {"text": "   \n\t"},
        {"text": "\u200b\u200b\ufeff"},
        {"text": "\x00\x01\x02"},
        {"text": "\u3164\u3164"},
        {"text": "\u2800 \u2800"},
        {"text": "\u0301\u0302"},
        {"text": "\u00a0\u2003\u3000"},
        {"text": "fine", "title": "   "},
        {"text": "fine", "title": "\u200b"},
        {"text": "fine", "id": "\u200b"},
        {"text": "fine", "id": " "},
        {"text": "fine", "id": ""},
    ],
    "types": [
        {"title": "no text"},
        {"text": 42},
        {"text": b"bytes"},
        {"text": ["a", "b"]},
        {"text": "fine", "title": 3},
        {"text": "fine", "title": False},
        {"text": "fine", "id": True},
        {"text": "fine", "id": 1.5},
        {"text": "fine", "id": "line\nbreak"},
        {"text": "fine", "id": "tab\there"},
        {"text": "fine", 3: "non-string field name"},
        42,
        None,
        b"raw bytes",
        [],
    ],
    "metadata": [
        {"text": "fine", "metadata": [1, 2]},
        {"text": "fine", "metadata": "a string"},
        {"text": "fine", "metadata": 7},
        {"text": "fine", "metadata": {1: "int key"}},
        {"text": "fine", "metadata": {"k": {2: "nested int key"}}},
        {"text": "fine", "metadata": {"k": NotJSON()}},
        {"text": "fine", "metadata": {"k": {1, 2}}},
        {"text": "fine", "metadata": {"k": float("nan")}},
        {"text": "fine", "metadata": {"k": float("inf")}},
        {"text": "fine", "metadata": {"k": 10 ** 30}},
        {"text": "fine", "metadata": {"k": b"bytes"}},
        {"text": "fine", "metadata": _nested(MAX_METADATA_DEPTH + 1)},
        {"text": "fine", "metadata": _nested(5000)},
        {"text": "fine", "metadata": {"k": "x" * (MAX_METADATA_CHARS + 1)}},
        {"text": "fine", "extra_field": NotJSON()},
        {"text": "fine", "metadata": {"valid_from": "not a date"}},
        {"text": "fine", "metadata": {"valid_from": 2010, "valid_to": 2001}},
    ],
    "size": [
        {"text": "x" * (MAX_TEXT_CHARS + 1)},
        {"text": "fine", "title": "t" * (MAX_TITLE_CHARS + 1)},
        {"text": "fine", "id": "i" * (MAX_ID_CHARS + 1)},
    ],
}
CASES = [(kind, doc) for kind, docs in BAD_DOCUMENTS.items() for doc in docs]


@pytest.mark.parametrize("kind, doc", CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_bad_documents_are_named_errors(kind: str, doc: object) -> None:
    with pytest.raises(InvalidDocumentError) as raised:
        coerce_documents(doc)
    assert str(raised.value)  # a message, not a bare class
    if kind == "size":
        assert isinstance(raised.value, DocumentTooLargeError)


def test_bad_documents_change_nothing_in_a_store(make_store) -> None:
    from memory.dump import canonical_dump

    store = make_store()
    store.ingest({"id": "keep", "text": "Alice Varga was born in Lakeview."})
    before = canonical_dump(store)
    for kind, doc in CASES:
        batch = [{"id": "new", "text": "Bob Mills was born in Harrow."}, doc]
        with pytest.raises(InvalidDocumentError):
            store.ingest(batch)
    assert canonical_dump(store) == before


def test_the_size_limit_says_how_to_split() -> None:
    big = {"id": "book", "text": ("A paragraph of a long book. " * 40 + "\n\n") * 1200}
    assert len(big["text"]) > MAX_TEXT_CHARS
    with pytest.raises(DocumentTooLargeError, match=r"split=IngestConfig\(split='paragraph'\)"):
        coerce_documents(big)
    docs = coerce_documents(big, split=IngestConfig(split="paragraph"))  # each passage is small
    assert docs[0].text == big["text"]
    one_paragraph = {"id": "wall", "text": "word " * (MAX_TEXT_CHARS // 5 + 10)}
    with pytest.raises(DocumentTooLargeError, match="passage 0 after splitting.*split='window'"):
        coerce_documents(one_paragraph, split=IngestConfig(split="paragraph"))
    assert coerce_documents(one_paragraph, split=IngestConfig(split="window"))
    huge = {"id": "huge", "text": "word " * (MAX_BATCH_CHARS // 5 + 1)}
    with pytest.raises(DocumentTooLargeError, match="even when split; ingest it in parts"):
        coerce_documents(huge, split=IngestConfig(split="window"))


def test_the_batch_limit() -> None:
    piece = "y" * (MAX_TEXT_CHARS - 10)
    count = MAX_BATCH_CHARS // len(piece) + 1
    docs = [{"id": str(i), "text": piece} for i in range(count)]
    with pytest.raises(DocumentTooLargeError, match="smaller batches"):
        coerce_documents(docs)
    assert len(coerce_documents(docs, max_batch_chars=None)) == count


def test_good_documents_keep_their_content() -> None:
    doc = coerce_documents({"id": 7, "title": "Ünïcödé 🙂", "text": "Emoji 🙂 and CJK 東京 are fine.",
                            "metadata": {"tags": ("a", "b"), "n": 1.5, "nested": {"ok": [None, True]}},
                            "idx": 3})[0]
    assert doc.id == "7" and doc.title == "Ünïcödé 🙂"
    assert doc.metadata == {"tags": ["a", "b"], "n": 1.5, "nested": {"ok": [None, True]}, "idx": 3}
    assert coerce_documents({"text": "x", "metadata": _nested(MAX_METADATA_DEPTH)})
    assert coerce_documents(Document(text="a dataclass", id="d"))[0].id == "d"
    assert coerce_documents("a bare string")[0].text == "a bare string"
    # the last occurrence of an id wins, as before
    assert [d.text for d in coerce_documents([{"id": "a", "text": "one"}, {"id": "a", "text": "two"}])] == ["two"]


BAD_FACTS = [
    ([[("Paris", "capital of")]], "triple #0: expected .* got 2 items"),
    ([[("Paris", "capital of", "France", "extra")]], "got 4 items"),
    ([[("Paris", 3, "France")]], "relation must be a string, not int"),
    ([[(None, "in", "France")]], "subject must be a string, not NoneType"),
    ([[("Paris", "in", b"France")]], "object must be a string, not bytes"),
    ([["Paris capital of France"]], "triple #0: expected .* not str"),
    ([[{"s": "Paris"}]], "not dict"),
    ([("Paris", "capital of", "France")], "not str; facts= holds one list of triples per document"),
    (["Paris"], "not str"),
    ([[("Paris", "in", "France")], []], "2 lists for 1 documents"),
    ([], "0 lists for 1 documents"),
    ("facts", "must be a list"),
    ({"p": []}, "must be a list"),
    (None, "must be a list"),
    ([[("...", "in", "France")]], "subject '...' has no letters or digits"),
    ([[("Paris", "   ", "France")]], "relation .* has no letters or digits"),
    ([[("Paris", "in", "\ud800")]], "not valid Unicode"),
    ([[("Paris", "is", "PARIS")]], "same entity"),
    ([[("Paris", "in", "x" * (MAX_FACT_PART_CHARS + 1))]], "over the limit"),
    ([[("Paris", "in", "France"), ("Lyon", "in")]], "triple #1"),
]


@pytest.mark.parametrize("facts, message", BAD_FACTS)
def test_bad_facts_name_the_document_and_position(facts: object, message: str) -> None:
    docs = coerce_documents({"id": "p", "text": "Paris is the capital of France."})
    with pytest.raises(InvalidFactError, match=message):
        coerce_facts(facts, docs)


def test_good_facts() -> None:
    docs = coerce_documents([{"id": "a", "text": "A."}, {"id": "b", "text": "B."}])
    out = coerce_facts([[["Alice Varga", "born in", "Lakeview"]], ()], docs)
    assert out[0].triples == (("alice varga", "born in", "lakeview"),)
    assert set(out[0].entities) == {"alice varga", "lakeview"} and out[1].triples == ()


# -- properties -----------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None), max_size=40)  # surrogates and controls included
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT | st.integers(), inner, max_size=3),
    max_leaves=12)
FIELD = st.none() | ANY_TEXT | st.integers() | st.booleans() | st.floats() | JSONISH
DOCS = st.fixed_dictionaries({}, optional={"id": FIELD, "text": FIELD, "title": FIELD,
                                           "metadata": FIELD | st.dictionaries(ANY_TEXT, JSONISH, max_size=3),
                                           "extra": JSONISH})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DOCS, max_size=3) | DOCS | FIELD)
def test_any_input_is_accepted_canonically_or_refused_by_name(docs: object) -> None:
    try:
        coerced = coerce_documents(docs)
    except InvalidDocumentError as exc:
        assert str(exc)
        return
    for doc in coerced:
        for value in (doc.text, doc.title, doc.id):
            assert isinstance(value, str)
            value.encode("utf-8")  # storable
        assert doc.text.strip() and doc.id.strip()
        encoded = json.dumps(doc.metadata, sort_keys=True, ensure_ascii=False, allow_nan=False)
        assert json.loads(encoded) == doc.metadata  # what is stored is what is read back
        assert isinstance(doc.fingerprint, str) and doc.interval is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.lists(FIELD, max_size=4) | FIELD, max_size=3) | FIELD, max_size=3) | FIELD)
def test_any_facts_are_accepted_or_refused_by_name(facts: object) -> None:
    docs = coerce_documents([{"id": "a", "text": "A."}, {"id": "b", "text": "B."}])
    try:
        out = coerce_facts(facts, docs)
    except InvalidFactError as exc:
        assert str(exc)
        return
    assert len(out) == 2
    for extraction, triples in zip(out, facts):  # nothing dropped silently
        assert set(extraction.triples) == {(normalize_phrase(s), normalize_relation(r), normalize_phrase(o))
                                           for s, r, o in triples}


def test_errors_are_memory_store_errors() -> None:
    for cls in (DocumentTooLargeError, InvalidFactError):
        assert issubclass(cls, InvalidDocumentError) and issubclass(cls, MemoryStoreError)
    assert math.isfinite(float(MAX_TEXT_CHARS))
