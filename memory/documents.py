"""Input documents and stated facts: validation, normalisation and content hashing.

Everything ``ingest`` is given passes through :func:`coerce_documents` (and, for
``facts=``, :func:`coerce_facts`) before anything is written, so bad input is a
named error and the store is unchanged. The rules and limits:

- ``text`` is a string of valid Unicode (no lone surrogates) with at least one
  visible character (a letter, digit, punctuation mark or symbol; blanks such as
  zero-width spaces, control characters or Hangul fillers do not count).
- ``title`` (optional) and ``id`` (optional) follow the same rules; an id holds
  no control character. Limits: :data:`MAX_TITLE_CHARS`, :data:`MAX_ID_CHARS`.
- ``metadata`` is a JSON object: string keys; values that are strings, finite
  numbers (integers within 64 bits), booleans, null, lists and objects; nested at
  most :data:`MAX_METADATA_DEPTH` levels; at most :data:`MAX_METADATA_CHARS`
  characters as JSON.
- One stored passage holds at most :data:`MAX_TEXT_CHARS` characters; one
  ``ingest`` call at most :data:`MAX_BATCH_CHARS` characters of text. A longer
  document is refused with a :class:`~memory.errors.DocumentTooLargeError`
  whose message says how to split it; with ``split=`` the limit applies to each
  passage the document is split into.

Why these limits (measured on 2 cores with the default models): the extractor
parses long texts in 20,000-character pieces, 32 at a time, so its peak memory is
bounded by that batch (a 1,000,000-character passage: +1.9 GB peak, 136 s), and the
encoders read only a window-sized prefix of each text (:mod:`memory.embed`); what
grows with a batch is its rows and vectors (4,000,000 characters in 8,162 passages:
+240 MB peak, 490 s). So one ``ingest`` call stays under about 2.5 GB and 20
minutes. A passage longer than 1,000,000 characters (spaCy's own ``max_length``)
would be read by the encoders only for its first ~2,000: split it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import DocumentTooLargeError, InvalidDocumentError, InvalidFactError
from .timeexpr import Interval, document_interval, reference_date

if TYPE_CHECKING:
    from .config import IngestConfig
    from .extract.base import Extraction

__all__ = ["Document", "coerce_documents", "coerce_facts", "content_hash", "check_text", "check_argument",
           "MAX_TEXT_CHARS", "MAX_BATCH_CHARS", "MAX_TITLE_CHARS", "MAX_ID_CHARS",
           "MAX_METADATA_DEPTH", "MAX_METADATA_CHARS", "MAX_FACTS_PER_DOCUMENT", "MAX_FACT_PART_CHARS"]

#: Characters of text in one stored passage (a document, or a piece of a split document).
MAX_TEXT_CHARS = 1_000_000
#: Characters of text (titles included) in one ``ingest`` call.
MAX_BATCH_CHARS = 10_000_000
#: Characters of a title.
MAX_TITLE_CHARS = 1_000
#: Characters of an id.
MAX_ID_CHARS = 512
#: Levels of nesting in metadata: ``{"a": {"b": [1]}}`` has depth 3.
MAX_METADATA_DEPTH = 16
#: Characters of a document's metadata as canonical JSON.
MAX_METADATA_CHARS = 100_000
#: Triples stated for one document with ``ingest(..., facts=...)``.
MAX_FACTS_PER_DOCUMENT = 10_000
#: Characters of a subject, relation or object stated with ``facts=``.
MAX_FACT_PART_CHARS = 1_000

_KNOWN_FIELDS = ("id", "text", "title", "metadata")
_SPLIT_HINT = "split the document: ingest(..., split=IngestConfig(split='paragraph'))"
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_VISIBLE_CATEGORIES = frozenset("LNPS")
#: Letters and symbols that render as blank space.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INT64 = 2 ** 63


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


def _has_visible(text: str) -> bool:
    return any(unicodedata.category(c)[0] in _VISIBLE_CATEGORIES and c not in _BLANK for c in text)


def check_text(value: Any, what: str, limit: int, *, required: bool = True,
               controls: bool = True) -> str:
    """Check one text field; returns it unchanged.

    Parameters
    ----------
    value : Any
        The field's value.
    what : str
        How to name the field in an error ("document #3: 'title'").
    limit : int
        Maximum length in characters.
    required : bool
        Whether an empty value is an error (else ``""`` and ``None`` give ``""``).
    controls : bool
        Whether control characters are allowed.

    Raises
    ------
    InvalidDocumentError
        When the value is not a string, is empty, holds a lone surrogate, a
        control character (with ``controls=False``) or no visible character.
    DocumentTooLargeError
        When it is longer than ``limit``.

    Examples
    --------
    >>> check_text("Paris", "text", 10)
    'Paris'
    >>> check_text("\\u200b", "text", 10)
    Traceback (most recent call last):
    ...
    memory.errors.InvalidDocumentError: text holds no visible character
    """
    if value is None or (value == "" and isinstance(value, str)):
        if required:
            raise InvalidDocumentError(f"{what} must be a string (missing)" if value is None else f"{what} is empty")
        return ""
    if not isinstance(value, str):
        raise InvalidDocumentError(f"{what} must be a string ({type(value).__name__})")
    if len(value) > limit:
        raise DocumentTooLargeError(f"{what} has {len(value):,} characters, over the limit of {limit:,}")
    bad = _SURROGATE.search(value)
    if bad:
        raise InvalidDocumentError(f"{what} is not valid Unicode: a lone surrogate "
                                   f"U+{ord(bad.group()):04X} at character {bad.start()}")
    if not controls and _CONTROL.search(value):
        raise InvalidDocumentError(f"{what} holds a control character")
    if not value.strip():
        raise InvalidDocumentError(f"{what} is empty (only whitespace)")
    if not _has_visible(value):
        raise InvalidDocumentError(f"{what} holds no visible character")
    return value


#: Longest query or name a read or forget takes (characters).
MAX_ARGUMENT_CHARS = 100_000


def check_argument(value: Any, what: str, limit: int = MAX_ARGUMENT_CHARS) -> str:
    """Check a text argument of a query or a forget (a query, an id, a name, a relation).

    Raises
    ------
    InvalidQueryError
        For anything :func:`check_text` refuses (not a string, empty, invalid Unicode, no
        visible character, over ``limit``).

    >>> check_argument("Ajax", "subject")
    'Ajax'
    """
    from .errors import InvalidQueryError

    try:
        return check_text(value, what, limit)
    except InvalidDocumentError as exc:
        raise InvalidQueryError(str(exc)) from None


def _check_metadata(metadata: Any, where: str) -> dict[str, Any]:
    """A copy-free check that metadata is a JSON object within the limits."""
    stack: list[tuple[Any, str, int]] = [(metadata, "metadata", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise InvalidDocumentError(f"{where}: {path} is nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidDocumentError(f"{where}: {path} has a key that is not a string ({key!r}); "
                                               "metadata must be a JSON object")
                if _SURROGATE.search(key):
                    raise InvalidDocumentError(f"{where}: a key of {path} is not valid Unicode")
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                raise InvalidDocumentError(f"{where}: {path} is not valid Unicode (a lone surrogate)")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise InvalidDocumentError(f"{where}: {path} is an integer outside 64 bits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidDocumentError(f"{where}: {path} is {value}, which JSON cannot hold")
        else:
            raise InvalidDocumentError(f"{where}: {path} is a {type(value).__name__}, which is not "
                                       "JSON-serialisable (use strings, numbers, booleans, lists, objects)")
    try:
        encoded = _canonical_json(metadata)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidDocumentError(f"{where}: metadata is not JSON-serialisable ({exc})") from None
    if len(encoded) > MAX_METADATA_CHARS:
        raise DocumentTooLargeError(f"{where}: metadata has {len(encoded):,} characters as JSON, over the "
                                    f"limit of {MAX_METADATA_CHARS:,}")
    return json.loads(encoded)  # tuples become lists: what is stored is what is read back


def _as_mapping(doc: Any, position: int, label: str) -> Mapping[str, Any]:
    if isinstance(doc, Mapping):
        return doc
    if dataclasses.is_dataclass(doc) and not isinstance(doc, type):
        return {f.name: getattr(doc, f.name) for f in dataclasses.fields(doc)}
    if isinstance(doc, str):
        return {"text": doc}
    raise InvalidDocumentError(
        f"{label}: expected a dict, a dataclass or a string, got {type(doc).__name__}"
    )


def _coerce_one(doc: Any, position: int, split: "IngestConfig | None", label: str) -> Document:
    data = _as_mapping(doc, position, label)
    where = label
    raw_id = data.get("id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise InvalidDocumentError(f"{where}: 'id' must be a string")
        if isinstance(raw_id, str) and not raw_id:
            raise InvalidDocumentError(f"{where}: 'id' is empty")
        raw_id = check_text(str(raw_id), f"{where}: 'id'", MAX_ID_CHARS, controls=False)
        where = f"{label} ({raw_id!r})"
    text = data.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS and (split is None or split.split == "none"):
        raise DocumentTooLargeError(f"{where}: the text has {len(text):,} characters, over the limit of "
                                    f"{MAX_TEXT_CHARS:,} for one passage; {_SPLIT_HINT}")
    if isinstance(text, str) and len(text) > MAX_BATCH_CHARS:
        raise DocumentTooLargeError(f"{where}: the text has {len(text):,} characters, over the limit of "
                                    f"{MAX_BATCH_CHARS:,} for one ingest call even when split; ingest it "
                                    "in parts (several documents)")
    text = check_text(text, f"{where}: 'text'", MAX_BATCH_CHARS)
    title = check_text(data.get("title"), f"{where}: 'title'", MAX_TITLE_CHARS, required=False)
    raw_metadata = data.get("metadata")
    if raw_metadata is not None and not isinstance(raw_metadata, Mapping):
        raise InvalidDocumentError(f"{where}: 'metadata' must be a dict (a JSON object), "
                                   f"not {type(raw_metadata).__name__}")
    metadata = dict(raw_metadata or {})
    # Fields beyond the known ones (e.g. 'idx' in HippoRAG corpora) are kept as metadata.
    for key, value in data.items():
        if key not in _KNOWN_FIELDS and value is not None:
            if not isinstance(key, str):
                raise InvalidDocumentError(f"{where}: field name {key!r} is not a string")
            metadata.setdefault(key, value)
    metadata = _check_metadata(metadata, where)
    doc_id = raw_id if raw_id is not None else content_hash(title, text)[:24]
    document_interval(metadata, f"#{position} ({doc_id})")  # a bad date is an input error
    try:
        reference_date(metadata)
    except ValueError as exc:
        raise InvalidDocumentError(f"{where}: {exc}") from None
    if split is not None and split.split != "none":
        _check_pieces(text, where, split)
    return Document(text=text, id=doc_id, title=title, metadata=metadata)


def _check_pieces(text: str, where: str, split: "IngestConfig") -> None:
    from .split import split_text

    pieces = split_text(text, split)
    if not pieces:
        raise InvalidDocumentError(f"{where}: splitting the text leaves no passage")
    for number, piece in enumerate(pieces):
        if len(piece) > MAX_TEXT_CHARS:
            raise DocumentTooLargeError(
                f"{where}: passage {number} after splitting has {len(piece):,} characters, over the limit "
                f"of {MAX_TEXT_CHARS:,} for one passage; split the document into smaller passages: "
                "ingest(..., split=IngestConfig(split='window'))")


def coerce_documents(docs: Any, *, split: "IngestConfig | None" = None,
                     max_batch_chars: int | None = MAX_BATCH_CHARS,
                     labels: Sequence[str] | None = None) -> list[Document]:
    """Validate and normalise ``ingest`` input into :class:`Document` objects.

    Parameters
    ----------
    docs : dict, dataclass, str or iterable of those
        One document or many.
    split : IngestConfig, optional
        How ``ingest`` will split the documents: with a split, the per-passage
        limit :data:`MAX_TEXT_CHARS` applies to each piece instead of the whole text.
    max_batch_chars : int or None
        Limit on the characters of text (and titles) of all documents together
        (default :data:`MAX_BATCH_CHARS`, for one ``ingest`` call); ``None`` checks
        only each document (for validating a whole input file ingested in batches).
    labels : sequence of str, optional
        How to name each document in errors (default ``document #i``), e.g. its
        file and line.

    Returns
    -------
    list of Document
        With ids filled in. Within one batch the last occurrence of an id wins.

    Raises
    ------
    InvalidDocumentError
        On an empty batch, a missing, empty or invisible text, invalid Unicode, a
        wrong type, or metadata that is not a JSON object within the limits.
    DocumentTooLargeError
        When a passage or the batch is over its size limit (the message says how
        to split it). A subclass of ``InvalidDocumentError``.

    Examples
    --------
    >>> [d.id for d in coerce_documents([{"id": "a", "text": "Paris is in France."}])]
    ['a']
    """
    if isinstance(docs, (Mapping, str)) or (
        dataclasses.is_dataclass(docs) and not isinstance(docs, type)
    ):
        docs = [docs]
    if isinstance(docs, (bytes, bytearray)) or not isinstance(docs, Iterable):
        raise InvalidDocumentError(f"expected documents, got {type(docs).__name__}")
    coerced: list[Document] = []
    total = 0
    for i, doc in enumerate(docs):
        label = labels[i] if labels is not None and i < len(labels) else f"document #{i}"
        coerced.append(_coerce_one(doc, i, split, label))
        total += len(coerced[-1].text) + len(coerced[-1].title)
        if max_batch_chars is not None and total > max_batch_chars:
            raise DocumentTooLargeError(
                f"the documents up to #{i} hold {total:,} characters of text, over the limit of "
                f"{max_batch_chars:,} for one ingest call; ingest them in smaller batches")
    if not coerced:
        raise InvalidDocumentError("no documents given")
    by_id: dict[str, Document] = {}
    for doc in coerced:
        key = str(doc.id)  # always set by _coerce_one
        by_id.pop(key, None)
        by_id[key] = doc
    return list(by_id.values())


def _fact_part(value: Any, what: str, role: str) -> str:
    from .extract.base import normalize_phrase, normalize_relation

    if not isinstance(value, str):
        raise InvalidFactError(f"{what}: the {role} must be a string, not {type(value).__name__}")
    if len(value) > MAX_FACT_PART_CHARS:
        raise InvalidFactError(f"{what}: the {role} has {len(value):,} characters, over the limit of "
                               f"{MAX_FACT_PART_CHARS:,}")
    if _SURROGATE.search(value):
        raise InvalidFactError(f"{what}: the {role} is not valid Unicode (a lone surrogate)")
    normal = normalize_relation(value) if role == "relation" else normalize_phrase(value)
    if not normal or not _has_visible(normal):
        raise InvalidFactError(f"{what}: the {role} {value!r} has no letters or digits")
    return value


def coerce_facts(facts: Any, documents: Sequence[Document]) -> list["Extraction"]:
    """Validate ``ingest(docs, facts=...)``: one list of (subject, relation, object) per document.

    Parameters
    ----------
    facts : sequence of sequences of triples
        ``facts[i]`` lists the triples that ``documents[i]`` states (may be empty).
    documents : sequence of Document
        The batch, as returned by :func:`coerce_documents`.

    Returns
    -------
    list of Extraction
        One per document, normalised (what the store keeps instead of extracting).

    Raises
    ------
    InvalidFactError
        Naming the document and the triple's position: when ``facts`` does not
        hold one list per document, a triple is not three strings, a member has no
        letters or digits or is over :data:`MAX_FACT_PART_CHARS`, a subject equals
        its object, or a document states more than :data:`MAX_FACTS_PER_DOCUMENT`.

    Examples
    --------
    >>> docs = coerce_documents({"id": "p", "text": "Paris is the capital of France."})
    >>> coerce_facts([[("Paris", "capital of", "France")]], docs)[0].triples
    (('paris', 'capital of', 'france'),)
    >>> coerce_facts([[("Paris", "capital of")]], docs)
    Traceback (most recent call last):
    ...
    memory.errors.InvalidFactError: facts for document #0 ('p'), triple #0: expected (subject, relation, object), got 2 items
    """
    from .extract.base import Extraction, normalize_phrase

    if isinstance(facts, (str, bytes, Mapping)) or not isinstance(facts, Sequence):
        raise InvalidFactError("facts= must be a list with one list of (subject, relation, object) "
                               f"triples per document, not {type(facts).__name__}")
    if len(facts) != len(documents):
        raise InvalidFactError(f"facts= holds {len(facts)} lists for {len(documents)} documents (after "
                               "merging duplicate ids); give one list of triples per document")
    out = []
    for i, (triples, doc) in enumerate(zip(facts, documents)):
        where = f"facts for document #{i} ({doc.id!r})"
        if isinstance(triples, (str, bytes, Mapping)) or not isinstance(triples, Sequence):
            raise InvalidFactError(f"{where}: expected a list of (subject, relation, object) triples, "
                                   f"not {type(triples).__name__}")
        if len(triples) > MAX_FACTS_PER_DOCUMENT:
            raise InvalidFactError(f"{where}: {len(triples):,} triples, over the limit of "
                                   f"{MAX_FACTS_PER_DOCUMENT:,} per document")
        for j, triple in enumerate(triples):
            what = f"{where}, triple #{j}"
            if isinstance(triple, (str, bytes, Mapping)) or not isinstance(triple, Sequence):
                hint = ("; facts= holds one list of triples per document: [[(s, r, o), ...], ...]"
                        if isinstance(triple, str) and len(triples) == 3 else "")
                raise InvalidFactError(f"{what}: expected (subject, relation, object), "
                                       f"not {type(triple).__name__}{hint}")
            if len(triple) != 3:
                raise InvalidFactError(f"{what}: expected (subject, relation, object), got {len(triple)} items")
            subject, relation, obj = (_fact_part(part, what, role)
                                      for part, role in zip(triple, ("subject", "relation", "object")))
            if normalize_phrase(subject) == normalize_phrase(obj):
                raise InvalidFactError(f"{what}: the subject and the object are the same entity "
                                       f"({normalize_phrase(subject)!r})")
        extraction = Extraction.build([p for t in triples for p in (t[0], t[2])], triples)
        out.append(extraction)
    return out
