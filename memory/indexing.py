"""Row, vector and synonymy mutations shared by ingest, replacement, update and forget.

An :class:`Indexer` runs inside one write transaction. It changes rows through
the storage layer, records vector changes in a :class:`~memory.vectors.PendingVectors`
(the derived indexes change only after the commit), and fills a
:class:`WriteReport` with what changed: the audit counts, the change log entries
other processes catch up from, and the memory bank's affected facts. Removing a
document decrements every support set it belonged to and deletes only what
reaches zero.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from graphs.synonymy import SEARCH_MARGIN, entities_near, lists_from_candidates, neighbour_lists

from .config import GraphConfig
from .documents import Document
from .extract import Extraction
from .storage import Change, Storage
from .timeexpr import Interval, text_interval
from .vectors import PendingVectors

__all__ = ["Indexer", "WriteReport", "PreparedDocument", "Encoder", "SynonymHints", "suppression_digest", "utc_now"]

logger = logging.getLogger(__name__)

#: Returns vectors for texts of a kind ("document", "entity", "fact").
Encoder = Callable[[str, Sequence[str]], np.ndarray]


def suppression_digest(kind: str, *parts: str) -> str:
    """The digest under which a forgotten entity name or fact triple is remembered.

    Only the digest is stored, so the suppression list holds no forgotten text.

    >>> len(suppression_digest("entity", "alice"))
    64
    """
    return hashlib.sha256("\x1f".join((kind, *parts)).encode("utf-8")).hexdigest()


def utc_now() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SynonymHints:
    """Neighbour search done before the write lock: for each new entity name, the ids of the
    entities within the synonymy threshold (less the search margin) at ``generation``."""

    generation: int
    near: dict[str, set[int]]


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to be written: its extraction and each triple's validity interval."""

    doc: Document
    extraction: Extraction
    intervals: tuple[Interval, ...]


@dataclass
class WriteReport:
    """What a write changed; drives the change log, the audit row and the bank."""

    documents_added: int = 0
    documents_replaced: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    entities_added: int = 0
    entities_removed: int = 0
    facts_added: int = 0
    facts_removed: int = 0
    synonym_lists_recomputed: int = 0
    extraction_cache_purged: int = 0
    #: Memory-bank blocks retrained (or removed) after the write, when the bank is fitted.
    bank_blocks_retrained: int = 0
    added_documents: set[int] = field(default_factory=set)
    removed_documents: set[int] = field(default_factory=set)
    new_entities: set[int] = field(default_factory=set)
    removed_entities: set[int] = field(default_factory=set)
    new_facts: set[int] = field(default_factory=set)
    removed_facts: set[int] = field(default_factory=set)
    #: Facts and entities that lost a supporting document (forgotten or replaced) ...
    weakened_facts: set[int] = field(default_factory=set)
    weakened_entities: set[int] = field(default_factory=set)
    #: ... and facts that gained one.
    strengthened_facts: set[int] = field(default_factory=set)
    #: Graph nodes whose incident edges may have changed.
    touched_entities: set[int] = field(default_factory=set)
    touched_documents: set[int] = field(default_factory=set)
    stale_synonym_sources: set[int] = field(default_factory=set)
    #: The bank leaves removed facts were routed to (read before the routes went).
    removed_fact_leaves: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        """Whether the write changed anything stored."""
        return bool(self.documents_added or self.documents_replaced or self.documents_removed
                    or self.facts_removed or self.entities_removed)

    @property
    def facts_kept(self) -> int:
        """Facts that lost a source but stay, supported by other documents."""
        return len(self.weakened_facts - self.removed_facts)

    @property
    def entities_kept(self) -> int:
        """Entities that lost a mention but stay, mentioned by other documents."""
        return len(self.weakened_entities - self.removed_entities)

    def counts(self) -> dict[str, int]:
        """The numeric fields (for the audit log)."""
        counts = {k: v for k, v in vars(self).items() if isinstance(v, int)}
        if self.weakened_facts or self.weakened_entities:
            counts.update(facts_kept=self.facts_kept, entities_kept=self.entities_kept)
        return counts

    def changes(self) -> list[Change]:
        """The change log entries of this write: rows added and removed, graph nodes touched."""
        out: list[Change] = []
        for kind, added, removed in (("document", self.added_documents, self.removed_documents),
                                     ("entity", self.new_entities, self.removed_entities),
                                     ("fact", self.new_facts, self.removed_facts)):
            out += [(kind, k, "add") for k in added - removed]
            out += [(kind, k, "remove") for k in removed]
        out += [("node", k, "touch") for k in self.touched_entities]
        out += [("passage", k, "touch") for k in self.touched_documents]
        return out

    @property
    def removed_anything(self) -> bool:
        """Whether rows (and so vectors) were removed."""
        return bool(self.removed_documents or self.removed_entities or self.removed_facts)


