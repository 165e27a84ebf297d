"""The embedded backend: one SQLite file, rollback journal, secure deletion.

Settings and why:

- ``journal_mode=DELETE`` with ``secure_delete=ON``: a transaction's journal is
  deleted at commit and freed pages are zeroed, so no forgotten byte stays in the
  store's files (WAL would keep old page images in the ``-wal`` file until a
  checkpoint truncates it).
- ``BEGIN IMMEDIATE`` for writes: writers take the write lock up front and queue
  for it (``busy_timeout``); readers keep reading a committed state until the
  writer's commit, and wait only during the commit itself.
- ``cache_size`` of 64 MiB so a write batch does not spill to the file early (a
  spill takes the exclusive lock and would block readers for the rest of the
  transaction); ``temp_store=MEMORY`` so no temporary file holds content.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import (
    CorruptStoreError,
    DiskFullError,
    IncompatibleStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
    StorageError,
    StoreBusyError,
)
from .engine import Engine
from .schema import SCHEMA_VERSION, schema_statements

__all__ = ["SQLiteEngine", "APPLICATION_ID", "MIGRATIONS", "file_problems", "writable"]

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x48495050  # "HIPP": marks the file as ours

#: Statements that bring a store of the key's schema version to the next one.
MIGRATIONS: dict[int, list[str]] = {
    1: ["CREATE TABLE suppressed (kind TEXT NOT NULL CHECK (kind IN ('entity', 'fact')), "
        "digest TEXT NOT NULL, PRIMARY KEY (kind, digest)) WITHOUT ROWID"],
    2: ["ALTER TABLE documents ADD COLUMN source TEXT",
        "CREATE INDEX documents_by_source ON documents(source)"],
    3: ["CREATE INDEX documents_by_title ON documents(title)",
        "CREATE TABLE functional_relations (relation TEXT PRIMARY KEY) WITHOUT ROWID"],
    4: ["ALTER TABLE documents ADD COLUMN text_valid_from TEXT",
        "ALTER TABLE documents ADD COLUMN text_valid_to TEXT",
        "CREATE TABLE bank_nodes (node TEXT PRIMARY KEY, parent TEXT NOT NULL, level INTEGER NOT NULL, "
        "centroid BLOB NOT NULL, blocked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
        "CREATE TABLE bank_blocks (node TEXT PRIMARY KEY, weights TEXT NOT NULL, "
        "training_digest TEXT NOT NULL, facts INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE bank_routes (fact INTEGER PRIMARY KEY REFERENCES facts(key) ON DELETE CASCADE, "
        "leaf TEXT NOT NULL, key_text TEXT NOT NULL, key_vector BLOB NOT NULL)"],
    # 6: the change log, audit generations, bank weights inside the database. A bank
    # fitted before schema 6 kept its weights in files; it is dropped and must be refitted.
    5: ["CREATE TABLE changes (generation INTEGER NOT NULL, kind TEXT NOT NULL, key INTEGER NOT NULL, "
        "op TEXT NOT NULL CHECK (op IN ('add', 'remove', 'touch')), PRIMARY KEY (generation, kind, key)) "
        "WITHOUT ROWID",
        "ALTER TABLE audit ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX documents_by_extraction ON documents(extraction_key)",
        "DROP TABLE bank_routes", "DROP TABLE bank_blocks", "DROP TABLE bank_nodes",
        "DELETE FROM meta WHERE key IN ('bank_config', 'bank_generation')",
        *[s for s in schema_statements("sqlite")
          if s.startswith(("CREATE TABLE bank_", "CREATE INDEX bank_"))]],
}


class SQLiteEngine(Engine):
    """An :class:`~memory.storage.engine.Engine` over one SQLite file.

    Parameters
    ----------
    path : Path
        The database file.
    timeout : float
        Seconds to wait for a lock.
    read_only : bool
        Open read-only (``mode=ro``): reads work, writes raise ReadOnlyStoreError.
    """

    dialect = "sqlite"

    def __init__(self, path: Path, timeout: float, read_only: bool = False) -> None:
        super().__init__(timeout, read_only)
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.timeout,
                                       isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
            for pragma in ("foreign_keys = ON", "secure_delete = ON", "synchronous = FULL",
                           "cache_size = -65536", "temp_store = MEMORY"):
                conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise self._translate(exc) or StorageError(f"cannot open {self.path}: {exc}") from None
        return conn

    def _begin(self, conn: Any, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def _rollback(self, conn: Any) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _translate(self, exc: BaseException) -> BaseException | None:
        if not isinstance(exc, sqlite3.Error):
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                return DiskFullError(f"the disk holding {self.path} is full; nothing was written")
            return None
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            return StoreBusyError(f"{self.path.parent} is busy: another writer held it for over "
                                  f"{self.timeout:g} s (retry, or open the store with a longer timeout)")
        if "readonly" in message or "read-only" in message:
            return ReadOnlyStoreError(f"{self.path.parent} is read-only: writes are refused")
        if "full" in message:
            return DiskFullError(f"the disk holding {self.path} is full; nothing was written")
        if isinstance(exc, sqlite3.DatabaseError) and (
                "malformed" in message or "not a database" in message or "corrupt" in message):
            return CorruptStoreError(f"{self.path} is damaged ({exc}); run `python -m memory check`")
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in message:
            return StorageError(f"cannot open {self.path}: {exc}")
        return StorageError(f"database error in {self.path}: {exc}")

    # -- opening -------------------------------------------------------------------------------

    def create_schema(self, meta: dict[str, str]) -> bool:
        """Create the tables of a new store with its first meta values, in one transaction.

        Returns False (and creates nothing) when another process created the store first.
        """
        with self.write():
            if self.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"):
                return False
            for statement in schema_statements("sqlite"):
                self.execute(statement)
            self.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for key, value in {"schema_version": str(SCHEMA_VERSION), "generation": "0", **meta}.items():
                self.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
        return True

    def check_is_store(self) -> None:
        """Raise NotAStoreError unless the file is one of ours; migrate an older schema.

        Raises
        ------
        NotAStoreError, IncompatibleStoreError, StoreBusyError
        """
        try:
            with self.read():
                app_id = self.query_one("PRAGMA application_id")
                tables = {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
                version = self.query_one("SELECT value FROM meta WHERE key = 'schema_version'") \
                    if "meta" in tables else None
        except (CorruptStoreError, StorageError) as exc:
            if isinstance(exc, StoreBusyError):
                raise
            raise NotAStoreError(f"{self.path} is not a memory store ({exc})") from None
        if app_id is None or app_id[0] != APPLICATION_ID or "meta" not in tables:
            raise NotAStoreError(f"{self.path} is not a memory store")
        current = version[0] if version else None
        if current is not None and current.isdigit() and int(current) in MIGRATIONS:
            if self.read_only:
                raise IncompatibleStoreError(
                    f"{self.path} has schema version {current} and is read-only, so it cannot be migrated "
                    f"to version {SCHEMA_VERSION}")
            current = self._migrate(int(current))
        if current != str(SCHEMA_VERSION):
            raise IncompatibleStoreError(f"{self.path} has schema version {current}; this version of memory "
                                         f"reads schema version {SCHEMA_VERSION}")

    def _migrate(self, version: int) -> str:
        with self.write():
            row = self.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row[0]) if row and row[0].isdigit() else version
            while version in MIGRATIONS:
                for statement in MIGRATIONS[version]:
                    self.execute(statement)
                version += 1
                self.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
                logger.info("migrated %s to schema version %d", self.path, version)
        return str(version)


def file_problems(path: Path) -> list[str]:
    """SQLite's own report on a database file that cannot be opened as a store (read-only,
    no store checks); an empty list when SQLite finds nothing wrong."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        return [f"sqlite: {exc}"]
    try:
        return [f"sqlite: {row[0]}" for row in conn.execute("PRAGMA integrity_check").fetchall() if row[0] != "ok"]
    except sqlite3.Error as exc:
        return [f"sqlite: {exc}"]
    finally:
        conn.close()


def writable(path: Path) -> bool:
    """Whether a store at ``path`` (its directory and database file) can be written."""
    directory = path.parent
    return os.access(directory, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
