"""Input documents: validation, normalisation and content hashing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from .errors import InvalidDocumentError
from .timeexpr import Interval, document_interval, reference_date

__all__ = ["Document", "coerce_documents", "content_hash"]

_KNOWN_FIELDS = ("id", "text", "title", "metadata")


def content_hash(*parts: str) -> str:
    """Hex SHA-256 of the given strings, unambiguously joined.

    >>> content_hash("a", "b") == content_hash("a", "b")
    True
    >>> content_hash("ab", "") == content_hash("a", "b")
    False
    """
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


@dataclass(frozen=True)
class Document:
    """A passage to ingest.

    Parameters
    ----------
    text : str
        The passage text (required, non-empty).
    id : str, optional
        Stable identifier; defaults to a hash of title and text.
    title : str
        Optional title; HippoRAG-style corpora index ``title + text``.
    metadata : dict
        JSON-serialisable data kept with the document. ``valid_from`` / ``valid_to``
        (ISO date or bare year) and ``date`` give its validity (see :mod:`memory.temporal`).
    source : str, optional
        The id of the document this passage was split from (set by ingest).
    """

    text: str
    id: str | None = None
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def passage(self) -> str:
        """The text that is embedded and extracted: title and text."""
        return f"{self.title}\n{self.text}" if self.title else self.text

    @property
    def fingerprint(self) -> str:
        """Hash of everything stored for the document (text, title, metadata)."""
        parts = (self.title, self.text, _canonical_json(self.metadata))
        return content_hash(*parts, self.source) if self.source else content_hash(*parts)

    @property
    def interval(self) -> Interval:
        """The document's own validity (``valid_from`` / ``valid_to`` / ``date`` fields)."""
        return document_interval(self.metadata, self.id or "?")

    @property
    def reference_date(self) -> date | None:
        """The document's own date, if given (what "former" in its text refers to)."""
        return reference_date(self.metadata)

    @property
    def extraction_key(self) -> str:
        """Hash of what extraction reads (title and text)."""
        return content_hash(self.title, self.text)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _as_mapping(doc: Any, position: int) -> Mapping[str, Any]:
    if isinstance(doc, Mapping):
        return doc
    if dataclasses.is_dataclass(doc) and not isinstance(doc, type):
        return {f.name: getattr(doc, f.name) for f in dataclasses.fields(doc)}
    if isinstance(doc, str):
        return {"text": doc}
    raise InvalidDocumentError(
        f"document #{position}: expected a dict, a dataclass or a string, got {type(doc).__name__}"
    )


def _coerce_one(doc: Any, position: int) -> Document:
    data = _as_mapping(doc, position)
    text = data.get("text")
    if not isinstance(text, str):
        found = "missing" if text is None else type(text).__name__
        raise InvalidDocumentError(f"document #{position}: 'text' must be a string ({found})")
    if not text.strip():
        raise InvalidDocumentError(f"document #{position}: 'text' is empty")
    title = data.get("title") or ""
    if not isinstance(title, str):
        raise InvalidDocumentError(f"document #{position}: 'title' must be a string")
    doc_id = data.get("id")
    if doc_id is not None:
        if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
            raise InvalidDocumentError(f"document #{position}: 'id' must be a string")
        doc_id = str(doc_id)
        if not doc_id.strip():
            raise InvalidDocumentError(f"document #{position}: 'id' is empty")
    metadata = dict(data.get("metadata") or {})
    if not isinstance(data.get("metadata") or {}, Mapping):
        raise InvalidDocumentError(f"document #{position}: 'metadata' must be a dict")
    # Fields beyond the known ones (e.g. 'idx' in HippoRAG corpora) are kept as metadata.
    for key, value in data.items():
        if key not in _KNOWN_FIELDS and value is not None:
            metadata.setdefault(str(key), value)
    try:
        _canonical_json(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(
            f"document #{position}: metadata is not JSON-serialisable ({exc})"
        ) from None
    if doc_id is None:
        doc_id = content_hash(title, text)[:24]
    document_interval(metadata, f"#{position} ({doc_id})")  # a bad date is an input error
    reference_date(metadata)
    return Document(text=text, id=doc_id, title=title, metadata=metadata)


def coerce_documents(docs: Any) -> list[Document]:
    """Validate and normalise ``ingest`` input into :class:`Document` objects.

    Parameters
    ----------
    docs : dict, dataclass, str or iterable of those
        One document or many.

    Returns
    -------
    list of Document
        With ids filled in. Within one batch the last occurrence of an id wins.

    Raises
    ------
    InvalidDocumentError
        On an empty batch, a missing or empty text, or a wrong type.

    Examples
    --------
    >>> [d.id for d in coerce_documents([{"id": "a", "text": "Paris is in France."}])]
    ['a']
    """
    if isinstance(docs, (Mapping, str)) or (
        dataclasses.is_dataclass(docs) and not isinstance(docs, type)
    ):
        docs = [docs]
    if not isinstance(docs, Iterable):
        raise InvalidDocumentError(f"expected documents, got {type(docs).__name__}")
    coerced = [_coerce_one(doc, i) for i, doc in enumerate(docs)]
    if not coerced:
        raise InvalidDocumentError("no documents given")
    by_id: dict[str, Document] = {}
    for doc in coerced:
        key = str(doc.id)  # always set by _coerce_one
        by_id.pop(key, None)
        by_id[key] = doc
    return list(by_id.values())
