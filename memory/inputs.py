"""Reading documents from files: JSON lists, JSONL, ``.txt`` and ``.md`` files and directories.

:func:`read_documents` is what ``python -m memory ingest FILE`` reads. It validates
the whole input (through :func:`memory.documents.coerce_documents`) before returning,
so a caller can promise that nothing is written unless everything is valid.

=========================  ==========================================================
input                       documents
=========================  ==========================================================
``docs.json``               a JSON list of document objects
``docs.jsonl``              one JSON object per line (blank lines skipped); also any
                            other file that does not start with ``[``
``note.txt``, ``note.md``   one document: id ``note.md`` (the file name), title the
                            first Markdown heading, else the file name without suffix
a directory                 every ``.txt`` / ``.md`` / ``.markdown`` file under it
                            (hidden files and folders skipped), one document each, id
                            the path relative to the directory (``notes/a.md``),
                            in path order
=========================  ==========================================================

Errors name the file (and the line, for JSON and JSONL): a file that is not UTF-8
or is binary raises :class:`~memory.errors.InputFileError`, never a
``UnicodeDecodeError``; a document that fails validation raises the error
:func:`~memory.documents.coerce_documents` raises, naming the file and line.
The documents are held in memory (about the size of the input).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .documents import MAX_BATCH_CHARS, Document, coerce_documents
from .errors import InputFileError

if TYPE_CHECKING:
    from .config import IngestConfig

__all__ = ["read_documents", "batches", "markdown_title", "TEXT_SUFFIXES", "MAX_TEXT_FILE_BYTES", "MAX_JSON_FILE_BYTES"]

logger = logging.getLogger(__name__)

#: File suffixes read as one plain-text (or Markdown) document each.
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
#: Bytes of one text file: more would certainly be over the limit of characters of one ingest.
MAX_TEXT_FILE_BYTES = 4 * MAX_BATCH_CHARS
#: Bytes of one JSON or JSONL file (it is held in memory while it is validated).
MAX_JSON_FILE_BYTES = 1 << 30
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_SETEXT_HEADING = re.compile(r"^ {0,3}(\S[^\n]*?)[ \t]*\n {0,3}(?:=+|-+)[ \t]*$", re.M)
_SNIFF_BYTES = 8192


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputFileError(f"{path}: {size:,} bytes, over the limit of {limit:,} for one input "
                                 "file; split it into several files", path)
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}", path) from None


def _check_not_binary(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(f"{path}: the file is UTF-16; save it as UTF-8", path)
    if b"\x00" in head[:_SNIFF_BYTES]:
        raise InputFileError(f"{path}: the file looks binary (it holds NUL bytes); give text, JSON or "
                             "JSONL in UTF-8", path)


def _decode(path: Path, data: bytes, first_line: int = 1) -> str:
    try:
        return data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputFileError(f"{path} line {line}, column {column}: not UTF-8 (byte 0x{data[exc.start]:02x}); "
                             "convert the file to UTF-8", path, line) from None


def markdown_title(text: str) -> str | None:
    """The first Markdown heading of a text (``# Title`` or an underlined ``Title``), if any.

    >>> markdown_title("intro\\n\\n## Getting started ##\\nbody")
    'Getting started'
    >>> markdown_title("Title\\n=====\\nbody")
    'Title'
    >>> markdown_title("no heading") is None
    True
    """
    found = [m for m in (_ATX_HEADING.search(text), _SETEXT_HEADING.search(text)) if m]
    if not found:
        return None
    return min(found, key=lambda m: m.start()).group(1).strip() or None


def _text_document(path: Path, doc_id: str) -> tuple[dict[str, Any], str]:
    data = _read_bytes(path, MAX_TEXT_FILE_BYTES)
    _check_not_binary(path, data)
    text = _decode(path, data)
    title = path.stem
    if path.suffix.lower() in (".md", ".markdown"):
        title = markdown_title(text) or title
    return {"id": doc_id, "title": title, "text": text}, str(path)


def _json_documents(path: Path) -> Iterator[tuple[Any, str]]:
    data = _read_bytes(path, MAX_JSON_FILE_BYTES)
    _check_not_binary(path, data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        text = _decode(path, data)
        try:
            docs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path} line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})",
                                 path, exc.lineno) from None
        except (RecursionError, ValueError) as exc:
            raise InputFileError(f"{path}: cannot read the JSON ({str(exc) or 'nested too deeply'})",
                                 path) from None
        if not isinstance(docs, list):
            raise InputFileError(f"{path}: expected a JSON list of documents", path)
        yield from ((doc, f"{path} item {i}") for i, doc in enumerate(docs))
        return
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = _decode(path, raw, number)
        if not line.strip():
            continue
        try:
            yield json.loads(line), f"{path} line {number}"
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path} line {number}, column {exc.colno}: not JSON ({exc.msg}); expected one "
                                 "JSON object per line (JSONL) or a JSON list", path, number) from None
        except (RecursionError, ValueError) as exc:
            raise InputFileError(f"{path} line {number}: cannot read the JSON "
                                 f"({str(exc) or 'nested too deeply'})", path, number) from None


def _directory_files(root: Path) -> list[Path]:
    found = []
    skipped = 0
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            if name.lower().endswith(TEXT_SUFFIXES):
                found.append(Path(folder) / name)
            else:
                skipped += 1
    if skipped:
        logger.info("%s: skipped %d files that are not %s", root, skipped, "/".join(TEXT_SUFFIXES))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _raw_documents(path: Path) -> Iterator[tuple[Any, str]]:
    if path.is_dir():
        files = _directory_files(path)
        if not files:
            raise InputFileError(f"{path}: no {', '.join(TEXT_SUFFIXES)} files in the directory", path)
        for file in files:
            yield _text_document(file, file.relative_to(path).as_posix())
    elif not path.exists():
        raise InputFileError(f"{path}: no such file or directory", path)
    elif path.suffix.lower() in TEXT_SUFFIXES:
        yield _text_document(path, path.name)
    else:
        yield from _json_documents(path)


def read_documents(path: str | Path, *, split: "IngestConfig | None" = None) -> list[Document]:
    """Read and validate every document of a file or directory (see the module doc for formats).

    Parameters
    ----------
    path : str or Path
        A JSON list, a JSONL file, a ``.txt`` / ``.md`` file or a directory of them.
    split : IngestConfig, optional
        How the documents will be split at ingest (the size limit then applies to
        each passage, see :func:`~memory.documents.coerce_documents`).

    Returns
    -------
    list of Document
        Validated, ids filled in, the last of a repeated id kept. The batch limit is
        not applied: ingest them in batches.

    Raises
    ------
    InputFileError
        When a file cannot be read, is not UTF-8, is binary, or is not JSON/JSONL.
    InvalidDocumentError
        When a document is invalid (the message names its file and line or item).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "paris.md").write_text("# Paris\\n\\nParis is the capital of France.")
    >>> [(d.id, d.title) for d in read_documents(folder)]
    [('paris.md', 'Paris')]
    """
    path = Path(path)
    docs: list[Any] = []
    labels: list[str] = []
    for doc, label in _raw_documents(path):
        docs.append(doc)
        labels.append(label)
    if not docs:
        raise InputFileError(f"{path}: no documents in the input", path)
    return coerce_documents(docs, split=split, max_batch_chars=None, labels=labels)


def batches(docs: Sequence[Document], size: int, max_chars: int = MAX_BATCH_CHARS) -> Iterator[list[Document]]:
    """Consecutive batches of at most ``size`` documents and ``max_chars`` characters of text.

    What :func:`read_documents` accepted always fits: a document over ``max_chars``
    alone was already refused. So ingesting these batches cannot fail on the batch limit.

    Raises
    ------
    ValueError
        When ``size`` is not positive.

    Examples
    --------
    >>> docs = [Document(text="x" * 6, id=str(i)) for i in range(5)]
    >>> [len(b) for b in batches(docs, size=2, max_chars=12)]
    [2, 2, 1]
    >>> [len(b) for b in batches(docs, size=10, max_chars=13)]
    [2, 2, 1]
    """
    if size < 1:
        raise ValueError(f"the batch size must be at least 1, not {size}")
    batch: list[Document] = []
    chars = 0
    for doc in docs:
        length = len(doc.text) + len(doc.title)
        if batch and (len(batch) == size or chars + length > max_chars):
            yield batch
            batch, chars = [], 0
        batch.append(doc)
        chars += length
    if batch:
        yield batch
