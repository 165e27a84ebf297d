"""Extraction results cached in the store, keyed by content hash and extractor."""

from __future__ import annotations

import logging
from typing import Sequence

from ..db import Database
from ..documents import Document
from .base import Extraction, Extractor

__all__ = ["extract_with_cache"]

logger = logging.getLogger(__name__)


def extract_with_cache(db: Database, extractor: Extractor, docs: Sequence[Document]) -> list[Extraction]:
    """Extract documents, reusing cached results; new results are written to the cache.

    Must run inside the caller's write transaction, so the cache never holds
    results for documents whose ingest was rolled back.
    """
    results: dict[str, Extraction] = {}
    for key, payload in db.select_in(
            "SELECT extraction_key, payload FROM extraction_cache "
            "WHERE extractor = ? AND extraction_key IN ({marks})",
            sorted({doc.extraction_key for doc in docs}), params=(extractor.name,)):
        results[key] = Extraction.from_json(payload)
    missing: dict[str, Document] = {}
    for doc in docs:
        if doc.extraction_key not in results:
            missing.setdefault(doc.extraction_key, doc)
    if missing:
        logger.info("extracting %d passages with %s (%d cached)",
                    len(missing), extractor.name, len(docs) - len(missing))
        fresh = extractor.extract(list(missing.values()))
        db.conn.executemany(
            "INSERT OR REPLACE INTO extraction_cache(extraction_key, extractor, payload) VALUES (?, ?, ?)",
            [(key, extractor.name, extraction.to_json()) for key, extraction in zip(missing, fresh)],
        )
        results.update(zip(missing, fresh))
    return [results[doc.extraction_key] for doc in docs]
