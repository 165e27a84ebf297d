"""The SQL engine seam: connections, transactions and error translation, per backend.

Named queries (the repositories in :mod:`memory.storage`) are written once, with
``?`` placeholders, in SQL that SQLite and PostgreSQL both read; an engine runs
them on the calling thread's connection inside its current transaction and turns
driver errors into the store's named errors. Each thread gets its own
connection, so one store object can serve many threads: reads run in parallel,
writes serialize on the database's write lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["Engine", "chunks", "CHUNK"]

logger = logging.getLogger(__name__)

#: Keys per statement for ``IN (...)`` lists.
CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items.

    >>> [list(c) for c in chunks([1, 2, 3], 2)]
    [[1, 2], [3]]
    """
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _ThreadState(threading.local):
    """Per-thread connection and transaction nesting."""

    conn: Any = None
    mode: str = ""  # "", "read" or "write"
    depth: int = 0


class Engine:
    """A database behind the store: one connection per thread, explicit transactions.

    Subclasses provide :meth:`_connect`, :meth:`_begin`, :meth:`_commit`,
    :meth:`_rollback`, :meth:`_translate` and the dialect name.

    Parameters
    ----------
    timeout : float
        Seconds a write waits for the write lock before :class:`~memory.errors.StoreBusyError`.
    read_only : bool
        Refuse writes with :class:`~memory.errors.ReadOnlyStoreError`.
    """

    dialect = ""
    #: Placeholder style of the driver ("?" or "%s").
    placeholder = "?"

    def __init__(self, timeout: float, read_only: bool = False) -> None:
        self.timeout = timeout
        self.read_only = read_only
        self._local = _ThreadState()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()
        self._write_mutex = threading.Lock()  # threads of this process queue here, not on the file
        self._closed = False

    # -- subclass hooks ---------------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any, write: bool) -> None:
        raise NotImplementedError

    def _commit(self, conn: Any) -> None:
        raise NotImplementedError

    def _rollback(self, conn: Any) -> None:
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> BaseException | None:
        """The store's named error for a driver error, or None to re-raise it."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    # -- connections ------------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        """This thread's connection (opened on first use)."""
        if self._closed:
            from ..errors import StoreClosedError

            raise StoreClosedError("the store is closed")
        if self._local.conn is None:
            conn = self._connect()
            with self._connections_lock:
                self._connections.append(conn)
            self._local.conn = conn
        return self._local.conn

    def close(self) -> None:
        """Close every thread's connection (idempotent)."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):
                    conn.close()
            self._connections.clear()

    # -- transactions -------------------------------------------------------------------------

    @property
    def in_transaction(self) -> str:
        """``"read"``, ``"write"`` or ``""`` for the calling thread."""
        return self._local.mode

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction: every statement inside sees one committed state.

        Nested inside another transaction of the same thread, it joins that one.
        """
        if self._local.mode:
            with self._joined():
                yield
            return
        conn = self.conn
        self._begin_or_rollback(conn, write=False)
        self._local.mode, self._local.depth = "read", 1
        try:
            yield
        finally:
            self._local.mode, self._local.depth = "", 0
            with contextlib.suppress(Exception):
                self._rollback(conn)  # a read changed nothing: ending it releases the snapshot

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction: all of it or none of it.

        Raises
        ------
        StoreBusyError
            When the write lock is not free within ``timeout`` seconds.
        ReadOnlyStoreError
            On a store opened read-only.
        """
        from ..errors import ReadOnlyStoreError, StoreBusyError

        if self.read_only:
            raise ReadOnlyStoreError("the store is read-only (its files or directory are not writable)")
        if self._local.mode == "write":
            with self._joined():
                yield
            return
        if self._local.mode == "read":
            raise RuntimeError("a write cannot start inside a read transaction")
        if not self._write_mutex.acquire(timeout=self.timeout):
            raise StoreBusyError(f"another writer in this process held the store for over {self.timeout:g} s")
        try:
            conn = self.conn
            self._begin_or_rollback(conn, write=True)
            self._local.mode, self._local.depth = "write", 1
            try:
                yield
            except BaseException:
                with contextlib.suppress(Exception):
                    self._rollback(conn)
                raise
            else:
                try:
                    self._guard(lambda: self._commit(conn))
                except BaseException:
                    with contextlib.suppress(Exception):
                        self._rollback(conn)
                    raise
            finally:
                self._local.mode, self._local.depth = "", 0
        finally:
            self._write_mutex.release()

    @contextlib.contextmanager
    def _joined(self) -> Iterator[None]:
        """A transaction nested in the thread's current one joins it."""
        self._local.depth += 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def _begin_or_rollback(self, conn: Any, write: bool) -> None:
        """Begin a transaction; if taking its locks fails, end what was begun."""
        try:
            self._guard(lambda: self._begin(conn, write))
        except BaseException:
            with contextlib.suppress(Exception):
                self._rollback(conn)
            raise

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - translated or re-raised
            named = self._translate(exc)
            if named is None:
                raise
            raise named from None

    # -- statements ----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """All rows of a statement."""
        conn = self.conn
        return self._guard(lambda: [tuple(r) for r in self._cursor(conn, sql, params).fetchall()])

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """The first row of a statement, or None."""
        conn = self.conn
        return self._guard(lambda: _first(self._cursor(conn, sql, params).fetchone()))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement inside the current write transaction; returns the rows it changed."""
        self._require_write()
        conn = self.conn
        return self._guard(lambda: self._cursor(conn, sql, params).rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per row inside the current write transaction."""
        self._require_write()
        rows = list(rows)
        if rows:
            conn = self.conn
            self._guard(lambda: self._executemany(conn, sql, rows))

    def insert_key(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an ``INSERT ... RETURNING key`` and return the new key."""
        self._require_write()
        conn = self.conn
        return int(self._guard(lambda: self._cursor(conn, sql, params).fetchone())[0])

    def select_in(self, sql: str, keys: Iterable[Any], params: Sequence[Any] = (), repeat: int = 1) -> list[tuple]:
        """Run ``sql`` whose ``{marks}`` placeholder(s) take ``keys``, in chunks.

        ``params`` precede the keys; with ``repeat=n`` the statement holds ``{marks}``
        n times and each takes the same chunk.
        """
        keys = list(keys)
        rows: list[tuple] = []
        for chunk in chunks(keys):
            marks = ",".join("?" * len(chunk))
            rows += self.query(sql.format(marks=marks), [*params, *(list(chunk) * repeat)])
        return rows

    def _require_write(self) -> None:
        if self._local.mode != "write":
            raise RuntimeError("writes must run inside engine.write()")

    def _cursor(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        return conn.execute(self._sql(sql), tuple(params))

    def _executemany(self, conn: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        conn.executemany(self._sql(sql), rows)


def _first(row: Any) -> tuple | None:
    return None if row is None else tuple(row)