class Indexer:
    """Applies additions and removals inside one write transaction.

    Parameters
    ----------
    storage : Storage
        The store's storage, inside ``storage.write()``.
    pending : PendingVectors
        The write's vector changes over the caught-up indexes.
    encode : Encoder
        Vectors for new texts (prepared before the lock where possible).
    graph_config : GraphConfig
        Synonymy parameters.
    report : WriteReport
        Filled in as the write proceeds.
    """

    def __init__(self, storage: Storage, pending: PendingVectors, encode: Encoder, graph_config: GraphConfig,
                 report: WriteReport, hints: SynonymHints | None = None) -> None:
        self.storage = storage
        self.pending = pending
        self.encode = encode
        self.graph_config = graph_config
        self.report = report
        self.hints = hints

    # -- documents ------------------------------------------------------------------------------

    def add_documents(self, prepared: Sequence[PreparedDocument], fresh_extractions: dict[str, dict[str, str]],
                      read_time: bool = True) -> None:
        """Insert documents with their (already suppression-filtered) extractions."""
        storage, report = self.storage, self.report
        now = utc_now()
        doc_keys: list[int] = []
        new_entities: dict[str, int] = {}
        new_facts: dict[int, str] = {}
        for item in prepared:
            doc, extraction = item.doc, item.extraction
            doc_key = storage.documents.insert(
                (doc.id, doc.title, doc.text, json.dumps(doc.metadata, sort_keys=True), doc.fingerprint,
                 doc.extraction_key, doc.source, *doc.interval.to_strings(), now,
                 *text_interval(doc.text).to_strings()))
            doc_keys.append(doc_key)
            entity_keys = self._entity_keys(extraction.entities, new_entities)
            storage.graph.add_mentions(doc_key, entity_keys.values())
            report.touched_entities.update(entity_keys.values())
            for (subject, relation, obj), interval in zip(extraction.triples, item.intervals):
                valid = interval.to_strings() if read_time else doc.interval.to_strings()
                fact_key = storage.graph.fact_key(entity_keys[subject], relation, entity_keys[obj], valid)
                if fact_key is None:
                    fact_key = storage.graph.insert_fact(entity_keys[subject], relation, entity_keys[obj], valid)
                    new_facts[fact_key] = f"{subject} {relation} {obj}"
                elif fact_key not in new_facts:
                    report.strengthened_facts.add(fact_key)
                storage.graph.add_fact_source(fact_key, doc_key)
        for extractor, payloads in fresh_extractions.items():
            used = {item.doc.extraction_key for item in prepared}
            storage.documents.cache_extractions(extractor, {k: v for k, v in payloads.items() if k in used})
        report.added_documents.update(doc_keys)
        report.touched_documents.update(doc_keys)
        report.new_entities.update(new_entities.values())
        report.new_facts.update(new_facts)
        report.entities_added += len(new_entities)
        report.facts_added += len(new_facts)
        report.documents_added += len(doc_keys)
        self._embed("document", doc_keys, [item.doc.passage for item in prepared])
        entity_items = sorted(new_entities.items(), key=lambda item: item[1])
        self._embed("entity", [k for _, k in entity_items], [n for n, _ in entity_items])
        fact_items = sorted(new_facts.items())
        self._embed("fact", [k for k, _ in fact_items], [t for _, t in fact_items])

    def remove_document(self, key: int) -> None:
        """Remove one document and whatever only it supported (synonymy is updated later)."""
        storage, report = self.storage, self.report
        entities = storage.graph.entities_of(key)
        facts = storage.graph.facts_of(key)
        storage.graph.delete_sources_of_document(key)
        storage.graph.delete_mentions_of_document(key)
        orphan_facts = storage.graph.unsupported(facts)
        self._delete_facts(orphan_facts)
        self._remove_entities(storage.graph.unmentioned(entities))
        storage.documents.delete(key)
        storage.vectors.delete("document", [key])
        self.pending["document"].remove([key])
        report.documents_removed += 1
        report.removed_documents.add(key)
        report.weakened_facts.update(facts)
        report.weakened_entities.update(entities)
        report.touched_entities.update(entities)

    def forget_facts(self, keys: Sequence[int]) -> set[int]:
        """Delete facts wherever they came from and keep them from coming back.

        Returns the keys of the documents that stated them (their text still does).
        """
        storage = self.storage
        facts = storage.graph.facts_by_key(keys)
        names = storage.graph.entity_names({e for s, _, o in facts.values() for e in (s, o)})
        sources = storage.graph.source_documents(facts)
        for subject, relation, obj in facts.values():
            storage.meta.suppress("fact", suppression_digest("fact", names[subject], relation, names[obj]))
            self.report.touched_entities.update((subject, obj))
        self._delete_facts(sorted(facts))
        return sources

    def forget_entity(self, key: int) -> set[int]:
        """Delete an entity, every fact naming it, its mentions and synonymy edges.

        Returns the keys of the documents that mention it (they stay).
        """
        storage = self.storage
        name = storage.graph.entity_names([key])[key]
        self.forget_facts(storage.graph.facts_naming(key))
        storage.meta.suppress("entity", suppression_digest("entity", name))
        documents = set(storage.graph.documents_mentioning(key))
        storage.graph.delete_mentions_of_entity(key)
        self._remove_entities([key])
        self.report.touched_documents.update(documents)
        self.update_synonymy()
        return documents

    # -- synonymy, extraction cache, suppression -----------------------------------------------

    def update_synonymy(self) -> None:
        """Recompute the synonym lists a change can have altered, and only those."""
        report = self.report
        if self.graph_config.synonymy_top_k == 0:
            return  # synonymy switched off: no lists to keep
        new = sorted(report.new_entities - report.removed_entities)
        stale = report.stale_synonym_sources - report.removed_entities
        candidates = self._hinted_candidates(new, stale)
        if candidates is None:
            self._recompute_by_search(new, stale)
            return
        config = self.graph_config
        entities = self.pending["entity"]
        if stale:  # lists that held a removed entity: searched afresh
            ordered = sorted(stale)
            for source, (_, ids) in zip(ordered, entities.range_search(entities.vectors_of(ordered),
                                                                        config.synonymy_threshold - SEARCH_MARGIN)):
                candidates[source] = {int(i) for i in ids}
        lists = lists_from_candidates(candidates, entities.vectors_of, self.storage.graph.entity_names,
                                      config.synonymy_threshold, config.synonymy_top_k, config.synonymy_min_alnum)
        self._store_lists(lists)

    def _hinted_candidates(self, new: list[int], stale: set[int]) -> dict[int, set[int]] | None:
        """Each affected list's candidates from the search done before the lock, corrected for
        what changed since; None when there are no usable hints (then everything is searched).

        A new entity's candidates: its hinted neighbours that still exist, plus whichever
        entities added since (by other writes or this one) are close. An existing entity
        close to a new one keeps its old list's members as candidates, plus the new entities
        close to it: an older entity in its top ``k`` now was in it before.
        """
        hints = self.hints
        if hints is None or not new:
            return None if new else {}
        storage = self.storage
        names = storage.graph.entity_names(new)
        if any(names[k] not in hints.near for k in new) or hints.generation < storage.meta.log_floor:
            return None
        threshold = self.graph_config.synonymy_threshold - SEARCH_MARGIN
        entities = self.pending["entity"]
        hinted = {i for k in new for i in hints.near[names[k]]}
        alive = set(storage.graph.entity_names(hinted)) - self.report.removed_entities
        since = {key for kind, key, op in storage.meta.changes_between(hints.generation, storage.meta.generation)
                 if kind == "entity" and op == "add"}
        since = set(storage.graph.entity_names(since)) - self.report.removed_entities
        fresh = sorted(since | set(new))
        close = entities.vectors_of(new) @ entities.vectors_of(fresh).T if fresh else np.zeros((len(new), 0))
        candidates: dict[int, set[int]] = {}
        for row, key in enumerate(new):
            found = {i for i in hints.near[names[key]] if i in alive}
            found.update(fresh[j] for j in np.nonzero(close[row] >= threshold)[0])
            candidates[key] = found - {key}
        near_existing = {i for found in candidates.values() for i in found} - set(new) - stale
        old_lists: dict[int, set[int]] = {}
        for source, target in storage.graph.synonym_pairs_of(near_existing):
            old_lists.setdefault(source, set()).add(target)
        for existing in near_existing:
            candidates[existing] = old_lists.get(existing, set()) | {k for k in new if existing in candidates[k]}
        return candidates

    def _recompute_by_search(self, new: list[int], stale: set[int]) -> None:
        config = self.graph_config
        entities = self.pending["entity"]
        sources = set(new) | stale
        if new:
            sources.update(entities_near(entities.vectors_of(new), entities, config.synonymy_threshold))
        sources -= self.report.removed_entities
        if not sources:
            return
        ordered = sorted(sources)
        lists = neighbour_lists(ordered, entities.vectors_of(ordered), entities, entities.vectors_of,
                                self.storage.graph.entity_names, config.synonymy_threshold,
                                config.synonymy_top_k, config.synonymy_min_alnum)
        self._store_lists(lists)

    def _store_lists(self, lists: dict[int, list[tuple[int, float]]]) -> None:
        if not lists:
            return
        report = self.report
        ordered = sorted(lists)
        report.touched_entities.update(self.storage.graph.synonym_targets(ordered))
        self.storage.graph.replace_synonym_lists(lists)
        # A changed list changes edges at both ends: old and new targets are touched too.
        report.touched_entities.update(ordered)
        report.touched_entities.update(t for targets in lists.values() for t, _ in targets)
        report.synonym_lists_recomputed += len(ordered)

    def purge_unused_extractions(self, extraction_keys: set[str]) -> None:
        """Delete cached extractions that no remaining document has (for every extractor)."""
        unused = extraction_keys - self.storage.documents.extraction_keys_in_use(extraction_keys)
        self.report.extraction_cache_purged += self.storage.documents.purge_extractions(unused)

    def without_suppressed(self, prepared: Sequence[PreparedDocument]) -> list[PreparedDocument]:
        """Drop forgotten entities (and the facts naming them) and forgotten facts."""
        entities, facts = self.storage.meta.suppressed("entity"), self.storage.meta.suppressed("fact")
        if not entities and not facts:
            return list(prepared)
        kept = []
        for item in prepared:
            names = [n for n in item.extraction.entities if suppression_digest("entity", n) not in entities]
            allowed = set(names)
            pairs = [(t, i) for t, i in zip(item.extraction.triples, item.intervals)
                     if t[0] in allowed and t[2] in allowed and suppression_digest("fact", *t) not in facts]
            kept.append(PreparedDocument(item.doc, Extraction(tuple(names), tuple(t for t, _ in pairs)),
                                         tuple(i for _, i in pairs)))
        return kept

    # -- internals ------------------------------------------------------------------------------

    def _delete_facts(self, keys: Sequence[int]) -> None:
        if not keys:
            return
        storage = self.storage
        self.report.removed_fact_leaves.update(storage.bank.leaves_of(keys).values())
        storage.graph.delete_facts(keys)
        storage.vectors.delete("fact", keys)
        self.pending["fact"].remove(keys)
        self.report.facts_removed += len(keys)
        self.report.removed_facts.update(keys)

    def _remove_entities(self, keys: list[int]) -> None:
        if not keys:
            return
        storage, report = self.storage, self.report
        # Lists that held a removed entity must be recomputed; the targets of the
        # removed entities' own lists lose an edge and need a graph refresh.
        report.stale_synonym_sources.update(storage.graph.synonym_sources(keys))
        report.touched_entities.update(storage.graph.synonym_targets(keys))
        report.removed_entities.update(keys)
        storage.graph.delete_entities(keys)
        storage.vectors.delete("entity", keys)
        self.pending["entity"].remove(keys)
        report.entities_removed += len(keys)

    def _entity_keys(self, names: Sequence[str], new_entities: dict[str, int]) -> dict[str, int]:
        known = self.storage.graph.entity_keys(names)
        keys: dict[str, int] = {}
        for name in names:
            if name in known:
                keys[name] = known[name]
            else:
                new_entities[name] = keys[name] = self.storage.graph.insert_entity(name)
        return keys

    def _embed(self, kind: str, keys: list[int], texts: list[str]) -> None:
        if not keys:
            return
        vectors = self.encode(kind, texts)
        self.storage.vectors.put(kind, keys, vectors)
        self.pending[kind].add(keys, vectors)
