"""The :class:`MemoryStore` facade: open and close a store, one thin method per verb.

Each verb delegates to the module that owns it: :mod:`memory.ingest`,
:mod:`memory.forget`, :mod:`memory.temporal`, :mod:`memory.retrieval` and
:mod:`memory.bank`; the read and write protocols that make a store safe to share
between threads and processes live in :mod:`memory.core`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import networkx as nx

from . import forget as forgetting
from . import temporal
from .config import IngestConfig, RetrievalConfig, StoreConfig
from .core import StoreCore
from .documents import check_argument
from .embed import Embedder
from .errors import ConfigError, CorruptStoreError, IncompatibleStoreError, NotAStoreError, UnknownDocumentError
from .explain import Hit
from .extract import Extractor
from .forget import ForgetReport
from .ingest import ingest
from .models import Models
from .retrieval import QueryTrace, last_trace, retrieve
from .storage import DB_FILENAME, Storage, is_postgres_url, open_postgres, open_sqlite, redacted
from .temporal import FactRecord, UpdateReport

if TYPE_CHECKING:
    from .bank import MemoryBank, Recall

__all__ = ["MemoryStore", "StoredDocument", "DEFAULT_TIMEOUT"]

logger = logging.getLogger(__name__)

#: Seconds a write waits for another writer before StoreBusyError.
DEFAULT_TIMEOUT = 30.0
_CACHE_DIR = "cache"


@dataclass(frozen=True)
class StoredDocument:
    """A document as stored: id, title, text, metadata, when it was recorded."""

    id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""


class MemoryStore:
    """An embeddable HippoRAG-style knowledge store kept in one directory.

    A store may be shared: by threads using one object, by several objects, and by
    several processes. Every read sees one committed state, and once a write
    returns, every read that starts afterwards, anywhere, sees it.

    Parameters
    ----------
    path : str or Path
        Directory holding the database and the derived caches. Created if it does
        not exist (or is empty); reopening it gives back the same store. Or a
        PostgreSQL URL ``postgresql://user@host:port/db?schema=NAME``: the truth in
        that schema (created on first use), the derived caches in ``cache_dir``.
    config : StoreConfig, optional
        Configuration for a new store. For an existing store it defaults to the
        stored one; a config whose embedding, extraction or graph part differs
        from the stored one raises :class:`~memory.errors.IncompatibleStoreError`.
    extractor : Extractor, optional
        Replaces the configured extractor for this object's ingests (e.g. a
        :class:`~memory.extract.OpenIEExtractor` over LLM triples).
    embedder : Embedder, optional
        A ready encoder; its ``name`` must match the store's.
    timeout : float
        Seconds a write waits for another writer before
        :class:`~memory.errors.StoreBusyError` (default 30).
    create : bool
        Create the store when there is none (default); with False, a missing store is
        :class:`~memory.errors.NotAStoreError`.
    cache_dir : str or Path, optional
        Where this process keeps derived caches of a PostgreSQL store (default: a
        directory per database and schema under ``$XDG_CACHE_HOME/memory``).
    read_only : bool
        Open for reading only: every write raises
        :class:`~memory.errors.ReadOnlyStoreError` (a store whose files or directory
        cannot be written opens read-only anyway).

    Examples
    --------
    >>> import tempfile
    >>> with MemoryStore(tempfile.mkdtemp()) as store:  # doctest: +SKIP
    ...     store.ingest([{"id": "p1", "text": "Marie Curie was born in Warsaw."}])
    ...     [hit.doc_id for hit in store.retrieve("Where was Curie born?")]
    ['p1']
    """

    def __init__(self, path: str | Path, config: StoreConfig | None = None, *,
                 extractor: Extractor | None = None, embedder: Embedder | None = None,
                 timeout: float = DEFAULT_TIMEOUT, create: bool = True, cache_dir: str | Path | None = None,
                 read_only: bool = False) -> None:
        if config is not None and not isinstance(config, StoreConfig):
            raise ConfigError("config must be a StoreConfig")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise ConfigError("timeout must be a number of seconds >= 0")
        create = create and not read_only
        initial = {"config": json.dumps((config or StoreConfig()).stored_part(), sort_keys=True)} if create else None
        if is_postgres_url(path):
            self.location = redacted(str(path))
            self.path = Path(cache_dir) if cache_dir is not None else _default_cache(str(path))
            storage, _ = open_postgres(str(path), float(timeout), initial, read_only)
            cache = self.path
        else:
            self.path = Path(path)
            self.location = str(self.path)
            storage = self._open(float(timeout), initial, read_only)
            cache = self.path / _CACHE_DIR
        try:
            settled, trusted = self._settle_config(storage, config)
            with storage.read():
                stored_encoder = storage.meta.get("embedder")
        except BaseException:
            storage.close()
            raise
        models = Models(settled, trusted, stored_encoder, embedder, extractor)
        self._core = StoreCore(storage, settled, models, cache)
        self._bank: MemoryBank | None = None

    @property
    def config(self) -> StoreConfig:
        """The store's configuration.

        Assigning a new :class:`StoreConfig` changes how this object retrieves, ingests,
        splits and answers time questions from then on. The sections fixed when the store
        was built (encoder, extractor, graph) must stay as they are: changing them
        raises :class:`ConfigError` (build a new store instead).
        """
        return self._core.config

    @config.setter
    def config(self, value: StoreConfig) -> None:
        if not isinstance(value, StoreConfig):
            raise ConfigError(f"config must be a StoreConfig, not {type(value).__name__}")
        current = self._core.config
        if value.stored_part() != current.stored_part():
            fixed = current.stored_part()
            changed = sorted(name for name in set(fixed) | set(value.stored_part())
                             if fixed.get(name) != value.stored_part().get(name))
            raise ConfigError(f"config.{'/'.join(changed)} is fixed when the store is built; "
                              "open a new store to change it")
        self._core.reconfigure(value)

    def _open(self, timeout: float, initial: dict[str, str] | None, read_only: bool) -> Storage:
        if self.path.exists() and not self.path.is_dir():
            raise NotAStoreError(f"{self.path} is a file, not a store directory")
        database = self.path / DB_FILENAME
        if initial is None and not database.is_file():
            raise NotAStoreError(f"{self.path} is not a store (no {DB_FILENAME})")
        if not database.exists() and self.path.exists() and any(
                p.name not in (DB_FILENAME, _CACHE_DIR) for p in self.path.iterdir()):
            raise NotAStoreError(f"{self.path} is a non-empty directory without {DB_FILENAME}")
        if initial is not None:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise NotAStoreError(f"cannot create a store at {self.path}: {exc}") from None
        storage, _ = open_sqlite(self.path, timeout, create_with=initial, read_only=read_only)
        return storage

    def _settle_config(self, storage: Storage, config: StoreConfig | None) -> tuple[StoreConfig, bool]:
        with storage.read():
            raw = storage.meta.get("config")
        try:
            stored = json.loads(raw) if raw else {}
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise CorruptStoreError(f"{self.location}: the saved configuration is not readable ({exc}); "
                                    "run `python -m memory check`") from None
        if config is None:
            return StoreConfig.from_dict(stored), False
        if config.stored_part() != stored:
            diffs = [name for name in stored if stored[name] != config.stored_part().get(name)]
            raise IncompatibleStoreError(
                f"{self.location} was built with a different {'/'.join(diffs)} configuration "
                f"({json.dumps({d: stored[d] for d in diffs})}); open it without a config or build a new store")
        return config, True

    # -- writes -----------------------------------------------------------------------------------

    def ingest(self, docs: Any, split: IngestConfig | None = None,
               facts: Sequence[Sequence[Sequence[str]]] | None = None) -> list[str]:
        """Add passages; the whole batch is one transaction.

        Extraction and embedding run before the write lock is taken; the commit
        re-checks the ids under it, so concurrent writers never lose each other's work.

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
            of what the extractor would find; not with splitting.

        Returns
        -------
        list of str
            The ids, in input order (duplicates within the batch collapsed).

        Raises
        ------
        InvalidDocumentError
            On empty or non-text input; nothing is written.
        StoreBusyError
            When another writer held the store longer than ``timeout``.
        """
        return ingest(self._core, docs, split, facts)

    def forget(self, doc_id: str | None = None, *, ids: Sequence[str] | None = None, purge: bool = False) -> ForgetReport:
        """Remove documents and everything derived only from them, in one transaction.

        Every fact and entity loses the forgotten documents from its support;
        what reaches zero is deleted (rows, vectors, graph nodes, synonymy
        edges), what remains keeps a decremented weight; synonym lists that held
        a removed entity are recomputed; cached extractions of the forgotten text
        are purged; memory-bank blocks that learned from them stop answering at
        once and are retrained. The audit log records counts and a hash of the ids.

        Parameters
        ----------
        doc_id : str, optional
            One document id, or the id of a document ingested with ``split``
            (all its passages are forgotten).
        ids : list of str, optional
            Several ids, forgotten together (all or none).
        purge : bool
            On PostgreSQL, also rewrite the tables and retire the write-ahead log so no
            byte of what was forgotten stays in the data directory's files (costly:
            see the README); on SQLite nothing is left anyway (``secure_delete``).

        Raises
        ------
        UnknownDocumentError
            If an id is not stored; nothing is changed.
        InvalidQueryError
            On malformed arguments; nothing is changed.
        """
        return forgetting.forget_documents(self._core, doc_id, ids, purge)

    def forget_entity(self, name: str, cascade: bool = False, purge: bool = False) -> ForgetReport:
        """Forget an entity: its node, every fact naming it, its mentions and synonymy edges.

        Only a digest of its name is kept, so it does not come back when passages that
        name it are indexed again; the cached extractions of the passages that stay are
        dropped. With ``cascade=True`` every passage that mentions it goes too.

        Raises
        ------
        UnknownEntityError
            If no entity has that name; nothing is changed.
        """
        return forgetting.forget_entity(self._core, name, cascade, purge)

    def forget_fact(self, subject: str, relation: str, object: str,  # noqa: A002
                    purge: bool = False) -> ForgetReport:
        """Forget a fact wherever it came from; the passages stay (``stated_in`` lists them).

        Raises
        ------
        UnknownEntityError
            If no such fact is stored; nothing is changed.
        """
        return forgetting.forget_fact(self._core, subject, relation, object, purge)

    def update(self, subject: str, relation: str, new_object: str, at: Any) -> UpdateReport:
        """Rewrite a fact from date ``at`` on, keeping history.

        The current value's interval is closed at ``at`` and ``new_object`` opens one;
        the relation becomes functional (one object at a time). The new value is
        stored with its own source document (``update/<hash>``), so ``forget`` on that
        id undoes it. One transaction.

        Raises
        ------
        InvalidQueryError
            On an empty name or a bad date; nothing is written.
        """
        return temporal.update(self._core, subject, relation, new_object, at)

    # -- reads ------------------------------------------------------------------------------------

    def retrieve(self, query: str, top_k: int = 5, mode: str = "hipporag", config: RetrievalConfig | None = None,
                 as_of: Any = None, where: dict[str, Any] | None = None, explain: bool = False) -> list[Hit]:
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
        as_of : date, datetime, str or int, optional
            Answer as of this date: passages, facts and graph edges that do not
            hold then are not seen. Without it, a date the query names ("in 2015")
            is used (``config.temporal.query_dates``).
        where : dict, optional
            Metadata filter applied before ranking, in every mode: ``{"source":
            "email"}`` (equality) or ``{"source": {"in": ["email", "chat"]}}``.
        explain : bool
            Compute each hit's explanation now, in the same consistent state.

        Returns
        -------
        list of Hit
            Best first; ``hit.explain()`` tells why.
        """
        return retrieve(self._core, query, top_k, mode, config, as_of, where, explain)

    @property
    def last_query(self) -> QueryTrace | None:
        """Seconds per stage, seeds and linked facts of the calling thread's last ``retrieve``."""
        return last_trace()

    def get(self, doc_id: str) -> StoredDocument:
        """The stored document with this id.

        Raises
        ------
        UnknownDocumentError
            If no such document exists.
        """
        if not isinstance(doc_id, str):
            raise UnknownDocumentError(f"no document with id {doc_id!r}")
        check_argument(doc_id, "a document id")
        with self._core.view() as view:
            row = view.storage.documents.stored(doc_id)
        if row is None:
            raise UnknownDocumentError(f"no document with id {doc_id!r} in {self.path}")
        doc_id, title, text, metadata, recorded_at = row
        return StoredDocument(doc_id, title, text, json.loads(metadata), recorded_at)

    def __contains__(self, doc_id: object) -> bool:
        with self._core.view() as view:
            return isinstance(doc_id, str) and view.storage.documents.exists(doc_id)

    def __len__(self) -> int:
        with self._core.view() as view:
            return view.storage.meta.count("documents")

    def facts(self, subject: str | None = None, relation: str | None = None, as_of: Any = None) -> list[FactRecord]:
        """The facts that hold at ``as_of`` (default: today), optionally of one subject/relation.

        Raises
        ------
        UnknownEntityError
            If ``subject`` names no stored entity.
        InvalidQueryError
            On a bad date.
        """
        with self._core.view() as view:
            return temporal.facts(view, subject, relation, as_of)

    def history(self, subject: str, relation: str) -> list[FactRecord]:
        """Every value (subject, relation) has had, oldest first, with when each held."""
        with self._core.view() as view:
            return temporal.history(view, subject, relation)

    @property
    def bank(self) -> "MemoryBank":
        """The hierarchical parametric memory bank (``fit()`` it before use)."""
        self._core._check_open()
        if self._bank is None:
            from .bank import MemoryBank

            self._bank = MemoryBank(self._core)
        return self._bank

    def recall(self, subject: str, relation: str, as_of: Any = None) -> "Recall":
        """Closed-book answer from the memory bank: ``.answer``, ``.confidence``, ``.blocks``.

        The bank abstains (``answer`` None, ``reason`` says why) for a subject the store
        does not hold, and never answers the subject itself.

        Raises
        ------
        BankNotFittedError
            Before ``store.bank.fit()``.
        """
        return self.bank.recall(subject, relation, as_of)

    def view(self) -> Any:
        """A consistent read-only view for tools: ``.storage`` (named queries), ``.graph``
        (the knowledge graph at the same generation) and ``.generation``.

        Use it as a context manager; keep it short (it holds a read transaction).
        """
        return self._core.view()

    @property
    def last_write_generation(self) -> int | None:
        """The generation the calling thread's last write (through this object) committed, or
        found unchanged: a token for "my write is visible" checks."""
        return self._core.last_write_generation

    @property
    def generation(self) -> int:
        """The store's current generation (bumped by every committed change)."""
        with self._core.view() as view:
            return view.generation

    def stats(self) -> dict[str, Any]:
        """Counts of documents, entities, facts, edges by kind, and bytes on disk."""
        with self._core.view() as view:
            meta = view.storage.meta
            counts = {table: meta.count(table) for table in ("documents", "entities", "facts", "fact_sources",
                                                             "synonyms")}
            edges = view.derived.graph.edge_counts()
            embedder = meta.get("embedder") or self.config.embedding.model
            generation = view.generation
            stored = view.storage.inspect.stored_bytes()
        cached = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file() and p.name != DB_FILENAME) \
            if self.path.is_dir() else 0
        return {"path": self.location, "backend": self._core.storage.dialect, "documents": counts["documents"],
                "entities": counts["entities"], "facts": counts["facts"], "edges": edges,
                "fact_sources": counts["fact_sources"], "synonym_lists": counts["synonyms"],
                "bytes_on_disk": stored + cached, "generation": generation, "embedder": embedder}

    def to_networkx(self) -> nx.Graph:
        """The knowledge graph as networkx, nodes labelled with entity names / document ids."""
        with self._core.view() as view:
            labels: dict = {("entity", k): n for k, n in view.storage.graph.all_entities().items()}
            labels.update({("passage", k): i for k, i in view.storage.documents.ids(
                view.storage.documents.all_keys()).items()})
            return view.derived.graph.to_networkx(labels)

    @property
    def core(self) -> StoreCore:
        """The store's core (storage, models, derived state): for the library's own tools."""
        return self._core

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store (idempotent); later calls raise StoreClosedError."""
        self._core.close()

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryStore({self.location!r})"


def _default_cache(url: str) -> Path:
    """A per-database, per-schema cache directory under ``$XDG_CACHE_HOME/memory``."""
    import hashlib
    import os

    from .storage.postgres import parse_url

    conninfo, schema = parse_url(url)
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memory"
    digest = hashlib.sha256(f"{redacted(conninfo)}\x1f{schema}".encode()).hexdigest()[:16]
    return root / f"pg-{schema}-{digest}"

