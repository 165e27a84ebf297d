"""Integrity check of a store: ``python -m memory check --store DIR``.

It reports, and never crashes on what it finds: the database's own integrity;
rows that refer to missing rows or outlived their support; rows without their
embedding and embeddings without their row; a configuration naming something the
library refuses to load; the vector snapshot on disk (vectors that differ from the
database's, or that belong to removed rows: residue); the derived state caught up
through the change log against one rebuilt from scratch; and the memory bank
(readable configuration, weights that match their hash, blocks awaiting retraining).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .derived import DerivedState
from .errors import MemoryStoreError
from .models import refused_config_values
from .snapshot import read_snapshot
from .storage import EMBEDDING_KINDS, Storage

__all__ = ["check_store"]

logger = logging.getLogger(__name__)


def check_store(store: Any) -> list[str]:
    """Every integrity problem found (an empty list means the store is sound).

    Parameters
    ----------
    store : MemoryStore or path
        An open store, or the directory of one (opened read-only for the check, so
        a store that cannot be opened normally can still be examined).
    """
    if isinstance(store, (str, Path)):
        from .storage import DB_FILENAME, open_sqlite
        from .storage.sqlite import file_problems

        try:
            storage, _ = open_sqlite(Path(store), timeout=30.0, read_only=True)
        except MemoryStoreError as exc:  # not even readable as a store: what SQLite itself says
            return [f"the database cannot be read as a store: {exc}"] + file_problems(Path(store) / DB_FILENAME)
        try:
            return _check(storage, Path(store) / "cache", None)
        finally:
            storage.close()
    return _check(store.core.storage, store.core.cache_dir, store.core)


def _check(storage: Storage, cache_dir: Path | None, core: Any) -> list[str]:
    problems: list[str] = []

    def section(name: str, run: Callable[[], list[str]]) -> None:
        try:
            problems.extend(run())
        except MemoryStoreError as exc:
            problems.append(f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the check reports whatever it meets
            problems.append(f"{name}: could not be checked ({type(exc).__name__}: {exc})")

    section("database", lambda: _database(storage))
    section("configuration", lambda: _configuration(storage))
    section("embeddings", lambda: _embeddings(storage))
    section("vector snapshot", lambda: _snapshot(storage, cache_dir))
    if core is not None:
        section("derived state", lambda: _derived(core))
    section("memory bank", lambda: _bank(storage))
    return problems


def _database(storage: Storage) -> list[str]:
    with storage.read():
        problems = [f"sqlite: {line}" for line in storage.inspect.integrity()]
        problems += [f"{count} {label}" for label, count in storage.inspect.dangling().items() if count]
    return problems


def _configuration(storage: Storage) -> list[str]:
    with storage.read():
        raw = storage.meta.get("config")
    try:
        stored = json.loads(raw) if raw else {}
    except ValueError:
        return ["the saved configuration is not JSON"]
    if not isinstance(stored, dict):
        return ["the saved configuration is not a JSON object"]
    return [f"configuration refused: {problem}" for problem in refused_config_values(stored)]


def _embeddings(storage: Storage) -> list[str]:
    problems = []
    with storage.read():
        for kind in EMBEDDING_KINDS:
            rows, stored = storage.inspect.row_keys(kind), storage.vectors.keys(kind)
            if rows - stored:
                problems.append(f"{len(rows - stored)} {kind} rows without an embedding")
            if stored - rows:
                problems.append(f"{len(stored - rows)} {kind} embeddings without a row")
    return problems


def _snapshot(storage: Storage, cache_dir: Path | None) -> list[str]:
    if cache_dir is None or not (cache_dir / "vectors.npz").exists():
        return []
    snapshot = read_snapshot(cache_dir, EMBEDDING_KINDS)
    if snapshot is None:
        return ["the vector snapshot is unreadable (it will be rebuilt; delete it to silence this)"]
    problems = []
    with storage.read():
        generation = storage.meta.generation
        if snapshot.generation > generation:
            problems.append(f"the vector snapshot claims generation {snapshot.generation}, "
                            f"the database is at {generation}")
        for kind, (keys, vectors) in snapshot.arrays.items():
            stored_keys, matrix = storage.vectors.get(kind, keys.tolist())
            stored = dict(zip(stored_keys.tolist(), matrix))
            gone = [k for k in keys.tolist() if k not in stored]
            if gone:
                problems.append(f"the vector snapshot holds {len(gone)} {kind} vectors of removed rows")
            differ = sum(1 for k, v in zip(keys.tolist(), vectors) if k in stored and not np.array_equal(stored[k], v))
            if differ:
                problems.append(f"the vector snapshot holds {differ} {kind} vectors that differ from the database")
    return problems


def _derived(core: Any) -> list[str]:
    """The derived state caught up through the log must equal one rebuilt from the database."""
    problems = []
    with core.view() as view:
        fresh = DerivedState(view.derived.dim, None)
        fresh.catch_up(view.storage, view.generation)
        for kind in EMBEDDING_KINDS:
            held_keys, held = view.derived.vectors[kind].arrays()
            fresh_keys, expected = fresh.vectors[kind].arrays()
            if not np.array_equal(held_keys, fresh_keys):
                problems.append(f"the {kind} index holds {len(held_keys)} vectors, the database {len(fresh_keys)}")
            elif not np.array_equal(held, expected):
                problems.append(f"the {kind} index differs from the stored vectors")
        graph, rebuilt = view.derived.graph, fresh.graph
        if graph.nodes != rebuilt.nodes or graph.edge_counts() != rebuilt.edge_counts():
            problems.append("the graph differs from the one the database gives")
        else:
            a, b = graph.matrix(), rebuilt.matrix()
            if a.nodes != b.nodes or (a.matrix.nnz and abs(a.matrix - b.matrix).max() > 1e-9):
                problems.append("the graph's edge weights differ from the database's")
    return problems


def _bank(storage: Storage) -> list[str]:
    import hashlib

    from .bank.state import bank_config

    with storage.read():
        if storage.meta.get("bank_config") is None:
            return []
        bank_config(storage)
        blocks = storage.bank.blocks()
        versions = storage.bank.versions()
        weights = dict(storage.bank.all_weights())
    problems = []
    for node, (digest, trained, _, _) in sorted(blocks.items()):
        data = weights.get(digest)
        if data is None:
            problems.append(f"bank block {node}: weights missing")
        elif hashlib.sha256(data).hexdigest() != digest:
            problems.append(f"bank block {node}: weights do not match their hash")
        if versions.get(node) != trained:
            problems.append(f"bank block {node} awaits retraining (recall skips it): run `python -m memory bank sync`")
    unreferenced = set(weights) - {d for d, *_ in blocks.values()}
    if unreferenced:
        problems.append(f"{len(unreferenced)} bank weights referenced by no block")
    return problems
