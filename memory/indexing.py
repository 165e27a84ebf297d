"""The write path: documents in, rows, vectors, synonymy edges and graph edges out.

:class:`Indexer` runs inside one database transaction per batch; the caller
commits and then persists the derived indexes. Removal of a document (used by
replacement here and by ``forget``) decrements every support set it belonged
to and deletes only what reaches zero.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Sequence

from graphs.kg import Node
from graphs.synonymy import entities_near, neighbour_lists

from .config import GraphConfig
from .db import Database
from .derived import DerivedState
from .documents import Document
from .embed import Embedder
from .extract import Extraction, Extractor, extract_with_cache
from .temporal import fact_intervals
from .timeexpr import text_interval

__all__ = ["Indexer", "WriteReport", "suppression_digest", "utc_now"]

logger = logging.getLogger(__name__)


def suppression_digest(kind: str, *parts: str) -> str:
    """The digest under which a forgotten entity name or fact triple is remembered.

    Only the digest is stored, so the suppression list holds no forgotten text.
    """
    return hashlib.sha256("\x1f".join((kind, *parts)).encode("utf-8")).hexdigest()


def utc_now() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class WriteReport:
    """What a write changed; drives the graph refresh and the audit row."""

    documents_added: int = 0
    documents_replaced: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    entities_added: int = 0
    entities_removed: int = 0
    facts_added: int = 0
    facts_removed: int = 0
    synonym_lists_recomputed: int = 0
    touched_entities: set[int] = field(default_factory=set)
    touched_documents: set[int] = field(default_factory=set)
    removed_nodes: set[Node] = field(default_factory=set)
    new_entities: set[int] = field(default_factory=set)
    removed_entities: set[int] = field(default_factory=set)
    stale_synonym_sources: set[int] = field(default_factory=set)
    #: Facts and entities that lost a supporting document (forgotten or replaced).
    weakened_facts: set[int] = field(default_factory=set)
    weakened_entities: set[int] = field(default_factory=set)
    removed_facts: set[int] = field(default_factory=set)
    extraction_cache_purged: int = 0
    #: Memory-bank blocks retrained (or removed) after the write, when the bank is fitted.
    bank_blocks_retrained: int = 0

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


class Indexer:
    """Applies document additions and removals to the database and derived indexes."""

    def __init__(self, db: Database, derived: DerivedState, embedder: Embedder | None,
                 extractor: Extractor | None, graph_config: GraphConfig) -> None:
        self.db = db
        self.derived = derived
        self.embedder = embedder
        self.extractor = extractor
        self.graph_config = graph_config

    # -- public steps (call inside a transaction) ----------------------------------------

    def ingest(self, docs: Sequence[Document], report: WriteReport,
               stated: Sequence[Extraction] | None = None) -> None:
        """Add, replace or skip each document.

        ``stated`` gives the documents' facts directly (one extraction per document,
        not extracted, not cached); their facts take the document's own interval.
        """
        to_add: list[Document] = []
        replaced: list[int] = []
        for doc in docs:
            existing = self.db.document_row(doc.id or "")
            if existing is not None and existing[5] == doc.fingerprint:
                report.documents_unchanged += 1
                continue
            if existing is not None:
                replaced.append(existing[0])
            to_add.append(doc)
        old_extractions = self._extraction_keys(replaced)
        for key in replaced:
            self.remove_document(key, report)
        if to_add:
            if (self.extractor is None and stated is None) or self.embedder is None:
                raise TypeError("ingesting needs an extractor and an embedder")
            if stated is not None:
                given = dict(zip((d.id for d in docs), stated))
                extractions = self._without_suppressed([given[d.id] for d in to_add])
            else:
                extractions = self._without_suppressed(extract_with_cache(self.db, self.extractor, to_add))
            self._add_documents(to_add, extractions, report, read_time=stated is None)
        # A replacement is counted as such, not as a removal plus an addition.
        report.documents_removed -= len(replaced)
        report.documents_replaced += len(replaced)
        report.documents_added += len(to_add) - len(replaced)
        self.update_synonymy(report)
        self._purge_unused_extractions(old_extractions, report)  # the old text must not linger

    def forget(self, keys: Sequence[int], report: WriteReport) -> None:
        """Remove documents and whatever only they supported, then purge their cached extractions."""
        extraction_keys = self._extraction_keys(keys)
        for key in keys:
            self.remove_document(key, report)
        self.update_synonymy(report)
        self._purge_unused_extractions(extraction_keys, report)

    def forget_facts(self, keys: Sequence[int], report: WriteReport) -> set[int]:
        """Delete facts wherever they came from and keep them from coming back.

        Returns the keys of the documents that yielded them (their text still states them).
        """
        db = self.db
        facts = db.facts_by_key(keys)
        names = db.entity_names({e for s, _, o in facts.values() for e in (s, o)})
        sources = {r[0] for r in db.select_in("SELECT document FROM fact_sources WHERE fact IN ({marks})", keys)}
        for key, (subject, relation, obj) in facts.items():
            db.suppress("fact", suppression_digest("fact", names[subject], relation, names[obj]))
            report.touched_entities.update((subject, obj))
        db.conn.executemany("DELETE FROM fact_sources WHERE fact = ?", [(k,) for k in facts])
        db.conn.executemany("DELETE FROM facts WHERE key = ?", [(k,) for k in facts])
        db.delete_vectors("fact", list(facts))
        self.derived.vectors["fact"].remove(list(facts))
        report.facts_removed += len(facts)
        report.removed_facts.update(facts)
        return sources

    def forget_entity(self, key: int, report: WriteReport) -> set[int]:
        """Delete an entity, every fact naming it, its mentions and synonymy edges.

        Returns the keys of the documents that mention it (they stay).
        """
        db = self.db
        name = db.entity_names([key])[key]
        facts = [r[0] for r in db.query("SELECT key FROM facts WHERE subject = ? OR object = ?", (key, key))]
        self.forget_facts(facts, report)
        db.suppress("entity", suppression_digest("entity", name))
        documents = {r[0] for r in db.query("SELECT document FROM mentions WHERE entity = ?", (key,))}
        db.conn.execute("DELETE FROM mentions WHERE entity = ?", (key,))
        self._remove_entities([key], report)
        report.touched_documents.update(documents)
        self.update_synonymy(report)
        return documents

    def remove_document(self, key: int, report: WriteReport) -> None:
        """Remove one document and whatever only it supported (no synonymy update yet)."""
        db = self.db
        entities = [r[0] for r in db.query("SELECT entity FROM mentions WHERE document = ?", (key,))]
        facts = [r[0] for r in db.query("SELECT fact FROM fact_sources WHERE document = ?", (key,))]
        db.conn.execute("DELETE FROM fact_sources WHERE document = ?", (key,))
        db.conn.execute("DELETE FROM mentions WHERE document = ?", (key,))
        orphan_facts = [f for f in facts if not db.query(
            "SELECT 1 FROM fact_sources WHERE fact = ? LIMIT 1", (f,))]
        db.conn.executemany("DELETE FROM facts WHERE key = ?", [(f,) for f in orphan_facts])
        db.delete_vectors("fact", orphan_facts)
        self.derived.vectors["fact"].remove(orphan_facts)
        orphan_entities = [e for e in entities if not db.query(
            "SELECT 1 FROM mentions WHERE entity = ? LIMIT 1", (e,))]
        self._remove_entities(orphan_entities, report)
        db.conn.execute("DELETE FROM documents WHERE key = ?", (key,))
        db.delete_vectors("document", [key])
        self.derived.vectors["document"].remove([key])
        report.documents_removed += 1
        report.facts_removed += len(orphan_facts)
        report.weakened_facts.update(facts)
        report.removed_facts.update(orphan_facts)
        report.weakened_entities.update(entities)
        report.touched_entities.update(entities)
        report.removed_nodes.add(("passage", key))

    def update_synonymy(self, report: WriteReport) -> None:
        """Recompute the synonym lists a change can have altered, and only those."""
        config = self.graph_config
        entity_index = self.derived.vectors["entity"]
        new = sorted(report.new_entities - report.removed_entities)
        sources = set(new) | report.stale_synonym_sources
        if new:
            sources.update(entities_near(self.derived.vectors_of("entity", new), entity_index,
                                         config.synonymy_threshold))
        sources -= report.removed_entities
        if not sources:
            return
        ordered = sorted(sources)
        lists = neighbour_lists(
            ordered, self.derived.vectors_of("entity", ordered), entity_index,
            lambda keys: self.derived.vectors_of("entity", keys), self.db.entity_names,
            config.synonymy_threshold, config.synonymy_top_k, config.synonymy_min_alnum,
        )
        report.touched_entities.update(r[0] for r in self.db.select_in(
            "SELECT target FROM synonyms WHERE source IN ({marks})", ordered))
        self.db.conn.executemany("DELETE FROM synonyms WHERE source = ?", [(s,) for s in ordered])
        self.db.conn.executemany(
            "INSERT INTO synonyms(source, target, score) VALUES (?, ?, ?)",
            [(s, t, score) for s, targets in lists.items() for t, score in targets])
        # A changed list changes edges at both ends: old and new targets are touched too.
        report.touched_entities.update(ordered)
        report.touched_entities.update(t for targets in lists.values() for t, _ in targets)
        report.synonym_lists_recomputed += len(ordered)

    # -- internals ---------------------------------------------------------------------

    def _extraction_keys(self, document_keys: Sequence[int]) -> set[str]:
        return {r[0] for r in self.db.select_in(
            "SELECT extraction_key FROM documents WHERE key IN ({marks})", document_keys)}

    def _purge_unused_extractions(self, extraction_keys: set[str], report: WriteReport) -> None:
        """Delete cached extractions that no remaining document has (for every extractor)."""
        still_used = {r[0] for r in self.db.select_in(
            "SELECT extraction_key FROM documents WHERE extraction_key IN ({marks})", extraction_keys)}
        before = self.db.conn.total_changes
        self.db.conn.executemany("DELETE FROM extraction_cache WHERE extraction_key = ?",
                                 [(k,) for k in sorted(extraction_keys - still_used)])
        report.extraction_cache_purged += self.db.conn.total_changes - before

    def _without_suppressed(self, extractions: Sequence[Extraction]) -> list[Extraction]:
        """Drop forgotten entities (and facts naming them) and forgotten facts."""
        entities, facts = self.db.suppressed("entity"), self.db.suppressed("fact")
        if not entities and not facts:
            return list(extractions)
        kept = []
        for extraction in extractions:
            names = [n for n in extraction.entities if suppression_digest("entity", n) not in entities]
            allowed = set(names)
            triples = [t for t in extraction.triples
                       if t[0] in allowed and t[2] in allowed and suppression_digest("fact", *t) not in facts]
            kept.append(Extraction(entities=tuple(names), triples=tuple(triples)))
        return kept

    def _remove_entities(self, keys: list[int], report: WriteReport) -> None:
        if not keys:
            return
        # Lists that held a removed entity must be recomputed; the targets of the
        # removed entities' own lists lose an edge and need a graph refresh.
        report.stale_synonym_sources.update(r[0] for r in self.db.select_in(
            "SELECT source FROM synonyms WHERE target IN ({marks})", keys))
        report.touched_entities.update(r[0] for r in self.db.select_in(
            "SELECT target FROM synonyms WHERE source IN ({marks})", keys))
        report.removed_entities.update(keys)
        self.db.conn.executemany("DELETE FROM synonyms WHERE source = ? OR target = ?",
                                 [(k, k) for k in keys])
        self.db.conn.executemany("DELETE FROM entities WHERE key = ?", [(k,) for k in keys])
        self.db.delete_vectors("entity", keys)
        self.derived.vectors["entity"].remove(keys)
        report.entities_removed += len(keys)
        report.removed_nodes.update(("entity", k) for k in keys)

    def _add_documents(self, docs: Sequence[Document], extractions: Sequence[Extraction],
                       report: WriteReport, read_time: bool = True) -> None:
        db = self.db
        now = utc_now()
        doc_keys: list[int] = []
        new_entities: dict[str, int] = {}
        new_facts: dict[int, str] = {}
        for doc, extraction in zip(docs, extractions):
            interval = doc.interval
            cursor = db.conn.execute(
                "INSERT INTO documents(id, title, text, metadata, fingerprint, extraction_key, source, "
                "valid_from, valid_to, recorded_at, text_valid_from, text_valid_to) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.id, doc.title, doc.text, json.dumps(doc.metadata, sort_keys=True),
                 doc.fingerprint, doc.extraction_key, doc.source, *interval.to_strings(), now,
                 *text_interval(doc.text).to_strings()))
            doc_key = int(cursor.lastrowid)
            doc_keys.append(doc_key)
            entity_keys = self._entity_keys(extraction.entities, new_entities)
            db.conn.executemany("INSERT OR IGNORE INTO mentions(entity, document) VALUES (?, ?)",
                                [(k, doc_key) for k in entity_keys.values()])
            report.touched_entities.update(entity_keys.values())
            intervals = (fact_intervals(doc.passage, extraction.triples, interval, doc.reference_date)
                         if read_time else [interval] * len(extraction.triples))
            for (subject, relation, obj), fact_interval in zip(extraction.triples, intervals):
                valid = fact_interval.to_strings()
                fact_key = self._fact_key(entity_keys[subject], relation, entity_keys[obj], valid)
                if fact_key is None:
                    cursor = db.conn.execute(
                        "INSERT INTO facts(subject, relation, object, valid_from, valid_to) "
                        "VALUES (?, ?, ?, ?, ?)", (entity_keys[subject], relation, entity_keys[obj], *valid))
                    fact_key = int(cursor.lastrowid)
                    new_facts[fact_key] = f"{subject} {relation} {obj}"
                db.conn.execute("INSERT OR IGNORE INTO fact_sources(fact, document) VALUES (?, ?)",
                                (fact_key, doc_key))
        report.touched_documents.update(doc_keys)
        report.new_entities.update(new_entities.values())
        report.entities_added += len(new_entities)
        report.facts_added += len(new_facts)
        self._embed("document", doc_keys, [doc.passage for doc in docs], "passage")
        entity_items = sorted(new_entities.items(), key=lambda item: item[1])
        self._embed("entity", [k for _, k in entity_items], [n for n, _ in entity_items], "entity")
        fact_items = sorted(new_facts.items())
        self._embed("fact", [k for k, _ in fact_items], [t for _, t in fact_items], "fact")

    def _entity_keys(self, names: Sequence[str], new_entities: dict[str, int]) -> dict[str, int]:
        keys: dict[str, int] = {}
        for name in names:
            row = self.db.conn.execute("SELECT key FROM entities WHERE name = ?", (name,)).fetchone()
            if row is None:
                cursor = self.db.conn.execute("INSERT INTO entities(name) VALUES (?)", (name,))
                new_entities[name] = int(cursor.lastrowid)
                keys[name] = new_entities[name]
            else:
                keys[name] = int(row[0])
        return keys

    def _fact_key(self, subject: int, relation: str, obj: int,
                  valid: tuple[str | None, str | None]) -> int | None:
        row = self.db.conn.execute(
            "SELECT key FROM facts WHERE subject = ? AND relation = ? AND object = ? "
            "AND coalesce(valid_from, '') = ? AND coalesce(valid_to, '') = ?",
            (subject, relation, obj, valid[0] or "", valid[1] or "")).fetchone()
        return int(row[0]) if row else None

    def _embed(self, kind: str, keys: list[int], texts: list[str], text_kind: str) -> None:
        if not keys:
            return
        vectors = self.embedder.encode(texts, text_kind)  # type: ignore[arg-type]
        self.db.put_vectors(kind, keys, vectors)
        self.derived.vectors[kind].add(keys, vectors)
