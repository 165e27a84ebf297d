"""The store's core: one truth, many processes.

:class:`StoreCore` owns the storage, the models, the derived state and the two
protocols every verb goes through:

- **Reads** (:meth:`StoreCore.view`): a read transaction, the generation read
  inside it, the derived state caught up to exactly that generation (from the
  change log), then the query, all in one consistent state. A read never writes
  the database and never trains.
- **Writes** (:meth:`StoreCore.write`): slow work (extraction, embedding) is done
  by the caller *before*; the body runs under the database write lock (a bounded
  wait, then :class:`~memory.errors.StoreBusyError`), re-checks what it depends
  on, and is logged (change log, generation, audit) in the same transaction. After
  the commit the derived state catches up, a vector snapshot is written when the
  write removed anything (so no forgotten vector stays on disk), and the memory
  bank retrains the blocks whose facts changed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from .config import StoreConfig
from .derived import CatchUp, DerivedState, drop_snapshot_before, persist_snapshot
from .errors import IncompatibleStoreError, StoreClosedError
from .indexing import Indexer, SynonymHints, WriteReport, utc_now
from .models import Models
from .storage import Storage
from .vectors import PendingVectors

__all__ = ["StoreCore", "ReadView", "WriteOutcome"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Generations of change log kept; a process further behind rebuilds its derived state.
LOG_GENERATIONS = 1000
#: Write the vector snapshot after a write once it is this many changed keys behind, or a tenth
#: of the store if that is more (so the cost of snapshots stays linear in what is written).
SNAPSHOT_EVERY_KEYS = 2000


@dataclass(frozen=True)
class ReadView:
    """A consistent state to read: storage inside a read transaction and the derived state
    at the same generation (held shared for the duration)."""

    storage: Storage
    derived: DerivedState
    generation: int
    core: "StoreCore"

    @property
    def graph(self) -> Any:
        """The knowledge graph at this view's generation."""
        return self.derived.graph


@dataclass(frozen=True)
class WriteOutcome:
    """What :meth:`StoreCore.write` did: its report, the generation it committed, the body's
    result, and seconds spent waiting for the write lock and holding it (up to the commit)."""

    report: WriteReport
    generation: int
    result: Any
    waited: float = 0.0
    held: float = 0.0


