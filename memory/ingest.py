"""The ingest verb: prepare outside the write lock, commit under it.

Preparing reads which documents are new or changed, extracts them (with the
extraction cache) and embeds their passages and the entity names and facts the
store does not hold yet, all without the lock. The commit re-reads what it
depends on under the lock (another writer may have stored, replaced or forgotten
the same ids meanwhile) and does whatever is left over there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from graphs.synonymy import SEARCH_MARGIN

from .config import IngestConfig
from .core import StoreCore, WriteOutcome
from .documents import Document, coerce_documents, coerce_facts, content_hash
from .errors import InvalidDocumentError
from .extract import Extraction, extract_with_cache
from .indexing import Indexer, PreparedDocument, SynonymHints
from .split import split_documents
from .temporal import fact_intervals

__all__ = ["ingest", "write_documents"]

logger = logging.getLogger(__name__)


@dataclass
class _Prepared:
    """What was computed before the lock."""

    documents: dict[str, PreparedDocument] = field(default_factory=dict)
    fresh: dict[str, dict[str, str]] = field(default_factory=dict)
    vectors: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    bank_keys: dict[str, np.ndarray] = field(default_factory=dict)
    near: dict[str, set[int]] = field(default_factory=dict)
    near_generation: int | None = None


def ingest(core: StoreCore, docs: Any, split: IngestConfig | None = None, facts: Any = None) -> list[str]:
    """Add, replace or skip documents (see :meth:`memory.MemoryStore.ingest`); returns their ids."""
    split = split or core.config.ingest
    if not isinstance(split, IngestConfig):
        raise InvalidDocumentError("split must be an IngestConfig")
    parents = coerce_documents(docs, split=split)
    documents = split_documents(parents, split)
    stated = None
    if facts is not None:
        if len(documents) != len(parents):
            raise InvalidDocumentError("facts= gives the facts of whole documents: it cannot be used with splitting")
        stated = coerce_facts(facts, parents)
    write_documents(core, "ingest", documents, stated)
    return [d.id or "" for d in parents]


def write_documents(core: StoreCore, action: str, documents: Sequence[Document],
                    stated: Sequence[Extraction] | None = None,
                    also: Callable[[Indexer], None] | None = None) -> WriteOutcome:
    """Prepare, then commit documents in one write (``also`` runs first inside it)."""
    prepared = _prepare(core, documents, stated)
    sources = {d.source for d in documents if d.source}
    kept_ids = {d.id for d in documents}

    def body(indexer: Indexer) -> None:
        if also is not None:
            also(indexer)
        storage, report = indexer.storage, indexer.report
        current = storage.documents.fingerprints([d.id for d in documents])
        to_add = [d for d in documents if current.get(d.id or "", (0, ""))[1] != d.fingerprint]
        report.documents_unchanged += len(documents) - len(to_add)
        replaced = [current[d.id][0] for d in to_add if d.id in current]
        # passages a re-ingested document no longer has
        stale = [key for source in sorted(sources) for key, doc_id in storage.documents.passages_of(source)
                 if doc_id not in kept_ids]
        old_extractions = storage.documents.extraction_keys(replaced + stale)
        for key in replaced + stale:
            indexer.remove_document(key)
        late = [d for d in to_add if d.id not in prepared.documents]
        if late:  # changed by another writer since preparing: extract them now
            _prepare_into(core, prepared, late, stated, documents)
        items = indexer.without_suppressed([prepared.documents[d.id or ""] for d in to_add])
        indexer.add_documents(items, prepared.fresh, read_time=stated is None)
        report.documents_added -= len(replaced)
        report.documents_removed -= len(replaced)
        report.documents_replaced += len(replaced)
        indexer.update_synonymy()
        indexer.purge_unused_extractions(old_extractions)

    embedder = core.models.embedder
    hints = (SynonymHints(prepared.near_generation, prepared.near)
             if prepared.near_generation is not None else None)
    outcome = core.write(action, content_hash(*sorted(d.id or "" for d in documents)), body,
                         vectors=prepared.vectors, encoder_name=embedder.name, dim=embedder.dim,
                         bank_keys=prepared.bank_keys, hints=hints)
    logger.info("%s: %s", action, outcome.report.counts())
    return outcome


def _prepare(core: StoreCore, documents: Sequence[Document], stated: Sequence[Extraction] | None) -> _Prepared:
    storage = core.storage
    with storage.read():
        current = storage.documents.fingerprints([d.id for d in documents])
    candidates = [d for d in documents if current.get(d.id or "", (0, ""))[1] != d.fingerprint]
    prepared = _Prepared()
    if candidates:
        _prepare_into(core, prepared, candidates, stated, documents)
    return prepared


def _prepare_into(core: StoreCore, prepared: _Prepared, candidates: Sequence[Document],
                  stated: Sequence[Extraction] | None, documents: Sequence[Document]) -> None:
    """Extract and embed ``candidates`` into ``prepared``."""
    storage, models = core.storage, core.models
    if stated is not None:
        given = dict(zip((d.id for d in documents), stated))
        extractions = [given[d.id] for d in candidates]
    else:
        extractor = models.extractor
        extractions, fresh = extract_with_cache(storage, _Serialised(core, extractor), candidates)
        prepared.fresh.setdefault(extractor.name, {}).update(fresh)
    for doc, extraction in zip(candidates, extractions):
        intervals = (fact_intervals(doc.passage, extraction.triples, doc.interval, doc.reference_date)
                     if stated is None else [doc.interval] * len(extraction.triples))
        prepared.documents[doc.id or ""] = PreparedDocument(doc, extraction, tuple(intervals))
    names = sorted({n for e in extractions for n in e.entities})
    with storage.read():
        known = storage.graph.entity_keys(names)
        new_fact_texts, new_keys = set(), set()
        bank = storage.meta.get("bank_config") is not None
        for item in (prepared.documents[d.id or ""] for d in candidates):
            for (subject, relation, obj), interval in zip(item.extraction.triples, item.intervals):
                valid = interval.to_strings()
                if subject in known and obj in known and \
                        storage.graph.fact_key(known[subject], relation, known[obj], valid) is not None:
                    continue
                new_fact_texts.add(f"{subject} {relation} {obj}")
                if bank:
                    from .bank.tree import key_text

                    new_keys.add(key_text(subject, relation, valid[0][:4] if valid[0] else None))
    wanted = [("document", d.passage) for d in candidates]
    wanted += [("entity", n) for n in names if n not in known]
    wanted += [("fact", t) for t in sorted(new_fact_texts)]
    by_kind: dict[str, list[str]] = {}
    for kind, text in wanted:
        if (kind, text) not in prepared.vectors:
            by_kind.setdefault(kind, []).append(text)
    for kind, texts in by_kind.items():
        unique = sorted(set(texts))
        prepared.vectors.update(zip(((kind, t) for t in unique), models.encode(kind, unique)))
    keys = sorted(new_keys - set(prepared.bank_keys))
    if keys:
        prepared.bank_keys.update(zip(keys, models.encode("entity", keys)))
    _search_neighbours(core, prepared, [n for n in names if n not in known])


def _search_neighbours(core: StoreCore, prepared: _Prepared, new_names: list[str]) -> None:
    """Find each new entity's close entities now, so the write lock does not wait for it."""
    if not new_names or not core.config.graph.synonymy_top_k:
        return
    vectors = np.stack([prepared.vectors[("entity", n)] for n in new_names])
    threshold = core.config.graph.synonymy_threshold - SEARCH_MARGIN
    with core.view() as view:
        if view.derived.dim != vectors.shape[1]:
            return  # the store's first vectors: nothing to search yet
        found = view.derived.vectors["entity"].range_search(vectors, threshold)
        generation = view.generation
    if prepared.near_generation not in (None, generation):
        prepared.near.clear()  # searched at two generations: start over with the later one
    prepared.near_generation = generation
    prepared.near.update({name: {int(i) for i in ids} for name, (_, ids) in zip(new_names, found)})


class _Serialised:
    """An extractor wrapper that serialises calls on the store's shared spaCy pipeline."""

    def __init__(self, core: StoreCore, extractor: Any) -> None:
        self._core, self._extractor = core, extractor
        self.name = extractor.name

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        return self._core.models.extract(self._extractor, docs)
