"""White-box helpers for tests: read a store's database file directly, and its graph."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from memory.storage import DB_FILENAME


def rows(store: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of a read-only query on the store's database, through a separate connection."""
    engine = store.core.storage.engine
    if engine.dialect == "postgresql":
        import psycopg

        with psycopg.connect(engine.conninfo, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{engine.schema}"')
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), tuple(params) or None).fetchall()]
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


def location(store: Any) -> str:
    """What names the store on a command line: its directory, or its PostgreSQL URL."""
    engine = store.core.storage.engine
    return engine.url if engine.dialect == "postgresql" else str(store.path)


def reopen(store: Any, **kwargs: Any) -> Any:
    """A second MemoryStore object on the same store (the same cache directory for PostgreSQL)."""
    from memory import MemoryStore

    engine = store.core.storage.engine
    if engine.dialect == "postgresql":
        kwargs.setdefault("cache_dir", store.path)
        return MemoryStore(engine.url, **kwargs)
    return MemoryStore(store.path, **kwargs)
