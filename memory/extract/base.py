"""The :class:`Extractor` protocol and the :class:`Extraction` result."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from ..documents import Document
from ..errors import ExtractionError

__all__ = ["Extraction", "Extractor", "normalize_phrase", "normalize_relation"]

_NON_ALNUM = re.compile(r"[^\w]+|_+")


def normalize_phrase(text: str) -> str:
    """Canonical form of an entity name: the key that identifies the node.

    Lower-cased, Unicode NFKC, anything but letters and digits turned into single
    spaces (as HippoRAG does, so "Thomas C. Sudhof" and "thomas c sudhof" meet).

    >>> normalize_phrase("  Thomas C. Südhof ")
    'thomas c südhof'
    >>> normalize_phrase("U.S.")
    'u s'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_ALNUM.sub(" ", text).strip()


def normalize_relation(text: str) -> str:
    """Canonical form of a relation label: lower-cased, single-spaced.

    >>> normalize_relation(" Published  BY ")
    'published by'
    """
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class Extraction:
    """Entities and (subject, relation, object) triples found in one passage.

    Names are normalised with :func:`normalize_phrase`; every triple endpoint is
    also listed among the entities.
    """

    entities: tuple[str, ...]
    triples: tuple[tuple[str, str, str], ...]

    @classmethod
    def build(cls, entities: Sequence[str], triples: Sequence[Sequence[str]]) -> "Extraction":
        """Normalise, de-duplicate and sort raw entities and triples.

        Malformed triples (not three non-empty strings, a self-loop, or a relation
        without a letter such as ``-``) are dropped.

        >>> Extraction.build(["Paris"], [("Paris", "capital of", "France"), ("x",)]).triples
        (('paris', 'capital of', 'france'),)
        """
        names = {normalize_phrase(e) for e in entities if isinstance(e, str)}
        clean: set[tuple[str, str, str]] = set()
        for triple in triples:
            if not isinstance(triple, (list, tuple)) or len(triple) != 3:
                continue
            if not all(isinstance(part, str) for part in triple):
                continue
            subject, relation, obj = (
                normalize_phrase(triple[0]), normalize_relation(triple[1]), normalize_phrase(triple[2])
            )
            if subject and obj and subject != obj and any(c.isalpha() for c in relation):  # never "-"
                clean.add((subject, relation, obj))
                names.update((subject, obj))
        names.discard("")
        return cls(entities=tuple(sorted(names)), triples=tuple(sorted(clean)))

    def to_json(self) -> str:
        """Serialise (for the extraction cache; JSON, never pickle)."""
        return json.dumps({"entities": list(self.entities), "triples": [list(t) for t in self.triples]})

    @classmethod
    def from_json(cls, payload: str) -> "Extraction":
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(payload)
            return cls.build(data["entities"], data["triples"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ExtractionError(f"corrupt extraction cache entry: {exc}") from None


@runtime_checkable
class Extractor(Protocol):
    """Turns passages into entities and triples."""

    #: Identity of the extractor and its version; part of the cache key.
    name: str

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        """One :class:`Extraction` per document, in order."""
        ...
