"""Store-wide state: meta values, the generation, the change log, audit and suppressions."""

from __future__ import annotations

import json
from typing import Iterable

from .engine import Engine

__all__ = ["MetaQueries", "Change", "COUNTED_TABLES"]

#: (kind, key, op): a row or vector of ``kind`` ("document", "entity", "fact") added or
#: removed, or a graph node ("passage", "entity_node") whose incident edges changed.
Change = tuple[str, int, str]

COUNTED_TABLES = ("documents", "entities", "mentions", "facts", "fact_sources", "functional_relations",
                  "synonyms", "embeddings", "extraction_cache", "audit", "suppressed", "changes")


class MetaQueries:
    """Named queries over ``meta``, ``changes``, ``audit`` and ``suppressed``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- meta ---------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """Value of a meta key, or None."""
        row = self.engine.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        """Set a meta key (inside a write)."""
        self.engine.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def delete(self, key: str) -> None:
        """Remove a meta key (inside a write)."""
        self.engine.execute("DELETE FROM meta WHERE key = ?", (key,))

    @property
    def generation(self) -> int:
        """Counter bumped by every committed change; derived caches record the one they reflect."""
        value = self.get("generation")
        return int(value) if value and value.isdigit() else 0

    def bump_generation(self) -> int:
        """Increment the generation (inside a write) and return the new value."""
        new = self.generation + 1
        self.set("generation", str(new))
        return new

    # -- the change log -------------------------------------------------------------------------

    @property
    def log_floor(self) -> int:
        """The log holds every change of the generations after this one."""
        value = self.get("log_floor")
        return int(value) if value and value.isdigit() else 0

    def record_changes(self, generation: int, changes: Iterable[Change]) -> None:
        """Log what a write changed (inside that write)."""
        rows = sorted({(kind, int(key)): op for kind, key, op in changes}.items())
        self.engine.executemany("INSERT INTO changes(generation, kind, key, op) VALUES (?, ?, ?, ?)",
                                [(generation, kind, key, op) for (kind, key), op in rows])

    def changes_between(self, after: int, upto: int) -> list[Change]:
        """Changes of the generations in ``(after, upto]``, oldest first."""
        return [(kind, int(key), op) for kind, key, op in self.engine.query(
            "SELECT kind, key, op FROM changes WHERE generation > ? AND generation <= ? "
            "ORDER BY generation, kind, key", (after, upto))]

    def removed_since(self, after: int) -> bool:
        """Whether any row was removed after generation ``after`` (or the log no longer tells)."""
        if after < self.log_floor:
            return True
        return self.engine.query_one(
            "SELECT 1 FROM changes WHERE generation > ? AND op = 'remove' LIMIT 1", (after,)) is not None

    def trim_log(self, keep: int) -> None:
        """Keep the changes of the last ``keep`` generations (inside a write)."""
        floor = self.generation - keep
        if floor > self.log_floor:
            self.engine.execute("DELETE FROM changes WHERE generation <= ?", (floor,))
            self.set("log_floor", str(floor))

    # -- audit and suppression ------------------------------------------------------------------

    def audit(self, at: str, generation: int, action: str, target_hash: str, counts: dict[str, int]) -> None:
        """Record a write: kind, row counts, a hash of the target (never content)."""
        self.engine.execute(
            "INSERT INTO audit(at, generation, action, target_hash, counts) VALUES (?, ?, ?, ?, ?)",
            (at, generation, action, target_hash, json.dumps(counts, sort_keys=True)))

    def audit_log(self) -> list[dict]:
        """Every audit row, oldest first."""
        return [{"seq": seq, "at": at, "generation": generation, "action": action, "target_hash": target,
                 "counts": json.loads(counts)} for seq, at, generation, action, target, counts in self.engine.query(
                    "SELECT seq, at, generation, action, target_hash, counts FROM audit ORDER BY seq")]

    def suppress(self, kind: str, digest: str) -> None:
        """Record the digest of a forgotten entity or fact (never its name)."""
        self.engine.execute("INSERT INTO suppressed(kind, digest) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            (kind, digest))

    def suppressed(self, kind: str) -> set[str]:
        """Digests of the suppressed entities or facts."""
        return {r[0] for r in self.engine.query("SELECT digest FROM suppressed WHERE kind = ?", (kind,))}

    def count(self, table: str) -> int:
        """Row count of one of the store's tables."""
        if table not in COUNTED_TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self.engine.query_one(f"SELECT count(*) FROM {table}")[0])  # noqa: S608 (fixed names)
