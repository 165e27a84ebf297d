"""Import of HippoRAG's OpenIE JSON (entities and triples an LLM extracted elsewhere).

The format is HippoRAG's ``openie_*_results_*.json``: ``{"docs": [{"title",
"text", "passage", "extracted_entities", "extracted_triples"}, ...]}`` (a bare
list of such records is accepted too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..documents import Document, content_hash
from ..errors import ExtractionError
from .base import Extraction

__all__ = ["OpenIEExtractor", "load_openie_records"]


def load_openie_records(path: str | Path) -> list[dict[str, Any]]:
    """Read the records of a HippoRAG OpenIE file.

    Raises
    ------
    ExtractionError
        When the file is missing or not in the expected format.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExtractionError(f"cannot read OpenIE file {path}: {exc}") from None
    records = data.get("docs") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ExtractionError(f"{path}: expected a list of records or {{'docs': [...]}}")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("extracted_triples"), list):
            raise ExtractionError(f"{path}: record #{i} has no 'extracted_triples' list")
    return records


def _record_text(record: dict[str, Any]) -> tuple[str, str]:
    """(title, text) of a record; older files have only 'passage' = title\\ntext."""
    if isinstance(record.get("text"), str):
        return str(record.get("title") or ""), record["text"]
    passage = str(record.get("passage") or "")
    title, sep, text = passage.partition("\n")
    return (title, text) if sep else ("", passage)


class OpenIEExtractor:
    """An :class:`~memory.extract.Extractor` that looks passages up in an OpenIE file.

    Passages are matched by title and text. A passage the file does not cover is
    an :class:`~memory.errors.ExtractionError` unless a ``fallback`` extractor
    is given.

    Parameters
    ----------
    path : str or Path
        A HippoRAG OpenIE JSON file.
    fallback : Extractor, optional
        Used for passages the file does not contain.
    """

    def __init__(self, path: str | Path, fallback: Any = None) -> None:
        records = load_openie_records(path)
        self._by_text: dict[str, Extraction] = {}
        for record in records:
            title, text = _record_text(record)
            extraction = Extraction.build(
                [e for e in record.get("extracted_entities") or [] if isinstance(e, str)],
                record["extracted_triples"],
            )
            self._by_text[content_hash(title, text)] = extraction
            self._by_text.setdefault(content_hash("", text), extraction)
        digest = content_hash(Path(path).read_text(encoding="utf-8"))[:12]
        self.fallback = fallback
        self.name = f"openie:{digest}" + (f"+{fallback.name}" if fallback is not None else "")

    def __len__(self) -> int:
        return len(self._by_text)

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        """Look each document up; see :class:`~memory.extract.Extractor`."""
        found: list[Extraction | None] = []
        for doc in docs:
            found.append(self._by_text.get(content_hash(doc.title, doc.text))
                         or self._by_text.get(content_hash("", doc.text)))
        missing = [i for i, item in enumerate(found) if item is None]
        if missing and self.fallback is None:
            example = docs[missing[0]]
            raise ExtractionError(
                f"{len(missing)} passage(s) are not in the OpenIE file, e.g. id "
                f"{example.id!r} (title {example.title!r}); pass a fallback extractor"
            )
        if missing:
            extra = self.fallback.extract([docs[i] for i in missing])
            for i, extraction in zip(missing, extra):
                found[i] = extraction
        return [item for item in found if item is not None]
