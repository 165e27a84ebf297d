"""Tenants: name rules, where a tenant's store lives, and the registry that serves calls.

- :func:`validate_tenant_name` is the whitelist every name passes before anything else.
- :class:`DirectoryTenants` and :class:`SchemaTenants` are the only places that map a
  tenant name to storage: a store directory under the root, or a schema of one
  PostgreSQL database (with the derived caches in a directory per tenant under the root).
- :class:`TenantRegistry` runs operations: it keeps one open store per tenant and, around
  every call, that tenant's :class:`~memory.aio.ReadWriteGate`, the one place where the
  server's concurrency policy (:data:`memory.aio.POLICY`) is applied.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from ..aio import ReadWriteGate, run_gated
from ..config import EmbeddingConfig
from ..storage import DB_FILENAME
from ..embed import Embedder
from ..store import MemoryStore
from .errors import ServerError, error_from_exception

__all__ = ["validate_tenant_name", "TenantBackend", "DirectoryTenants", "SchemaTenants", "tenant_backend",
           "TenantRegistry", "TENANT_NAME_RULE", "MAX_TENANT_NAME"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest tenant name: leaves room for a prefix within PostgreSQL's 63-byte identifiers.
MAX_TENANT_NAME = 48
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*", re.ASCII)
#: Names refused although they match the pattern: Windows device names, PostgreSQL's own
#: schemas and its reserved ``pg_`` prefix.
_RESERVED = {"con", "prn", "aux", "nul", "clock", "public", "information_schema",
             *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
TENANT_NAME_RULE = (f"1 to {MAX_TENANT_NAME} characters from a-z, 0-9, '_' and '-', starting with a "
                    "letter or digit; not a reserved name (con, nul, com1, public, pg_..., ...)")


def validate_tenant_name(name: Any) -> str:
    """Return ``name`` if it is an allowed tenant name, else raise ``invalid_tenant``.

    The rule is a whitelist (see :data:`TENANT_NAME_RULE`): lowercase ASCII letters,
    digits, ``_`` and ``-``, so no separator, dot, percent sign, NUL, unicode lookalike
    or case variant can name a different directory (or schema) than it appears to.

    Raises
    ------
    ServerError
        ``invalid_tenant`` (400).

    Examples
    --------
    >>> validate_tenant_name("team-7")
    'team-7'
    >>> validate_tenant_name("..")
    Traceback (most recent call last):
    ...
    memory.server.errors.ServerError: invalid tenant name: must be 1 to 48 characters ...
    """
    if (not isinstance(name, str) or not name.isascii() or len(name) > MAX_TENANT_NAME
            or not _NAME.fullmatch(name) or name in _RESERVED or name.startswith("pg_")):
        raise ServerError("invalid_tenant", f"invalid tenant name: must be {TENANT_NAME_RULE}")
    return name


class TenantBackend(Protocol):
    """Where tenants' stores live (directories now, PostgreSQL schemas later)."""

    def exists(self, name: str) -> bool:
        """Whether the tenant has a store."""

    def open(self, name: str, create: bool) -> MemoryStore:
        """Open the tenant's store, creating it if ``create``; ``tenant_not_found`` otherwise."""

    def discard(self, name: str) -> None:
        """Remove a store that :meth:`open` just created (its first write failed)."""

    def scrub(self, name: str) -> list[tuple[str, str]]:
        """Strings to hide from error messages (storage locations), with replacements."""


