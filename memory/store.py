"""The :class:`MemoryStore` facade: ingest, retrieve, get, stats."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import networkx as nx

from .bank.api import BankMethods
from .config import IngestConfig, RetrievalConfig, StoreConfig
from .db import DB_FILENAME, Database
from .derived import DerivedState
from .documents import coerce_documents, content_hash
from .embed import Embedder, load_embedder
from .errors import (
    IncompatibleStoreError,
    InvalidDocumentError,
    InvalidQueryError,
    NotAStoreError,
    UnknownDocumentError,
    UnknownEntityError,
)
from .explain import Hit
from .extract import Extraction, Extractor, SpacyExtractor, normalize_phrase, normalize_relation
from .forget import ForgetReport, forget_targets
from .indexing import Indexer, WriteReport, suppression_digest, utc_now
from .rerank import CrossEncoder
from .retrieval import QueryTrace, Retriever
from .split import split_documents
from .temporal_api import TemporalMethods

__all__ = ["MemoryStore", "StoredDocument"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored: id, title, text, metadata, when it was recorded."""

    id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""


class MemoryStore(TemporalMethods, BankMethods):
    """An embeddable HippoRAG-style knowledge store kept in one directory.

    Parameters
    ----------
    path : str or Path
        Directory holding the SQLite file and derived indexes. Created if it does
        not exist (or is empty); reopening it gives back the same store.
    config : StoreConfig, optional
        Configuration for a new store. For an existing store it defaults to the
        stored one; a config whose embedding, extraction or graph part differs
        from the stored one raises :class:`~memory.errors.IncompatibleStoreError`.
    extractor : Extractor, optional
        Replaces the configured extractor for this session's ingests (e.g. a
        :class:`~memory.extract.OpenIEExtractor` over LLM triples).
    embedder : Embedder, optional
        A ready encoder; its ``name`` must match the store's.

    Examples
    --------
    >>> import tempfile
    >>> with MemoryStore(tempfile.mkdtemp()) as store:  # doctest: +SKIP
    ...     store.ingest([{"id": "p1", "text": "Marie Curie was born in Warsaw."}])
    ...     [hit.doc_id for hit in store.retrieve("Where was Curie born?")]
    ['p1']
    """

    def __init__(self, path: str | Path, config: StoreConfig | None = None, *,
                 extractor: Extractor | None = None, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        db_path = self.path / DB_FILENAME
        if self.path.exists() and not self.path.is_dir():
            raise NotAStoreError(f"{self.path} is a file, not a store directory")
        creating = not db_path.exists()
        if creating and self.path.exists() and any(self.path.iterdir()):
            raise NotAStoreError(f"{self.path} is a non-empty directory without {DB_FILENAME}")
        self.path.mkdir(parents=True, exist_ok=True)
        self.db = Database(db_path, create=creating)
        try:
            self.config = self._settle_config(config, creating)
        except Exception:
            self.db.close()
            raise
        self._embedder = embedder
        self._extractor = extractor
        self._spacy: SpacyExtractor | None = extractor if isinstance(extractor, SpacyExtractor) else None
        self._derived: DerivedState | None = None
        self._cross_encoder: CrossEncoder | None = None
        self._closed = False
        #: Seconds per stage and PPR seeds of the last retrieve().
        self.last_query: QueryTrace | None = None
        self._slices: dict = {}
        self._bank = None

    # -- set-up ----------------------------------------------------------------------------

    def _settle_config(self, config: StoreConfig | None, creating: bool) -> StoreConfig:
        if creating:
            config = config or StoreConfig()
            with self.db.transaction():
                self.db.set_meta("config", json.dumps(config.stored_part(), sort_keys=True))
            return config
        stored = json.loads(self.db.get_meta("config") or "{}")
        if config is None:
            return StoreConfig.from_dict(stored)
        if config.stored_part() != stored:
            diffs = [name for name in stored if stored[name] != config.stored_part().get(name)]
            raise IncompatibleStoreError(
                f"{self.path} was built with a different {'/'.join(diffs)} configuration "
                f"({json.dumps({d: stored[d] for d in diffs})}); open it without a config "
                "or build a new store")
        return config

    @property
    def embedder(self) -> Embedder:
        """The encoder (loaded on first use)."""
        if self._embedder is None:
            self._embedder = load_embedder(self.config.embedding)
        stored = self.db.get_meta("embedder")
        if stored is not None and stored != self._embedder.name:
            raise IncompatibleStoreError(
                f"store vectors come from {stored!r}, not {self._embedder.name!r}")
        return self._embedder

    @property
    def extractor(self) -> Extractor:
        """The extractor used by :meth:`ingest` (loaded on first use)."""
        if self._extractor is None:
            self._extractor = self._spacy_pipeline()
        return self._extractor

    def _spacy_pipeline(self) -> SpacyExtractor:
        if self._spacy is None:
            self._spacy = SpacyExtractor(self.config.extraction.spacy_model)
        return self._spacy

    def _loaded_cross_encoder(self) -> CrossEncoder:
        if self._cross_encoder is None:
            self._cross_encoder = CrossEncoder()
        return self._cross_encoder

    @property
    def derived(self) -> DerivedState:
        """faiss indexes and the graph (loaded, or rebuilt if stale, on first use)."""
        self._check_open()
        if self._derived is None:
            stored_dim = self.db.get_meta("embedding_dim")
            # Reading a store needs the vector size, not the model: load it only if unknown.
            dim = int(stored_dim) if stored_dim else self.embedder.dim
            self._derived = DerivedState(self.db, self.path, dim)
        return self._derived

    def _check_open(self) -> None:
        if self._closed:
            raise NotAStoreError(f"store {self.path} is closed")

    # -- writes ----------------------------------------------------------------------------

    def ingest(self, docs: Any, split: IngestConfig | None = None,
               facts: Sequence[Sequence[Sequence[str]]] | None = None) -> list[str]:
        """Add passages; the whole batch is one transaction.

        Parameters
        ----------
        docs : dict, dataclass, str or list of those
            Each with ``text`` and optional ``id``, ``title``, ``metadata``.
            An id already stored with the same content is a no-op; with new
            content, the old passage and what only it supported are replaced.
        split : IngestConfig, optional
            How to split documents into passages (default: the store's
            ``config.ingest``, which keeps them whole). Passages get ids
            ``<id>#<n>``; ``forget(<id>)`` removes them all, and ingesting the
            document again replaces them (passages it no longer has are removed).
        facts : list of lists of (subject, relation, object), optional
            The facts each document states, one list per document, stored instead
            of what the extractor would find (e.g. triples an LLM extracted
            elsewhere); not with splitting.

        Returns
        -------
        list of str
            The ids, in input order (duplicates within the batch collapsed).

        Raises
        ------
        InvalidDocumentError
            On empty or non-text input; nothing is written.
        """
        self._check_open()
        parents = coerce_documents(docs)
        documents = split_documents(parents, split or self.config.ingest)
        stated = None
        if facts is not None:
            if len(facts) != len(parents) or len(documents) != len(parents):
                raise InvalidDocumentError("facts= needs one list of triples per document, without splitting")
            stated = [Extraction.build([e for t in triples for e in (t[0], t[2]) if len(t) == 3], triples)
                      for triples in facts]
        sources = {d.source for d in documents if d.source}
        kept_ids = {d.id for d in documents}

        def body(indexer: Indexer, report: WriteReport) -> None:
            if self.db.get_meta("embedder") is None:
                self.db.set_meta("embedder", self.embedder.name)
                self.db.set_meta("embedding_dim", str(self.embedder.dim))
            stale = [key for source in sorted(sources) for key, doc_id in self.db.passages_of(source)
                     if doc_id not in kept_ids]
            if stale:  # passages a re-ingested document no longer has
                indexer.forget(stale, report)
            indexer.ingest(documents, report, stated=stated)

        indexer = Indexer(self.db, self.derived, self.embedder, None if stated else self.extractor,
                          self.config.graph)
        report, _ = self._write("ingest", content_hash(*sorted(d.id or "" for d in documents)), indexer, body)
        logger.info("ingest: %s", report.counts())
        return [d.id or "" for d in parents]

    def forget(self, doc_id: str | None = None, *, ids: Sequence[str] | None = None) -> ForgetReport:
        """Remove documents and everything derived only from them, in one transaction.

        Every fact and entity loses the forgotten documents from its support;
        what reaches zero is deleted (rows, vectors, graph nodes, synonymy
        edges), what remains keeps a decremented weight; synonym lists that held
        a removed entity are recomputed; cached extractions of the forgotten
        text are purged. The audit log records counts and a hash of the ids.

        Parameters
        ----------
        doc_id : str, optional
            One document id, or the id of a document ingested with ``split``
            (all its passages are forgotten).
        ids : list of str, optional
            Several ids, forgotten together (all or none).

        Returns
        -------
        ForgetReport
            What was removed, kept and recomputed.

        Raises
        ------
        UnknownDocumentError
            If an id is not stored; nothing is changed.
        InvalidQueryError
            On malformed arguments; nothing is changed.
        """
        self._check_open()
        targets = forget_targets(doc_id, ids)
        keys: dict[int, None] = {}
        unknown = []
        for target in targets:
            row = self.db.document_row(target)
            passages = [] if row is not None else self.db.passages_of(target)
            if row is None and not passages:
                unknown.append(target)
            keys.update(dict.fromkeys([row[0]] if row is not None else [k for k, _ in passages]))
        if unknown:
            raise UnknownDocumentError(f"no document with id {', '.join(map(repr, unknown))}; "
                                       "nothing was forgotten")
        report, _ = self._forget_write("forget", content_hash(*sorted(targets)),
                                       lambda indexer, report: indexer.forget(list(keys), report))
        result = ForgetReport.from_write(targets, report)
        logger.info("forget: %s", result.to_dict())
        return result

    def forget_entity(self, name: str, cascade: bool = False) -> ForgetReport:
        """Forget an entity: its node, every fact naming it, its mentions and synonymy edges.

        The entity is also kept from coming back when passages that name it are
        indexed again (only a digest of its name is stored).

        Parameters
        ----------
        name : str
            The entity's name (normalised as at ingest: case and spacing do not matter).
        cascade : bool
            Also forget every passage that mentions it (target unlearning: everything
            about a person goes).

        Returns
        -------
        ForgetReport
            ``documents`` lists the forgotten passages (cascade); ``stated_in`` the
            passages that stay although they mention it (no cascade).

        Raises
        ------
        UnknownEntityError
            If no entity has that name; nothing is changed.
        """
        self._check_open()
        key = self._entity_key(name)
        mentioning = [r[0] for r in self.db.query(
            "SELECT d.id FROM mentions m JOIN documents d ON d.key = m.document WHERE m.entity = ? "
            "ORDER BY d.id", (key,))]

        def body(indexer: Indexer, report: WriteReport) -> set[int]:
            if not cascade:
                return indexer.forget_entity(key, report)
            # Every fact naming the entity came from a passage that mentions it, so the
            # entity goes with those passages.
            indexer.forget([self.db.document_row(d)[0] for d in mentioning], report)
            self.db.suppress("entity", suppression_digest("entity", normalize_phrase(name)))
            return set()

        report, _ = self._forget_write("forget_entity", content_hash("entity", normalize_phrase(name)), body)
        result = ForgetReport.from_write(mentioning if cascade else (), report,
                                         stated_in=() if cascade else mentioning)
        logger.info("forget_entity: %s", result.to_dict())
        return result

    def forget_fact(self, subject: str, relation: str, object: str) -> ForgetReport:  # noqa: A002
        """Forget a fact wherever it came from; the passages stay.

        The fact is kept from coming back when its passages are indexed again
        (only a digest is stored), and the report's ``stated_in`` lists the
        passages whose text still states it, so the caller can forget them too.

        Raises
        ------
        UnknownEntityError
            If no such fact is stored; nothing is changed.
        """
        self._check_open()
        triple = (normalize_phrase(subject), normalize_relation(relation), normalize_phrase(object))
        keys = [r[0] for r in self.db.query(
            "SELECT f.key FROM facts f JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object "
            "WHERE s.name = ? AND f.relation = ? AND o.name = ?", triple)]
        if not keys:
            between = self.db.query(
                "SELECT f.relation FROM facts f JOIN entities s ON s.key = f.subject "
                "JOIN entities o ON o.key = f.object WHERE s.name = ? AND o.name = ?", (triple[0], triple[2]))
            hint = (f"; stored relations between them: {', '.join(sorted({r[0] for r in between}))}"
                    if between else "")
            raise UnknownEntityError(f"no fact {triple}{hint}; nothing was forgotten")
        report, sources = self._forget_write(
            "forget_fact", content_hash("fact", *triple),
            lambda indexer, report: indexer.forget_facts(keys, report))
        stated = [doc_id for doc_id, *_ in self.db.documents_by_key(sources).values()]
        result = ForgetReport.from_write((), report, stated_in=stated)
        logger.info("forget_fact: %s", result.to_dict())
        return result

    def _entity_key(self, name: str) -> int:
        if not isinstance(name, str) or not name.strip():
            raise InvalidQueryError("an entity name must be a non-empty string")
        row = self.db.query("SELECT key FROM entities WHERE name = ?", (normalize_phrase(name),))
        if not row:
            raise UnknownEntityError(f"no entity named {name!r}; nothing was forgotten")
        return int(row[0][0])

    def _forget_write(self, action: str, target_hash: str,
                      body: Callable[[Indexer, WriteReport], Any]) -> tuple[WriteReport, Any]:
        """A forgetting change: no model is loaded for it."""
        indexer = Indexer(self.db, self.derived, self._embedder, self._extractor, self.config.graph)
        return self._write(action, target_hash, indexer, body)

    def _write(self, action: str, target_hash: str, indexer: Indexer,
               body: Callable[[Indexer, WriteReport], Any]) -> tuple[WriteReport, Any]:
        """Run a change as one transaction; if it changed anything, audit it and update the
        derived state (faiss files, graph) after the commit."""
        derived = self.derived
        report = WriteReport()
        try:
            with self.db.transaction():
                outcome = body(indexer, report)
                if report.changed:
                    self.db.bump_generation()
                    self.db.audit(utc_now(), action, target_hash, report.counts())
        except BaseException:
            # The database rolled back; in-memory indexes may hold part of the change.
            derived.load()
            raise
        if report.changed:
            derived.save()
            derived.refresh_graph(report.touched_entities - report.removed_entities,
                                  report.touched_documents - {n[1] for n in report.removed_nodes
                                                              if n[0] == "passage"},
                                  report.removed_nodes)
            if self.bank.fitted:
                synced = self.bank.sync()
                report.bank_blocks_retrained = len(synced.retrained) + len(synced.removed)
        return report, outcome

    # -- reads -----------------------------------------------------------------------------

    def retrieve(self, query: str, top_k: int = 5, mode: str = "hipporag",
                 config: RetrievalConfig | None = None, as_of: Any = None) -> list[Hit]:
        """Rank passages for a query.

        Parameters
        ----------
        query : str
            The question.
        top_k : int
            Number of hits.
        mode : {"hipporag", "hipporag1", "dense", "bm25", "hybrid"}
            ``hipporag``: HippoRAG 2 (query-to-fact linking filtered by a
            cross-encoder, plus the query's named entities; passage-node
            weights; PPR); ``hipporag1``: query entities only, PPR; ``dense``:
            embedding similarity; ``bm25``: lexical; ``hybrid``: the best dense
            hit, then the ``hipporag`` ranking.
        config : RetrievalConfig, optional
            Overrides the store's retrieval configuration for this query.
        as_of : date, str or int, optional
            Answer as of this date (ISO date or year): passages, facts and graph
            edges that do not hold then are not seen. Without it, a date the query
            names ("in 2015") is used (``config.temporal.query_dates``).

        Returns
        -------
        list of Hit
            Best first; ``hit.explain()`` tells why.
        """
        self._check_open()
        retriever = Retriever(self.db, self.derived, lambda: self.embedder,
                              lambda text, named: self._spacy_pipeline().query_phrases(text, named),
                              self._loaded_cross_encoder,
                              self.bank.entity_links if self.bank.fitted else None)
        period = self._query_period(query, as_of)
        hits = retriever.retrieve(query, top_k, mode, config or self.config.retrieval,
                                  self._time_slice(period) if period else None,
                                  # a time the question names is part of what it asks about;
                                  # an explicit as_of only says when to look
                                  self.config.temporal.period_rerank_depth if as_of is None else 0)
        retriever.trace.as_of = period.start if period else None
        self.last_query = retriever.trace
        return hits

    def get(self, doc_id: str) -> StoredDocument:
        """The stored document with this id.

        Raises
        ------
        UnknownDocumentError
            If no such document exists.
        """
        self._check_open()
        row = self.db.query(
            "SELECT id, title, text, metadata, recorded_at FROM documents WHERE id = ?", (doc_id,))
        if not row:
            raise UnknownDocumentError(f"no document with id {doc_id!r} in {self.path}")
        doc_id, title, text, metadata, recorded_at = row[0]
        return StoredDocument(doc_id, title, text, json.loads(metadata), recorded_at)

    def __contains__(self, doc_id: object) -> bool:
        return bool(self.db.query("SELECT 1 FROM documents WHERE id = ?", (str(doc_id),)))

    def __len__(self) -> int:
        return self.db.count("documents")

    def stats(self) -> dict[str, Any]:
        """Counts of documents, entities, facts, edges by kind, and bytes on disk."""
        self._check_open()
        graph_edges = self.derived.graph.edge_counts()
        return {
            "path": str(self.path),
            "documents": self.db.count("documents"),
            "entities": self.db.count("entities"),
            "facts": self.db.count("facts"),
            "edges": graph_edges,
            "fact_sources": self.db.count("fact_sources"),
            "synonym_lists": self.db.count("synonyms"),
            "bytes_on_disk": sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file()),
            "generation": self.db.generation,
            "embedder": self.db.get_meta("embedder") or self.config.embedding.model,
        }

    def to_networkx(self) -> nx.Graph:
        """The knowledge graph as networkx, nodes labelled with entity names / document ids."""
        graph = self.derived.graph
        labels = {("entity", k): n for k, n in self.db.query("SELECT key, name FROM entities")}
        labels.update({("passage", k): i for k, i in self.db.query("SELECT key, id FROM documents")})
        return graph.to_networkx(labels)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store (idempotent)."""
        if not self._closed:
            self.db.close()
            self._closed = True

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore({str(self.path)!r})"
