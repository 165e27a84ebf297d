"""Extraction results cached in the store, keyed by content hash and extractor."""

from __future__ import annotations

import logging
from typing import Sequence

from ..documents import Document
from ..storage import Storage
from .base import Extraction, Extractor

__all__ = ["extract_with_cache"]

logger = logging.getLogger(__name__)


def extract_with_cache(storage: Storage, extractor: Extractor,
                       docs: Sequence[Document]) -> tuple[list[Extraction], dict[str, str]]:
    """Extract documents, reusing cached results.

    Reads the cache (in its own read transaction) and runs the extractor on the
    rest, outside any lock. Returns the extractions in order and the fresh
    results as ``{extraction key: payload}``, which the write stores in the same
    transaction as the documents (so the cache never holds results for documents
    whose ingest was rolled back).
    """
    with storage.read():
        cached = storage.documents.cached_extractions(extractor.name, {doc.extraction_key for doc in docs})
    results = {key: Extraction.from_json(payload) for key, payload in cached.items()}
    missing: dict[str, Document] = {}
    for doc in docs:
        if doc.extraction_key not in results:
            missing.setdefault(doc.extraction_key, doc)
    fresh: dict[str, str] = {}
    if missing:
        logger.info("extracting %d passages with %s (%d cached)", len(missing), extractor.name,
                    len(docs) - len(missing))
        for key, extraction in zip(missing, extractor.extract(list(missing.values()))):
            results[key] = extraction
            fresh[key] = extraction.to_json()
    return [results[doc.extraction_key] for doc in docs], fresh