@dataclass
class DirectoryTenants:
    """Each tenant is the store directory ``root/<name>``.

    Parameters
    ----------
    root : Path
        Created if missing. Nothing outside it is ever opened: names are validated,
        the resolved path must sit directly under the resolved root, and a symlink in
        a tenant's place is refused.
    embedder : Embedder, optional
        An encoder shared by every tenant store that uses ``embedder_model`` (it must
        be safe for concurrent use, as the default ONNX encoder is). Default: each
        store loads its own on first use.
    embedder_model : str
        The ``EmbeddingConfig.model`` that ``embedder`` implements.
    """

    root: Path
    embedder: Embedder | None = None
    embedder_model: str = field(default_factory=lambda: EmbeddingConfig().model)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def path(self, name: str) -> Path:
        """The tenant's directory (checked to lie directly under the root)."""
        path = self.root / validate_tenant_name(name)
        if path.is_symlink() or path.resolve().parent != self._real_root:
            raise ServerError("invalid_tenant", f"tenant {name!r} does not resolve inside the server root")
        return path

    def exists(self, name: str) -> bool:
        """Whether ``root/<name>`` holds a store."""
        return (self.path(name) / DB_FILENAME).is_file()

    def open(self, name: str, create: bool) -> MemoryStore:
        """Open (or, with ``create``, create) the tenant's store."""
        path = self.path(name)
        if not (path / DB_FILENAME).is_file() and not create:
            raise ServerError("tenant_not_found", f"tenant {name!r} has no store yet "
                                                  "(its first ingest or update creates it)")
        store = MemoryStore(path, embedder=self.embedder)
        if self.embedder is not None and store.config.embedding.model != self.embedder_model:
            store.close()  # built with another encoder: let it load its own
            store = MemoryStore(path)
        return store

    def discard(self, name: str) -> None:
        """Delete the tenant's directory (only ever called on a store created moments ago)."""
        shutil.rmtree(self.path(name), ignore_errors=True)

    def scrub(self, name: str) -> list[tuple[str, str]]:
        """The tenant's directory and the root, as they may appear in messages."""
        path = self.root / name
        return [(str(path.resolve()), f"tenant '{name}'"), (str(path), f"tenant '{name}'"),
                (str(self._real_root), "<root>"), (str(self.root), "<root>")]


@dataclass
class SchemaTenants:
    """Each tenant is a schema of one PostgreSQL database (``t_<name>_<hash>``), its derived
    caches the directory ``root/<name>``.

    Parameters
    ----------
    database : str
        ``postgresql://user@host:port/db`` (no ``schema=``: each tenant gets its own).
    root : Path
        Where this server keeps each tenant's derived caches (created if missing).
    embedder : Embedder, optional
        An encoder shared by the tenants' stores.
    """

    database: str
    root: Path
    embedder: Embedder | None = None

    def __post_init__(self) -> None:
        from ..storage import is_postgres_url

        if not is_postgres_url(self.database) or "schema=" in self.database:
            raise ServerError("invalid_request", "--database takes postgresql://user@host:port/db without schema=")
        self.directories = DirectoryTenants(self.root)

    def schema(self, name: str) -> str:
        """The tenant's schema: a readable prefix and a digest of the exact name (injective)."""
        name = validate_tenant_name(name)
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        return f"t_{name.replace('-', '_')[:40]}_{digest}"

    def url(self, name: str) -> str:
        """The tenant's store URL."""
        separator = "&" if "?" in self.database else "?"
        return f"{self.database}{separator}schema={self.schema(name)}"

    def exists(self, name: str) -> bool:
        """Whether the tenant's schema holds a store."""
        from ..storage.postgres import PostgresEngine

        engine = PostgresEngine(self.url(name), timeout=30.0)
        try:
            return engine.exists()
        finally:
            engine.close()

    def open(self, name: str, create: bool) -> MemoryStore:
        """Open (or, with ``create``, create) the tenant's store."""
        if not create and not self.exists(name):
            raise ServerError("tenant_not_found", f"tenant {name!r} has no store yet "
                                                  "(its first ingest or update creates it)")
        return MemoryStore(self.url(name), embedder=self.embedder, cache_dir=self.directories.path(name))

    def discard(self, name: str) -> None:
        """Drop the tenant's schema and caches (only ever called on a store created moments ago)."""
        from ..storage.postgres import PostgresEngine

        engine = PostgresEngine(self.url(name), timeout=30.0)
        try:
            engine.drop()
        finally:
            engine.close()
        self.directories.discard(name)

    def scrub(self, name: str) -> list[tuple[str, str]]:
        """The database URL and cache paths, as they may appear in messages."""
        from ..storage import redacted

        return [(redacted(self.url(name)), f"tenant '{name}'"), (self.url(name), f"tenant '{name}'"),
                (self.schema(name), f"tenant '{name}'"), *self.directories.scrub(name)]


def tenant_backend(root: Path, database: str | None, embedder: Embedder | None) -> TenantBackend:
    """Directories under ``root``, or schemas of ``database`` (caches under ``root``)."""
    if database is not None:
        return SchemaTenants(database, root, embedder=embedder)
    return DirectoryTenants(root, embedder=embedder)


