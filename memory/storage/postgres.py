"""The shared backend: a PostgreSQL schema per store, for deployments past one machine.

``MemoryStore("postgresql://user@host:port/db?schema=NAME")`` keeps the truth in the
schema ``NAME`` (created on first use) and the derived caches (faiss, graph, BM25)
per process, in a local directory kept current through the change log. The named
queries are the same as SQLite's; only the engine differs:

- reads run in ``REPEATABLE READ READ ONLY`` transactions: one snapshot per read,
  never blocking writers or being blocked by them;
- writes take a transaction-scoped advisory lock named after the schema (with
  ``lock_timeout``), so writers of one store serialize across every machine, while
  writers of other schemas (tenants) do not wait;
- driver errors become the store's named errors.

What forgetting must do on PostgreSQL so that no byte of a forgotten document stays
in the data directory is in :func:`purge`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import (
    ConfigError,
    CorruptStoreError,
    DiskFullError,
    IncompatibleStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
    StorageError,
    StoreBusyError,
)
from .engine import Engine
from .schema import SCHEMA_VERSION, TABLES, schema_statements

__all__ = ["PostgresEngine", "parse_url", "is_postgres_url", "redacted"]

logger = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_postgres_url(location: Any) -> bool:
    """Whether a store location names a PostgreSQL database.

    >>> is_postgres_url("postgresql://me@db/mem?schema=s1"), is_postgres_url("./store")
    (True, False)
    """
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def parse_url(url: str) -> tuple[str, str]:
    """Split a store URL into a libpq connection string and the schema name.

    >>> parse_url("postgresql://me@localhost:5432/db?schema=tenant_a")
    ('postgresql://me@localhost:5432/db', 'tenant_a')

    Raises
    ------
    ConfigError
        Without ``schema=`` or with a schema name that is not a plain identifier.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    schema = query.pop("schema", "")
    if not _SCHEMA_NAME.match(schema) or schema.startswith("pg_") or schema in ("public", "information_schema"):
        raise ConfigError("a PostgreSQL store needs ?schema=NAME with NAME a lower-case identifier "
                          "(letters, digits, _; not public, information_schema or pg_*)")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), schema


