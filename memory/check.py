"""Integrity check of a store: ``python -m memory check --store DIR``.

Checks SQLite's own integrity, that every row refers to rows that exist, that
nothing unsupported survived (a fact without a source, an entity without a
mention), that every row has its embedding and no embedding outlives its row,
that the faiss indexes hold exactly the stored vectors, and that every memory-bank
block's weights file exists and matches its hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["check_store"]

_DANGLING = {
    "mention of a missing entity": "SELECT count(*) FROM mentions WHERE entity NOT IN (SELECT key FROM entities)",
    "mention in a missing document":
        "SELECT count(*) FROM mentions WHERE document NOT IN (SELECT key FROM documents)",
    "fact source of a missing fact": "SELECT count(*) FROM fact_sources WHERE fact NOT IN (SELECT key FROM facts)",
    "fact source in a missing document":
        "SELECT count(*) FROM fact_sources WHERE document NOT IN (SELECT key FROM documents)",
    "fact with a missing entity": "SELECT count(*) FROM facts WHERE subject NOT IN (SELECT key FROM entities) "
                                  "OR object NOT IN (SELECT key FROM entities)",
    "fact without a source": "SELECT count(*) FROM facts WHERE key NOT IN (SELECT fact FROM fact_sources)",
    "entity without a mention": "SELECT count(*) FROM entities WHERE key NOT IN (SELECT entity FROM mentions)",
    "synonym of a missing entity": "SELECT count(*) FROM synonyms WHERE source NOT IN (SELECT key FROM entities) "
                                   "OR target NOT IN (SELECT key FROM entities)",
}
_TABLES = {"document": "documents", "entity": "entities", "fact": "facts"}


def check_store(store: Any) -> list[str]:
    """Every integrity problem found (an empty list means the store is sound).

    Parameters
    ----------
    store : MemoryStore
        An open store.
    """
    db = store.db
    problems = [f"sqlite: {row[0]}" for row in db.query("PRAGMA integrity_check") if row[0] != "ok"]
    for label, sql in _DANGLING.items():
        count = db.query(sql)[0][0]
        if count:
            problems.append(f"{count} {label}")
    for kind, table in _TABLES.items():
        rows = {r[0] for r in db.query(f"SELECT key FROM {table}")}  # noqa: S608 (fixed names)
        keys, matrix = db.get_vectors(kind)
        stored = set(keys.tolist())
        if rows - stored:
            problems.append(f"{len(rows - stored)} {kind} rows without an embedding")
        if stored - rows:
            problems.append(f"{len(stored - rows)} {kind} embeddings without a row")
        index = store.derived.vectors[kind]
        held = index.ids()
        if set(held.tolist()) != stored:
            problems.append(f"the {kind} faiss index holds {len(held)} vectors, the database {len(stored)}")
        elif len(held):
            order = np.argsort(keys)
            expected = matrix[order]
            actual = index.reconstruct(np.sort(keys).tolist())
            if not np.array_equal(expected, actual):
                problems.append(f"the {kind} faiss index differs from the stored vectors")
    return problems + _bank_problems(store)


def _bank_problems(store: Any) -> list[str]:
    """Memory-bank blocks whose weights file is missing or does not match its hash."""
    problems = []
    for node, weights in store.db.query("SELECT node, weights FROM bank_blocks"):
        path = store.bank.directory / f"{weights}.safetensors"
        if not path.is_file():
            problems.append(f"bank block {node}: weights file missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != weights:
            problems.append(f"bank block {node}: weights file does not match its hash")
    return problems
