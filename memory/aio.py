"""An asyncio API over :class:`memory.MemoryStore` that never blocks the event loop.

Every call runs in a worker thread, behind a :class:`ReadWriteGate` that says which
calls may share one store at the same time. The gate's :data:`POLICY` is the single
place where the package decides how much concurrency a store object takes; the HTTP/MCP
server (:mod:`memory.server`) uses the same gate, one per tenant.

Thread-safety this relies on
----------------------------
A :class:`~memory.MemoryStore` serves many threads at once: each thread reads through
its own database connection, every read sees one committed state (the derived faiss,
graph and BM25 state is caught up under a readers-writer lock), writes serialize
inside the store and across processes, and a write that returned is visible to every
read that starts after it. Models named by configuration are loaded once per process
and shared. Hence :data:`POLICY` is :attr:`ConcurrencyPolicy.STORE_MANAGED`: reads never
wait at the gate, writes queue at it (they would queue inside the store anyway).

Examples
--------
>>> import asyncio, tempfile
>>> async def main(path):  # doctest: +SKIP
...     async with AsyncMemoryStore.open(path) as store:
...         await store.ingest([{"id": "p1", "text": "Marie Curie was born in Warsaw."}])
...         hits = await store.retrieve("Where was Curie born?", explain=True)
...         return [(h.doc_id, h.explain().summary) for h in hits]
>>> asyncio.run(main(tempfile.mkdtemp()))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import weakref
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from .errors import InvalidQueryError
from .explain import Explanation, Hit
from .store import MemoryStore

__all__ = ["AsyncMemoryStore", "ConcurrencyPolicy", "POLICY", "ReadWriteGate", "gate_for", "run_gated",
           "shared_executor"]

T = TypeVar("T")


class ConcurrencyPolicy(enum.Enum):
    """How many calls one store object may serve at once.

    EXCLUSIVE
        One call at a time, reads included (for stores that are not thread-safe).
    READERS_WRITER
        Reads in parallel; a write waits for the reads in progress and runs alone.
    STORE_MANAGED
        Reads never wait; writes wait only for each other (the store serializes
        writes internally and makes each returned write visible to later reads).
    """

    EXCLUSIVE = "exclusive"
    READERS_WRITER = "readers-writer"
    STORE_MANAGED = "store-managed"


#: The policy every gate uses unless told otherwise (see the module docstring).
POLICY = ConcurrencyPolicy.STORE_MANAGED


class ReadWriteGate:
    """A first-come-first-served readers-writer gate for one store, confined to one event loop.

    Entry is granted in arrival order (a waiting writer is not overtaken by later
    readers, so writers do not starve), except that under ``STORE_MANAGED`` reads
    never queue. :meth:`release` is synchronous, so it can run from a future's
    done-callback: the gate stays held until the worker thread has really finished,
    even when the awaiting coroutine was cancelled.

    Parameters
    ----------
    policy : ConcurrencyPolicy, optional
        Defaults to :data:`POLICY` at construction time.
    """

    def __init__(self, policy: ConcurrencyPolicy | None = None) -> None:
        self.policy = policy or POLICY
        self._readers = 0
        self._writers = 0
        self._waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @property
    def idle(self) -> bool:
        """Nobody holds or waits for the gate."""
        return not (self._readers or self._writers or self._waiting)

    def _admits(self, write: bool) -> bool:
        if self.policy is ConcurrencyPolicy.STORE_MANAGED:
            return write is False or self._writers == 0
        if write or self.policy is ConcurrencyPolicy.EXCLUSIVE:
            return self._readers == 0 and self._writers == 0
        return self._writers == 0

    def _enter(self, write: bool) -> None:
        if write:
            self._writers += 1
        else:
            self._readers += 1

    async def acquire(self, write: bool) -> None:
        """Wait for entry as a writer (``write=True``) or a reader."""
        free_read = not write and self.policy is ConcurrencyPolicy.STORE_MANAGED
        if self._admits(write) and (free_read or not self._waiting):
            self._enter(write)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(write)  # granted just as we were cancelled: hand it on
            else:
                self._waiting.remove((write, future))
                self._wake()
            raise

    def release(self, write: bool) -> None:
        """Leave the gate (synchronous; call from the gate's event loop)."""
        if write:
            self._writers -= 1
        else:
            self._readers -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            write, future = self._waiting[0]
            if future.done():
                self._waiting.popleft()
                continue
            if not self._admits(write):
                return
            self._waiting.popleft()
            self._enter(write)
            future.set_result(None)


_GATES: "weakref.WeakKeyDictionary[MemoryStore, ReadWriteGate]" = weakref.WeakKeyDictionary()


def gate_for(store: MemoryStore) -> ReadWriteGate:
    """The gate shared by every async wrapper of ``store`` (one per store object)."""
    gate = _GATES.get(store)
    if gate is None:
        gate = _GATES[store] = ReadWriteGate()
    return gate


_EXECUTOR: ThreadPoolExecutor | None = None


def shared_executor() -> ThreadPoolExecutor:
    """The package's default pool for store calls (created on first use, 32 threads).

    Threads mostly wait on the GIL-free parts (SQLite, faiss, ONNX); reads of one store
    run in parallel and a store's writes queue at its gate, so a long write on one store
    does not hold up calls on the others.
    """
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=32, thread_name_prefix="memory-aio")
    return _EXECUTOR