def redacted(url: str) -> str:
    """The URL without its password (for messages and ``store.path``).

    >>> redacted("postgresql://me:secret@db:5432/x?schema=s")
    'postgresql://me@db:5432/x?schema=s'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class PostgresEngine(Engine):
    """An :class:`~memory.storage.engine.Engine` over one schema of a PostgreSQL database.

    Parameters
    ----------
    url : str
        ``postgresql://...?schema=NAME``.
    timeout : float
        Seconds a write waits for the store's write lock.
    """

    dialect = "postgresql"
    placeholder = "%s"

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(timeout)
        try:
            import psycopg  # noqa: F401 - only checks it is installed
        except ImportError:
            raise ConfigError("a PostgreSQL store needs psycopg: pip install 'psycopg[binary]'") from None
        self.url = url
        self.conninfo, self.schema = parse_url(url)
        self.lock_key = int.from_bytes(hashlib.sha256(f"memory:{self.schema}".encode()).digest()[:8], "big",
                                       signed=True)

    @property
    def label(self) -> str:
        """The store's URL without secrets."""
        return redacted(self.url)

    def _connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=max(1, int(self.timeout)))
            conn.execute(f'SET search_path TO "{self.schema}"')
        except psycopg.Error as exc:
            raise self._translate(exc) or StorageError(f"cannot connect to {self.label}: {exc}") from None
        return conn

    def _cursor(self, conn: Any, sql: str, params: Any) -> Any:
        # without parameters the statement is not scanned for placeholders ('%' stays literal)
        return conn.execute(self._sql(sql), tuple(params)) if params else conn.execute(sql)

    def _executemany(self, conn: Any, sql: str, rows: list) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def _begin(self, conn: Any, write: bool) -> None:
        if write:
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            conn.execute(f"SET LOCAL lock_timeout = {int(self.timeout * 1000)}")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
        else:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        conn.execute("ROLLBACK")

    def _translate(self, exc: BaseException) -> BaseException | None:
        import psycopg
        from psycopg import errors

        if not isinstance(exc, psycopg.Error):
            return None
        if isinstance(exc, (errors.LockNotAvailable, errors.DeadlockDetected, errors.SerializationFailure)):
            return StoreBusyError(f"{self.label} is busy: another writer held it for over {self.timeout:g} s "
                                  "(retry, or open the store with a longer timeout)")
        if isinstance(exc, (errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege)):
            return ReadOnlyStoreError(f"{self.label} cannot be written: {exc.diag.message_primary or exc}")
        if isinstance(exc, errors.DiskFull):
            return DiskFullError(f"the database server of {self.label} is out of disk; nothing was written")
        if isinstance(exc, (errors.DataCorrupted, errors.IndexCorrupted)):
            return CorruptStoreError(f"{self.label} is damaged: {exc}")
        if isinstance(exc, psycopg.OperationalError):
            return StorageError(f"cannot reach {self.label}: {exc}")
        return StorageError(f"database error in {self.label}: {exc.diag.message_primary or exc}")

    # -- opening ----------------------------------------------------------------------------------

    def create_schema(self, meta: dict[str, str]) -> bool:
        """Create the schema and its tables with the first meta values; False if it already exists."""
        if self.exists():  # the common case takes no lock
            return False
        with self.write():
            exists = self.query_one("SELECT 1 FROM information_schema.tables WHERE table_schema = ? "
                                    "AND table_name = 'meta'", (self.schema,))
            if exists:
                return False
            self.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            for statement in schema_statements("postgresql"):
                self.execute(statement)
            for key, value in {"schema_version": str(SCHEMA_VERSION), "generation": "0", **meta}.items():
                self.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
        return True

    def check_is_store(self) -> None:
        """Raise NotAStoreError unless the schema holds a store of this version."""
        with self.read():
            tables = {r[0] for r in self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (self.schema,))}
            if "meta" not in tables:
                raise NotAStoreError(f"{self.label} holds no memory store (no schema or no tables)")
            version = self.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
        missing = set(TABLES) - tables
        if missing:
            raise NotAStoreError(f"{self.label} is not a memory store (missing {', '.join(sorted(missing))})")
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise IncompatibleStoreError(f"{self.label} has schema version {version[0] if version else None}; "
                                         f"this version of memory reads schema version {SCHEMA_VERSION}")

    def drop(self) -> None:
        """Drop the store's schema and everything in it (a tenant's first write failed)."""
        with self.write():
            self.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def exists(self) -> bool:
        """Whether the schema holds a store already."""
        with self.read():
            return self.query_one("SELECT 1 FROM information_schema.tables WHERE table_schema = ? "
                                  "AND table_name = 'meta'", (self.schema,)) is not None

    # -- purging what forget deleted --------------------------------------------------------------

    def purge(self) -> None:
        """Make deleted rows unreadable from the data directory's files.

        A ``DELETE`` leaves the old tuples in the table and index files until their
        space is reused, and the pages' full images in the write-ahead log. This
        rewrites every table that holds text or vectors (``VACUUM FULL`` writes new
        files, indexes included, and drops the old ones), then checkpoints, switches
        to a new WAL segment and checkpoints again, so the segments that hold the
        deleted rows are no longer needed; with the server's ``wal_recycle = off``
        they are deleted rather than kept for reuse. It needs the rights to run
        ``CHECKPOINT`` (superuser or ``pg_checkpoint``) and blocks readers of each
        table while it is rewritten. WAL archives, replicas and backups are out of
        its reach.
        """
        if self.in_transaction:
            raise RuntimeError("purge runs outside any transaction")
        conn = self.conn

        def run() -> None:
            for table in _CONTENT_TABLES:
                conn.execute(f'VACUUM (FULL) "{self.schema}"."{table}"')
            conn.execute("CHECKPOINT")
            conn.execute("SELECT pg_switch_wal()")
            conn.execute("CHECKPOINT")

        self._guard(run)


#: Tables whose rows hold text, names or vectors (the others hold keys, counts and digests).
_CONTENT_TABLES = ("documents", "entities", "facts", "extraction_cache", "embeddings", "bank_routes",
                   "bank_weights", "synonyms", "mentions", "fact_sources", "changes", "audit")
