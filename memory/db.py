"""SQLite schema and queries: the single source of truth of a store.

Everything else (faiss indexes, the graph matrix, the BM25 index) is derived
from these tables and can be rebuilt from them. Integer ``key`` columns are
internal ids (also the faiss ids); user-facing identity is content: document
ids, entity names and (subject, relation, object) triples.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .errors import IncompatibleStoreError, NotAStoreError

__all__ = ["Database", "SCHEMA_VERSION", "DB_FILENAME"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 5
DB_FILENAME = "memory.sqlite"
_APPLICATION_ID = 0x48495050  # "HIPP": marks the file as ours

_BANK_TABLES = """
CREATE TABLE bank_nodes (
    node TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    level INTEGER NOT NULL,
    centroid BLOB NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE bank_blocks (
    node TEXT PRIMARY KEY,
    weights TEXT NOT NULL,
    training_digest TEXT NOT NULL,
    facts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE bank_routes (
    fact INTEGER PRIMARY KEY REFERENCES facts(key) ON DELETE CASCADE,
    leaf TEXT NOT NULL,
    key_text TEXT NOT NULL,
    key_vector BLOB NOT NULL
);
"""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    extraction_key TEXT NOT NULL,
    source TEXT,
    valid_from TEXT,
    valid_to TEXT,
    recorded_at TEXT NOT NULL,
    text_valid_from TEXT,
    text_valid_to TEXT
);
CREATE TABLE entities (key INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
CREATE TABLE mentions (
    entity INTEGER NOT NULL REFERENCES entities(key),
    document INTEGER NOT NULL REFERENCES documents(key),
    PRIMARY KEY (entity, document)
) WITHOUT ROWID;
CREATE INDEX mentions_by_document ON mentions(document, entity);
CREATE TABLE facts (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    subject INTEGER NOT NULL REFERENCES entities(key),
    relation TEXT NOT NULL,
    object INTEGER NOT NULL REFERENCES entities(key),
    valid_from TEXT,
    valid_to TEXT
);
CREATE UNIQUE INDEX facts_identity
    ON facts(subject, relation, object, coalesce(valid_from, ''), coalesce(valid_to, ''));
CREATE INDEX facts_by_object ON facts(object);
CREATE TABLE fact_sources (
    fact INTEGER NOT NULL REFERENCES facts(key),
    document INTEGER NOT NULL REFERENCES documents(key),
    PRIMARY KEY (fact, document)
) WITHOUT ROWID;
CREATE INDEX fact_sources_by_document ON fact_sources(document, fact);
CREATE TABLE synonyms (
    source INTEGER NOT NULL REFERENCES entities(key),
    target INTEGER NOT NULL REFERENCES entities(key),
    score REAL NOT NULL,
    PRIMARY KEY (source, target)
) WITHOUT ROWID;
CREATE INDEX synonyms_by_target ON synonyms(target, source);
CREATE TABLE embeddings (
    kind TEXT NOT NULL CHECK (kind IN ('document', 'entity', 'fact')),
    key INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE extraction_cache (
    extraction_key TEXT NOT NULL,
    extractor TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (extraction_key, extractor)
) WITHOUT ROWID;
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    target_hash TEXT NOT NULL,
    counts TEXT NOT NULL
);
CREATE TABLE suppressed (
    kind TEXT NOT NULL CHECK (kind IN ('entity', 'fact')),
    digest TEXT NOT NULL,
    PRIMARY KEY (kind, digest)
) WITHOUT ROWID;
CREATE INDEX documents_by_source ON documents(source);
CREATE INDEX documents_by_title ON documents(title);
CREATE TABLE functional_relations (relation TEXT PRIMARY KEY) WITHOUT ROWID;
""" + _BANK_TABLES

#: Statements that bring a store of the key's schema version to the next one.
_MIGRATIONS = {
    1: ["CREATE TABLE suppressed (kind TEXT NOT NULL CHECK (kind IN ('entity', 'fact')), "
        "digest TEXT NOT NULL, PRIMARY KEY (kind, digest)) WITHOUT ROWID"],
    2: ["ALTER TABLE documents ADD COLUMN source TEXT",
        "CREATE INDEX documents_by_source ON documents(source)"],
    3: ["CREATE INDEX documents_by_title ON documents(title)",
        "CREATE TABLE functional_relations (relation TEXT PRIMARY KEY) WITHOUT ROWID"],
    # Passages indexed before schema 5 have no text interval: their text does not restrict them.
    4: ["ALTER TABLE documents ADD COLUMN text_valid_from TEXT",
        "ALTER TABLE documents ADD COLUMN text_valid_to TEXT",
        *(statement for statement in _BANK_TABLES.split(";") if statement.strip())],
}

EMBEDDING_KINDS = ("document", "entity", "fact")


class Database:
    """A connection to a store's SQLite file with the queries the store needs.

    Parameters
    ----------
    path : Path
        The SQLite file. Created with the schema when ``create`` is true.
    create : bool
        Create a new database (the file must not exist).
    """

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise NotAStoreError(f"{self.path} does not exist")
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        if not create:
            self._check_is_store()  # before any pragma writes to a file that may not be ours
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA secure_delete = ON")
        self.conn.execute("PRAGMA journal_mode = DELETE")
        self.conn.execute("PRAGMA synchronous = FULL")
        if create:
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                self.set_meta("schema_version", str(SCHEMA_VERSION))
                self.set_meta("generation", "0")

    # -- connection and transactions -------------------------------------------------

    def _check_is_store(self) -> None:
        try:
            app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise NotAStoreError(f"{self.path} is not a memory store ({exc})") from None
        if app_id != _APPLICATION_ID or "meta" not in tables:
            self.conn.close()
            raise NotAStoreError(f"{self.path} is not a memory store")
        try:
            version = self.get_meta("schema_version")
        except sqlite3.DatabaseError:
            version = None
        while version is not None and version.isdigit() and int(version) in _MIGRATIONS:
            with self.transaction():
                for statement in _MIGRATIONS[int(version)]:
                    self.conn.execute(statement)
                version = str(int(version) + 1)
                self.set_meta("schema_version", version)
            logger.info("migrated %s to schema version %s", self.path, version)
        if version != str(SCHEMA_VERSION):
            self.conn.close()
            raise IncompatibleStoreError(
                f"{self.path} has schema version {version}; this version of memory "
                f"reads schema version {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the body as one write transaction: all of it or none of it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        return self.conn.execute(sql, params).fetchall()

    def select_in(self, sql: str, keys: Iterable[Any], params: Sequence[Any] = (),
                  repeat: int = 1) -> list[tuple]:
        """Run ``sql`` whose ``{marks}`` placeholder(s) take ``keys``, in chunks.

        ``params`` precede the keys; with ``repeat=n`` the sql holds ``{marks}``
        n times and each takes the same chunk.

        >>> db = Database.__new__(Database)
        >>> db.conn = sqlite3.connect(":memory:")
        >>> db.select_in("SELECT value FROM (SELECT 1 AS value UNION SELECT 2) WHERE value IN ({marks})", [2])
        [(2,)]
        """
        keys = list(keys)
        rows: list[tuple] = []
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            rows += self.conn.execute(sql.format(marks=marks), [*params, *(chunk * repeat)]).fetchall()
        return rows

    # -- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """Value of a meta key, or None."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta key (inside the caller's transaction)."""
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def generation(self) -> int:
        """Counter bumped by every committed write; derived indexes record it."""
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        """Increment the generation (inside the caller's transaction)."""
        new = self.generation + 1
        self.set_meta("generation", str(new))
        return new

    def audit(self, at: str, action: str, target_hash: str, counts: dict[str, int]) -> None:
        """Record a write: what kind, how many rows, a hash of the target (never content)."""
        self.conn.execute(
            "INSERT INTO audit(at, action, target_hash, counts) VALUES (?, ?, ?, ?)",
            (at, action, target_hash, json.dumps(counts, sort_keys=True)),
        )

    # -- suppressions (forgotten entities and facts must not come back) -----------------

    def suppress(self, kind: str, digest: str) -> None:
        """Record the digest of a forgotten entity or fact (never its name)."""
        self.conn.execute("INSERT OR IGNORE INTO suppressed(kind, digest) VALUES (?, ?)", (kind, digest))

    def suppressed(self, kind: str) -> set[str]:
        """Digests of the suppressed entities or facts."""
        return {r[0] for r in self.query("SELECT digest FROM suppressed WHERE kind = ?", (kind,))}

    # -- documents ----------------------------------------------------------------------

    def document_row(self, doc_id: str) -> tuple | None:
        """(key, id, title, text, metadata, fingerprint) of a document, or None."""
        return self.conn.execute(
            "SELECT key, id, title, text, metadata, fingerprint FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()

    def passages_of(self, source: str) -> list[tuple[int, str]]:
        """(key, id) of the passages split from the document ``source``."""
        return [(r[0], r[1]) for r in self.query(
            "SELECT key, id FROM documents WHERE source = ? ORDER BY key", (source,))]

    def documents_by_key(self, keys: Iterable[int]) -> dict[int, tuple]:
        """Map key -> (id, title, text, metadata) for the given document keys."""
        return {row[0]: row[1:] for row in self.select_in(
            "SELECT key, id, title, text, metadata FROM documents WHERE key IN ({marks})", keys)}

    # -- entities and facts -------------------------------------------------------------

    def document_titles(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> title for the given document keys that have a title."""
        return dict(self.select_in(
            "SELECT key, title FROM documents WHERE key IN ({marks}) AND title != ''", keys))

    def entity_names(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> normalised name for the given entity keys."""
        return dict(self.select_in("SELECT key, name FROM entities WHERE key IN ({marks})", keys))

    def facts_by_key(self, keys: Iterable[int]) -> dict[int, tuple[int, str, int]]:
        """Map fact key -> (subject key, relation, object key)."""
        return {row[0]: (row[1], row[2], row[3]) for row in self.select_in(
            "SELECT key, subject, relation, object FROM facts WHERE key IN ({marks})", keys)}

    def synonym_score(self, a: int, b: int) -> float | None:
        """Cosine similarity of two entities that are synonyms (either direction), else None."""
        row = self.conn.execute(
            "SELECT max(score) FROM synonyms WHERE (source = ? AND target = ?) OR (source = ? AND target = ?)",
            (a, b, b, a)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def facts_between(self, a: int, b: int) -> list[tuple[int, str, int, int]]:
        """Facts linking two entities either way: (subject, relation, object, support)."""
        return self.query(
            "SELECT f.subject, f.relation, f.object, count(s.document) FROM facts f "
            "JOIN fact_sources s ON s.fact = f.key "
            "WHERE (f.subject = ? AND f.object = ?) OR (f.subject = ? AND f.object = ?) "
            "GROUP BY f.key ORDER BY count(s.document) DESC, f.relation",
            (a, b, b, a),
        )

    def incident_edges(
        self, entity_keys: Iterable[int], document_keys: Iterable[int]
    ) -> list[tuple[str, int, str, int, str, float]]:
        """Current graph edges touching the given nodes.

        Returns rows ``(kind_a, key_a, kind_b, key_b, edge_kind, weight)`` where
        a node kind is ``"entity"`` or ``"passage"`` and the edge kind is
        ``"fact"`` (weight: number of supporting documents, summed over the
        relations between the pair), ``"mention"`` (weight 1) or ``"synonym"``
        (weight: cosine similarity).
        """
        # A pair whose endpoints fall in different chunks comes back once per chunk:
        # key the rows by pair so each edge is counted once.
        facts = {(s, o): w for s, o, w in self.select_in(
            "SELECT f.subject, f.object, count(*) FROM facts f JOIN fact_sources s ON s.fact = f.key "
            "WHERE f.subject IN ({marks}) OR f.object IN ({marks}) GROUP BY f.subject, f.object",
            entity_keys, repeat=2)}
        synonyms = {(s, t): w for s, t, w in self.select_in(
            "SELECT source, target, score FROM synonyms WHERE source IN ({marks}) OR target IN ({marks})",
            entity_keys, repeat=2)}
        mentions = set(self.select_in(
            "SELECT entity, document FROM mentions WHERE entity IN ({marks})", entity_keys))
        mentions.update(self.select_in(
            "SELECT entity, document FROM mentions WHERE document IN ({marks})", document_keys))
        rows: list[tuple[str, int, str, int, str, float]] = []
        rows += [("entity", s, "entity", o, "fact", float(w)) for (s, o), w in sorted(facts.items())]
        rows += [("entity", s, "entity", t, "synonym", float(w)) for (s, t), w in sorted(synonyms.items())]
        rows += [("entity", e, "passage", d, "mention", 1.0) for e, d in sorted(mentions)]
        return rows

    # -- embeddings ---------------------------------------------------------------------

    def put_vectors(self, kind: str, keys: Sequence[int], vectors: np.ndarray) -> None:
        """Store float32 vectors for the given keys (inside the caller's transaction)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.conn.executemany(
            "INSERT OR REPLACE INTO embeddings(kind, key, vector) VALUES (?, ?, ?)",
            [(kind, int(k), vectors[i].tobytes()) for i, k in enumerate(keys)],
        )

    def get_vectors(self, kind: str, keys: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(keys, float32 matrix) of stored vectors of a kind, all or the given keys."""
        if keys is None:
            rows = self.query("SELECT key, vector FROM embeddings WHERE kind = ? ORDER BY key", (kind,))
        else:
            rows = self.select_in("SELECT key, vector FROM embeddings WHERE kind = ? AND key IN ({marks})",
                                  keys, params=(kind,))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        keys_out = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        return keys_out, matrix

    def delete_vectors(self, kind: str, keys: Iterable[int]) -> None:
        """Delete vectors (inside the caller's transaction)."""
        self.conn.executemany(
            "DELETE FROM embeddings WHERE kind = ? AND key = ?", [(kind, int(k)) for k in keys]
        )

    # -- statistics -----------------------------------------------------------------------

    def count(self, table: str) -> int:
        """Row count of one of the store's tables."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


_TABLES = (
    "documents", "entities", "mentions", "facts", "fact_sources", "functional_relations",
    "synonyms", "embeddings", "extraction_cache", "audit", "suppressed",
)


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