async def run_gated(gate: ReadWriteGate, executor: Executor | None, fn: Callable[[], T], *, write: bool) -> T:
    """Run ``fn()`` in a worker thread while holding ``gate`` as a reader or writer.

    The gate is released when the thread finishes, not when the caller stops waiting:
    cancelling the caller never lets a second call into a store that is still in use.

    Parameters
    ----------
    gate : ReadWriteGate
    executor : Executor, optional
        Default: :func:`shared_executor`.
    fn : callable
        The blocking work.
    write : bool
        Whether ``fn`` changes the store.

    Returns
    -------
    Whatever ``fn`` returns (its exception is raised here).
    """
    await gate.acquire(write)
    loop = asyncio.get_running_loop()
    try:
        future = loop.run_in_executor(executor or shared_executor(), fn)
    except BaseException:
        gate.release(write)
        raise
    future.add_done_callback(lambda _: gate.release(write))
    return await asyncio.shield(future)


def _with_explanation(hit: Hit, explanation: Explanation | None) -> Hit:
    if explanation is not None:
        return dataclasses.replace(hit, _explain=functools.partial(lambda e: e, explanation))

    def refuse() -> Explanation:
        raise InvalidQueryError("AsyncMemoryStore.retrieve(..., explain=True) computes explanations; "
                                "they are not computed later, on the event loop")
    return dataclasses.replace(hit, _explain=refuse)


