"""White-box helpers for tests: read a store's database file directly, and its graph."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from memory.storage import DB_FILENAME


def rows(store: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of a read-only query on the store's SQLite file (a separate connection)."""
    conn = sqlite3.connect(f"{(store.path / DB_FILENAME).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(store: Any, table: str) -> int:
    """Rows in one of the store's tables."""
    return int(rows(store, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608 - test helper


def graph(store: Any) -> Any:
    """The store's knowledge graph at its current generation."""
    with store.view() as view:
        return view.graph
