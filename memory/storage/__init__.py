"""The storage layer: the only place that speaks SQL.

:class:`Storage` bundles an :class:`~memory.storage.engine.Engine` (connections,
transactions, error translation for one backend) with named queries grouped by
concept: ``meta`` (generation, change log, audit, suppression), ``documents``,
``graph`` (entities, mentions, facts, synonyms, edges), ``vectors``, ``bank`` and
``inspect`` (viewer, dump, check). Callers never write SQL; a new backend is a new
engine, since the queries are written in SQL that SQLite and PostgreSQL share.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


from .bank import BankQueries
from .documents import DocumentQueries
from .engine import Engine
from .graph import GraphQueries
from .inspect import InspectQueries
from .meta import Change, MetaQueries
from .schema import SCHEMA_VERSION
from .postgres import PostgresEngine, is_postgres_url, redacted
from .sqlite import SQLiteEngine, writable
from .vectors import EMBEDDING_KINDS, VectorQueries

__all__ = ["Storage", "open_sqlite", "open_postgres", "is_postgres_url", "redacted", "Change", "SCHEMA_VERSION",
           "EMBEDDING_KINDS", "DB_FILENAME"]

DB_FILENAME = "memory.sqlite"


class Storage:
    """Named queries over one store's database.

    Parameters
    ----------
    engine : Engine
        The backend (connections and transactions).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.meta = MetaQueries(engine)
        self.documents = DocumentQueries(engine)
        self.graph = GraphQueries(engine)
        self.vectors = VectorQueries(engine)
        self.bank = BankQueries(engine)
        self.inspect = InspectQueries(engine)

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self.engine.read_only

    def read(self) -> contextlib.AbstractContextManager[None]:
        """A read transaction: every query inside sees one committed state."""
        return self.engine.read()

    def write(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (serialised with every other writer, in any process)."""
        return self.engine.write()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect

    def purge(self) -> None:
        """Make deleted rows unreadable from the database's files (see the engines);
        a no-op on SQLite, whose ``secure_delete`` already zeroes them at each commit."""
        purge = getattr(self.engine, "purge", None)
        if purge is not None:
            purge()

    def close(self) -> None:
        """Close every connection."""
        self.engine.close()


def open_sqlite(directory: Path, timeout: float, create_with: dict[str, str] | None = None,
                read_only: bool = False) -> tuple[Storage, bool]:
    """Open (or, with ``create_with`` meta values, create) the SQLite database of a store directory.

    A store whose files or directory cannot be written opens read-only. Returns the
    storage and whether this call created it (another process may have been first).

    Raises
    ------
    NotAStoreError, IncompatibleStoreError, StoreBusyError
    """
    path = Path(directory) / DB_FILENAME
    creating = create_with is not None and (not path.exists() or path.stat().st_size == 0) and not read_only
    engine = SQLiteEngine(path, timeout, read_only=read_only or (not creating and not writable(path)))
    return _opened(engine, create_with if creating else None)


def open_postgres(url: str, timeout: float, create_with: dict[str, str] | None = None,
                  read_only: bool = False) -> tuple[Storage, bool]:
    """Open (or, with ``create_with`` meta values, create) the store in a PostgreSQL schema.

    Raises
    ------
    NotAStoreError, IncompatibleStoreError, StoreBusyError, StorageError, ConfigError
    """
    engine = PostgresEngine(url, timeout)
    engine.read_only = read_only
    return _opened(engine, create_with if not read_only else None)


def _opened(engine: SQLiteEngine | PostgresEngine, create_with: dict[str, str] | None) -> tuple[Storage, bool]:
    """Create the store with ``create_with`` (unless another process was first), else check it is one."""
    try:
        created = engine.create_schema(create_with) if create_with is not None else False
        if not created:
            engine.check_is_store()
    except BaseException:
        engine.close()
        raise
    return Storage(engine), created