class AsyncMemoryStore:
    """Awaitable wrapper of a :class:`~memory.MemoryStore`: the same verbs, run off the loop.

    Parameters
    ----------
    store : MemoryStore
        The store to wrap (see the module notes on thread-safety).
    executor : Executor, optional
        Where calls run (default: :func:`shared_executor`).
    gate : ReadWriteGate, optional
        Default: :func:`gate_for` the store, shared by every wrapper of it.

    Examples
    --------
    >>> async def ask(store: "AsyncMemoryStore") -> list[str]:  # doctest: +SKIP
    ...     return [hit.doc_id for hit in await store.retrieve("Where was Curie born?")]
    """

    def __init__(self, store: MemoryStore, *, executor: Executor | None = None,
                 gate: ReadWriteGate | None = None) -> None:
        self.store = store
        self.gate = gate or gate_for(store)
        self._executor = executor

    @classmethod
    def open(cls, path: str | Path, *args: Any, executor: Executor | None = None,
             **kwargs: Any) -> "AsyncMemoryStore":
        """Open (or create) a store at ``path``, as :class:`~memory.MemoryStore` would.

        Opening reads a few rows of SQLite and loads no model, so it is done in the
        calling thread.
        """
        return cls(MemoryStore(path, *args, **kwargs), executor=executor)

    async def run(self, fn: Callable[[MemoryStore], T], *, write: bool = False) -> T:
        """Run ``fn(store)`` in a worker thread under the gate (for anything not wrapped here)."""
        return await run_gated(self.gate, self._executor, lambda: fn(self.store), write=write)

    # -- writes ------------------------------------------------------------------------

    async def ingest(self, docs: Any, split: Any = None, facts: Any = None) -> list[str]:
        """:meth:`memory.MemoryStore.ingest`, off the loop."""
        return await self.run(lambda s: s.ingest(docs, split=split, facts=facts), write=True)

    async def forget(self, doc_id: str | None = None, *, ids: Sequence[str] | None = None) -> Any:
        """:meth:`memory.MemoryStore.forget`, off the loop."""
        return await self.run(lambda s: s.forget(doc_id, ids=ids), write=True)

    async def forget_entity(self, name: str, cascade: bool = False) -> Any:
        """:meth:`memory.MemoryStore.forget_entity`, off the loop."""
        return await self.run(lambda s: s.forget_entity(name, cascade=cascade), write=True)

    async def forget_fact(self, subject: str, relation: str, object: str) -> Any:  # noqa: A002
        """:meth:`memory.MemoryStore.forget_fact`, off the loop."""
        return await self.run(lambda s: s.forget_fact(subject, relation, object), write=True)

    async def update(self, subject: str, relation: str, new_object: str, at: Any) -> Any:
        """:meth:`memory.MemoryStore.update`, off the loop."""
        return await self.run(lambda s: s.update(subject, relation, new_object, at=at), write=True)

    # -- reads -------------------------------------------------------------------------

    async def retrieve(self, query: str, top_k: int = 5, mode: str = "hipporag", config: Any = None,
                       as_of: Any = None, *, explain: bool = False, **kwargs: Any) -> list[Hit]:
        """:meth:`memory.MemoryStore.retrieve`, off the loop.

        With ``explain=True`` each hit's explanation is computed in the worker thread
        too (``hit.explain()`` then returns it); without it ``hit.explain()`` raises
        :class:`~memory.errors.InvalidQueryError` rather than touch the store from the
        event loop. Other keyword arguments (e.g. ``where=``) go to the store.
        """
        def call(store: MemoryStore) -> list[Hit]:
            hits = store.retrieve(query, top_k=top_k, mode=mode, config=config, as_of=as_of, **kwargs)
            return [_with_explanation(hit, hit.explain() if explain else None) for hit in hits]
        return await self.run(call)

    async def get(self, doc_id: str) -> Any:
        """:meth:`memory.MemoryStore.get`, off the loop."""
        return await self.run(lambda s: s.get(doc_id))

    async def facts(self, subject: str | None = None, relation: str | None = None, as_of: Any = None) -> list:
        """:meth:`memory.MemoryStore.facts`, off the loop."""
        return await self.run(lambda s: s.facts(subject, relation, as_of=as_of))

    async def history(self, subject: str, relation: str) -> list:
        """:meth:`memory.MemoryStore.history`, off the loop."""
        return await self.run(lambda s: s.history(subject, relation))

    async def recall(self, subject: str, relation: str, as_of: Any = None) -> Any:
        """:meth:`memory.MemoryStore.recall`, off the loop."""
        return await self.run(lambda s: s.recall(subject, relation, as_of=as_of))

    async def stats(self) -> dict[str, Any]:
        """:meth:`memory.MemoryStore.stats`, off the loop."""
        return await self.run(lambda s: s.stats())

    async def contains(self, doc_id: str) -> bool:
        """Whether a document with this id is stored."""
        return await self.run(lambda s: doc_id in s)

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for calls in progress, then close the store."""
        await self.run(lambda s: s.close(), write=True)

    async def __aenter__(self) -> "AsyncMemoryStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncMemoryStore({self.store!r})"
