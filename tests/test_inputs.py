"""Reading documents from files: formats, and a named error naming the file for every bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.config import IngestConfig
from memory.documents import MAX_TEXT_CHARS
from memory.errors import DocumentTooLargeError, InputFileError, InvalidDocumentError
from memory.inputs import read_documents


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_json_list_and_jsonl(tmp_path) -> None:
    docs = [{"id": "a", "text": "Alice Varga was born in Lakeview."}, {"id": "b", "text": "Bob.", "year": 2001}]
    listed = read_documents(_write(tmp_path / "docs.json", json.dumps(docs)))
    lines = read_documents(_write(tmp_path / "docs.jsonl",
                                  "\ufeff" + "\r\n\r\n".join(json.dumps(d) for d in docs) + "\n\n"))
    assert [(d.id, d.text, d.metadata) for d in listed] == [(d.id, d.text, d.metadata) for d in lines]
    assert lines[1].metadata == {"year": 2001}
    assert read_documents(_write(tmp_path / "noext", json.dumps(docs[0])))[0].id == "a"


def test_text_and_markdown_files_and_directories(tmp_path) -> None:
    root = tmp_path / "notes"
    _write(root / "b.md", "Intro line\n\n## Lakeview ##\n\nLakeview is a town in Norland.")
    _write(root / "a.txt", "Alice Varga was born in Lakeview.")
    _write(root / "deep" / "c.markdown", "Norland\n=======\n\nNorland is a country.")
    _write(root / "deep" / "plain.md", "No heading here, just text.")
    _write(root / ".hidden.md", "# Secret\nnot read")
    _write(root / ".git" / "x.md", "# Not read\nnot read")
    _write(root / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    docs = read_documents(root)
    assert [(d.id, d.title) for d in docs] == [("a.txt", "a"), ("b.md", "Lakeview"), ("deep/c.markdown", "Norland"),
                                              ("deep/plain.md", "plain")]
    assert docs[1].text.startswith("Intro line")  # the file as written
    single = read_documents(root / "b.md")
    assert [(d.id, d.title) for d in single] == [("b.md", "Lakeview")]


def test_splitting_lifts_the_size_limit_of_one_text_file(tmp_path) -> None:
    book = _write(tmp_path / "book.txt", ("A paragraph of the book. " * 40 + "\n\n") * 1100)
    with pytest.raises(DocumentTooLargeError, match=rf"{book}.*split=IngestConfig\(split='paragraph'\)"):
        read_documents(book)
    assert read_documents(book, split=IngestConfig(split="paragraph"))[0].id == "book.txt"


LATIN1 = "Café in Zürich\n".encode("latin-1")
BAD_FILES = {
    "not UTF-8 text": ("notes.txt", b"fine line\n" + LATIN1, InputFileError, r"notes.txt line 2, column 4: not UTF-8"),
    "not UTF-8 markdown": ("n.md", b"# T\n\xff\xfe\xfd", InputFileError, "not UTF-8"),
    "not UTF-8 in JSONL": ("d.jsonl", b'{"text": "ok"}\n{"text": "' + LATIN1.strip() + b'"}\n', InputFileError,
                           r"d.jsonl line 2, column 1\d: not UTF-8"),
    "not UTF-8 in JSON": ("d.json", b'[\n{"text": "ok"},\n{"text": "\xe9"}]', InputFileError, "line 3.*not UTF-8"),
    "binary": ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", InputFileError, "photo.jpg.*binary"),
    "binary text file": ("x.txt", b"abc\x00def", InputFileError, "binary"),
    "UTF-16": ("w.txt", "Hello".encode("utf-16"), InputFileError, "UTF-16"),
    "JSONL syntax": ("d.jsonl", b'{"text": "a"}\n\n{"text": "b",}\n', InputFileError, r"d.jsonl line 3, column \d+: not JSON"),
    "JSON syntax": ("d.json", b'[{"text": "a"},\n {"text": }]', InputFileError, "line 2, column 11: not JSON"),
    "JSON not a list": ("d.json", b'[1]garbage', InputFileError, "not JSON"),
    "JSON too deep": ("d.json", b"[" * 100_000 + b"]" * 100_000, InputFileError, "cannot read the JSON"),
    "JSONL too deep": ("d.jsonl", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, InputFileError, "line 1"),
    "JSONL huge number": ("d.jsonl", b'{"text": "a", "n": ' + b"9" * 5000 + b"}", InputFileError, "line 1"),
    "empty JSONL": ("d.jsonl", b"\n\n  \n", InputFileError, "no documents"),
    "empty text file": ("e.txt", b"", InvalidDocumentError, r"e.txt \('e.txt'\): 'text' is empty"),
    "invisible text file": ("z.md", "\u200b\u200b\n".encode(), InvalidDocumentError, "no visible character"),
    "JSONL line not an object": ("d.jsonl", b'{"text": "a"}\n42\n', InvalidDocumentError, "d.jsonl line 2: expected a dict"),
    "JSONL bad field": ("d.jsonl", b'{"text": "a"}\n{"text": "b", "metadata": [1]}\n', InvalidDocumentError,
                        r"d.jsonl line 2: 'metadata' must be a dict"),
    "JSON lone surrogate": ("d.json", b'[{"text": "ok"}, {"id": "s", "text": "bad \\ud800"}]', InvalidDocumentError,
                            r"d.json item 1 \('s'\).*lone surrogate"),
    "JSONL NaN": ("d.jsonl", b'{"text": "a", "score": NaN}', InvalidDocumentError, "line 1.*NaN|nan"),
    "JSONL missing text": ("d.jsonl", b'{"title": "only a title"}', InvalidDocumentError, "line 1.*'text' must be a string \\(missing\\)"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_are_named_errors(tmp_path, name: str) -> None:
    filename, content, error, message = BAD_FILES[name]
    path = _write(tmp_path / filename, content)
    with pytest.raises(error, match=message) as raised:
        read_documents(path)
    assert str(path.name) in str(raised.value)
    if isinstance(raised.value, InputFileError):
        assert raised.value.path == str(path)


def test_missing_paths_and_empty_directories(tmp_path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_documents(tmp_path / "nope.jsonl")
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty" / "data.csv", "a,b")
    with pytest.raises(InputFileError, match="no .txt, .md, .markdown files"):
        read_documents(tmp_path / "empty")
    unreadable = _write(tmp_path / "dir.jsonl" / "inside.txt", "x").parent  # a directory named like a file
    assert read_documents(unreadable)[0].id == "inside.txt"


def test_a_bad_last_line_refuses_the_whole_file(tmp_path) -> None:
    lines = [json.dumps({"id": str(i), "text": f"Passage {i}."}) for i in range(500)] + ['{"text": 3}']
    with pytest.raises(InvalidDocumentError, match="line 501"):
        read_documents(_write(tmp_path / "d.jsonl", "\n".join(lines)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | st.text(st.characters(codec=None), max_size=80).map(
           lambda t: t.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from([".txt", ".md", ".json", ".jsonl", ""]))
def test_any_bytes_are_read_or_refused_by_name(tmp_path, content: bytes, suffix: str) -> None:
    path = _write(tmp_path / f"input{suffix}", content)
    try:
        docs = read_documents(path)
    except InvalidDocumentError as exc:
        assert str(exc)
        return
    assert docs and all(d.text.strip() and len(d.text) <= MAX_TEXT_CHARS for d in docs)


def test_batches_fit_the_batch_limit(tmp_path) -> None:
    from memory.documents import MAX_BATCH_CHARS, coerce_documents
    from memory.inputs import batches

    piece = "word " * (MAX_TEXT_CHARS // 5 - 10)
    lines = [json.dumps({"id": str(i), "text": piece}) for i in range(12)]  # 12M characters in all
    docs = read_documents(_write(tmp_path / "big.jsonl", "\n".join(lines)))
    with pytest.raises(DocumentTooLargeError, match="smaller batches"):
        coerce_documents(docs)
    chunks = list(batches(docs, size=100))
    assert [d.id for chunk in chunks for d in chunk] == [d.id for d in docs]
    assert len(chunks) == 2 and all(coerce_documents(chunk) for chunk in chunks)
    assert sum(len(d.text) for d in chunks[0]) <= MAX_BATCH_CHARS
    with pytest.raises(ValueError, match="at least 1"):
        list(batches(docs, size=-1))