@dataclass
class _Tenant:
    """One tenant's open store and gate (all fields touched only on the event loop,
    except ``store``, which worker threads set under ``opening``)."""

    gate: ReadWriteGate = field(default_factory=ReadWriteGate)
    store: MemoryStore | None = None
    opening: threading.Lock = field(default_factory=threading.Lock)
    last_used: int = 0


class TenantRegistry:
    """Serves calls on tenants' stores: opens them on demand, gates every call.

    Concurrency (the one place the server applies it): every call on a tenant holds
    that tenant's :class:`~memory.aio.ReadWriteGate` as a reader or writer while it
    runs in a worker thread; the gate's policy (:data:`memory.aio.POLICY`: reads in
    parallel, writes one at a time per store) decides what may overlap. Different
    tenants never share a gate or a store, so a long write on one does not block
    another; waiting calls wait on the event loop, not in a thread.

    Parameters
    ----------
    backend : TenantBackend
        Name -> store resolution.
    executor : Executor, optional
        Worker threads (default: a private pool of ``workers`` threads).
    workers : int
        Size of the default pool: how many tenants can be busy at once.
    max_open : int
        Stores kept open; past it, idle stores are closed, least recently used first.
    """

    def __init__(self, backend: TenantBackend, *, executor: Executor | None = None, workers: int = 32,
                 max_open: int = 64) -> None:
        self.backend = backend
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memory-tenant")
        self.max_open = max_open
        self._tenants: dict[str, _Tenant] = {}
        self._clock = 0

    async def run(self, name: str, fn: Callable[[MemoryStore], T], *, write: bool, create: bool = False) -> T:
        """Run ``fn(store)`` on the tenant's store under its gate; errors become :class:`ServerError`.

        Parameters
        ----------
        name : str
            A tenant name (validated here too).
        fn : callable
            Runs in a worker thread with the open store.
        write : bool
            Whether ``fn`` changes the store (held as the gate's writer).
        create : bool
            Create the tenant's store if missing (only for writes). If the first
            write on a new store fails, the store is removed again.
        """
        validate_tenant_name(name)
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = _Tenant()
        self._clock += 1
        tenant.last_used = self._clock
        try:
            return await run_gated(tenant.gate, self.executor,
                                   lambda: self._call(name, tenant, fn, create and write), write=write)
        except Exception as exc:
            raise error_from_exception(exc, self.backend.scrub(name)) from None
        finally:
            self._tidy()

    def _call(self, name: str, tenant: _Tenant, fn: Callable[[MemoryStore], T], create: bool) -> T:
        """In a worker thread, gate held: open the store if needed, then call."""
        if tenant.store is None:
            with tenant.opening:  # readers may arrive together under a parallel-read policy
                if tenant.store is None:
                    if create and not self.backend.exists(name):
                        return self._first_write(name, tenant, fn)
                    tenant.store = self.backend.open(name, create=create)
        return fn(tenant.store)

    def _first_write(self, name: str, tenant: _Tenant, fn: Callable[[MemoryStore], T]) -> T:
        store = self.backend.open(name, create=True)
        try:
            result = fn(store)
        except BaseException:
            store.close()
            self.backend.discard(name)  # a failed first write leaves no tenant behind
            raise
        tenant.store = store
        logger.info("created tenant %r", name)
        return result

    def _tidy(self) -> None:
        """Drop idle entries of tenants without a store; close idle stores past ``max_open``."""
        for name in [n for n, t in self._tenants.items() if t.store is None and t.gate.idle]:
            del self._tenants[name]
        open_idle = sorted((t.last_used, n) for n, t in self._tenants.items() if t.store is not None and t.gate.idle)
        excess = sum(1 for t in self._tenants.values() if t.store is not None) - self.max_open
        for _, name in open_idle[:max(0, excess)]:
            tenant = self._tenants.pop(name)
            if tenant.store is not None:
                tenant.store.close()

    def open_tenants(self) -> list[str]:
        """Names of the tenants whose stores are open (for stats and tests)."""
        return sorted(n for n, t in self._tenants.items() if t.store is not None)

    async def aclose(self) -> None:
        """Wait for the calls in progress, close every store and the private pool."""
        for name, tenant in list(self._tenants.items()):
            await tenant.gate.acquire(write=True)
            try:
                if tenant.store is not None:
                    tenant.store.close()
                    tenant.store = None
            finally:
                tenant.gate.release(write=True)
        self._tenants.clear()
        if self._own_executor and isinstance(self.executor, ThreadPoolExecutor):
            self.executor.shutdown(wait=False)