class StoreCore:
    """Storage, models, derived state and the read/write protocols of one open store.

    Parameters
    ----------
    storage : Storage
        The opened database.
    config : StoreConfig
        The store's configuration.
    models : Models
        The store's models.
    cache_dir : Path or None
        Where this process keeps the vector snapshot.
    """

    def __init__(self, storage: Storage, config: StoreConfig, models: Models, cache_dir: Path | None) -> None:
        self.storage = storage
        self.config = config
        self.models = models
        self.cache_dir = cache_dir
        self._derived: DerivedState | None = None
        self._derived_guard = threading.Lock()
        self._closed = False
        self.last_catch_up: CatchUp | None = None
        self._keys_since_snapshot = 0
        self._snapshot_due = False
        self._snapshot_removed = False
        self._last_write = threading.local()
        self._memo: dict[Any, tuple[int, Any]] = {}
        self._memo_lock = threading.Lock()

    # -- derived state ----------------------------------------------------------------------------

    def _derived_for(self, storage: Storage) -> DerivedState:
        """The derived state, created (or recreated) for the store's vector size."""
        stored = storage.meta.get("embedding_dim")
        dim = int(stored) if stored and stored.isdigit() else 1  # nothing ingested yet: empty indexes
        with self._derived_guard:
            if self._derived is None or self._derived.dim != dim:
                self._derived = DerivedState(dim, self.cache_dir if stored else None)
            return self._derived

    def _catch_up(self, derived: DerivedState, storage: Storage, generation: int) -> None:
        if derived.generation == generation:
            return
        with derived.lock.writing():
            if derived.generation < generation or derived.generation < 0:
                started = time.perf_counter()
                report = derived.catch_up(storage, generation)
                if report is not None:
                    self.last_catch_up = report
                    # a rebuild, or removals applied over an older snapshot of this cache, mean
                    # the snapshot on disk must be rewritten (no removed vector may stay there)
                    self._snapshot_due = self._snapshot_due or report.source == "rebuild" or report.removed
                    self._snapshot_removed = self._snapshot_removed or report.removed
                    self._keys_since_snapshot += sum(report.keys.values())
                    logger.debug("caught up to generation %d from %s in %.3f s", generation, report.source,
                                 time.perf_counter() - started)

    def reconfigure(self, config: StoreConfig) -> None:
        """Use ``config`` from now on (its stored part unchanged; the caller checks)."""
        with self._memo_lock:
            self.config = config
            self._memo = {}  # memoised values may depend on the query-time sections

    def memo(self, key: Any, view: ReadView, compute: Callable[[], T]) -> T:
        """A value computed once per generation (time slices, metadata filters)."""
        with self._memo_lock:
            cached = self._memo.get(key)
        if cached is not None and cached[0] == view.generation:
            return cached[1]
        value = compute()
        with self._memo_lock:
            if len(self._memo) > 256:
                self._memo = {k: v for k, v in self._memo.items() if v[0] == view.generation}
            self._memo[key] = (view.generation, value)
        return value

    # -- reads ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def view(self) -> Iterator[ReadView]:
        """A consistent read: storage in a read transaction, derived state at its generation."""
        self._check_open()
        storage = self.storage
        for _ in range(100):
            with storage.read():
                generation = storage.meta.generation
                derived = self._derived_for(storage)
                self._catch_up(derived, storage, generation)
                with derived.lock.reading():
                    if derived.generation == generation:
                        yield ReadView(storage, derived, generation, self)
                        break
            # another thread moved the shared state past this transaction's snapshot: read again
        else:
            raise RuntimeError("the derived state kept moving; could not get a consistent read")
        if self._snapshot_due and not storage.engine.in_transaction:
            removed, self._snapshot_due, self._snapshot_removed = self._snapshot_removed, False, False
            if removed:  # removals applied over this cache's snapshot: it must not keep them
                self._drop_older_snapshot(derived.generation)
            else:
                self._persist(derived)

    def _persist(self, derived: DerivedState) -> None:
        """Write the vector snapshot of ``derived`` (outside any transaction)."""
        if self.cache_dir is None or self.storage.read_only:
            return
        with derived.lock.reading():
            snapshot = derived.capture()
        if snapshot is not None:
            persist_snapshot(self.cache_dir, snapshot)
            self._keys_since_snapshot = 0

    # -- writes -----------------------------------------------------------------------------------

    def write(self, action: str, target_hash: str, body: Callable[[Indexer], T],
              vectors: dict[tuple[str, str], np.ndarray] | None = None,
              encoder_name: str | None = None, dim: int | None = None,
              bank_keys: dict[str, np.ndarray] | None = None, hints: SynonymHints | None = None) -> WriteOutcome:
        """Run ``body`` under the write lock as one transaction, log it, then catch up.

        Parameters
        ----------
        action, target_hash :
            For the audit row (a hash, never content).
        body :
            Called with an :class:`~memory.indexing.Indexer`; it re-checks what it
            depends on (the state may have changed since the caller prepared).
        vectors :
            Vectors prepared before the lock, keyed by (kind, text); anything missing
            is encoded under the lock.
        encoder_name, dim :
            Recorded with the first vectors the store receives.
        bank_keys :
            Bank key vectors prepared before the lock, keyed by key text.
        hints :
            The neighbour search for new entities done before the lock.
        """
        self._check_open()
        prepared = vectors or {}
        storage = self.storage

        def encode(kind: str, texts: Sequence[str]) -> np.ndarray:
            missing = sorted({t for t in texts if (kind, t) not in prepared})
            if missing:
                for text, vector in zip(missing, self.models.encode(kind, missing)):
                    prepared[(kind, text)] = vector
            return np.stack([prepared[(kind, t)] for t in texts]) if texts else np.zeros((0, 1), np.float32)

        affected_bank_nodes: set[str] = set()
        started = time.perf_counter()
        locked = started
        with storage.write():
            locked = time.perf_counter()
            if dim is not None and storage.meta.get("embedding_dim") is None:
                storage.meta.set("embedder", encoder_name or "")
                storage.meta.set("embedding_dim", str(dim))
            stored_encoder = storage.meta.get("embedder")
            if encoder_name is not None and stored_encoder not in (None, encoder_name):
                raise IncompatibleStoreError(f"store vectors come from {stored_encoder!r}, not {encoder_name!r}")
            generation = storage.meta.generation
            derived = self._derived_for(storage)
            self._catch_up(derived, storage, generation)
            report = WriteReport()
            with derived.lock.reading():
                indexer = Indexer(storage, PendingVectors(derived.vectors), encode, self.config.graph, report, hints)
                result = body(indexer)
            if report.changed:
                generation = storage.meta.bump_generation()
                storage.meta.record_changes(generation, report.changes())
                storage.meta.trim_log(LOG_GENERATIONS)
                storage.meta.audit(utc_now(), generation, action, target_hash, report.counts())
                if report.removed_anything:
                    # before the commit: a process killed right after it must not leave the
                    # removed rows' vectors in an older snapshot on disk
                    self._drop_older_snapshot(generation)
                if storage.meta.get("bank_config") is not None:
                    from .bank.state import record_write

                    affected_bank_nodes = record_write(storage, report, self._bank_key_encoder(bank_keys))
        committed = time.perf_counter()
        self._last_write.generation = generation
        outcome = WriteOutcome(report, generation, result, locked - started, committed - locked)
        self._last_write.outcome = outcome
        logger.debug("%s: waited %.3f s for the write lock, held it %.3f s", action, outcome.waited, outcome.held)
        if report.changed:
            self._after_write(report, affected_bank_nodes)
        return outcome

    @property
    def last_write(self) -> WriteOutcome | None:
        """The calling thread's last write through this object (report, generation, lock times)."""
        return getattr(self._last_write, "outcome", None)

    @property
    def last_write_generation(self) -> int | None:
        """The generation the calling thread's last write through this object left the store at."""
        return getattr(self._last_write, "generation", None)

    def _bank_key_encoder(self, prepared: dict[str, np.ndarray] | None) -> Callable[[list[str]], np.ndarray]:
        known = dict(prepared or {})

        def encode(texts: list[str]) -> np.ndarray:
            missing = sorted({t for t in texts if t not in known})
            if missing:
                known.update(zip(missing, self.models.encode("entity", missing)))
            return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)
        return encode

    def _after_write(self, report: WriteReport, bank_nodes: set[str]) -> None:
        """Catch up, write the vector snapshot, retrain the bank's changed blocks.

        A write that removed rows already deleted any older snapshot before it committed
        (a later close or catch-up writes a fresh one); otherwise a snapshot is written once
        enough keys changed since the last one.
        """
        with self.view() as view:
            derived = view.derived
        due = max(SNAPSHOT_EVERY_KEYS, sum(len(index) for index in derived.vectors.values()) // 10)
        if not report.removed_anything and self._keys_since_snapshot >= due:
            self._persist(derived)
        if bank_nodes:
            from .bank.state import retrain_stale

            report.bank_blocks_retrained = retrain_stale(self)

    def _drop_older_snapshot(self, generation: int) -> None:
        if self.cache_dir is not None and not self.storage.read_only:
            drop_snapshot_before(self.cache_dir, generation)

    # -- lifecycle --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")

    def close(self) -> None:
        """Save the vector snapshot if it is behind, then close every connection."""
        if self._closed:
            return
        derived = self._derived
        if derived is not None and self.cache_dir is not None and not self.storage.read_only:
            behind = derived.snapshot_behind()
            if behind is None or behind > 0:
                with derived.lock.reading():
                    snapshot = derived.capture()
                with self.storage.read():  # never write back what a later forget removed
                    removed_later = snapshot is not None and self.storage.meta.removed_since(snapshot.generation)
                if snapshot is not None and not removed_later:
                    persist_snapshot(self.cache_dir, snapshot)
        self._closed = True
        self.storage.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


def stored_config(storage: Storage) -> dict[str, Any]:
    """The configuration saved in a store (an empty dict when none is readable)."""
    with storage.read():
        raw = storage.meta.get("config")
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
