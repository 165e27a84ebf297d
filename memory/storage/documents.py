"""Named queries over documents (passages) and the extraction cache."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from .engine import Engine

__all__ = ["DocumentQueries", "DocumentRow"]

#: (key, id, title, text, metadata JSON, fingerprint)
DocumentRow = tuple[int, str, str, str, str, str]


class DocumentQueries:
    """Documents, their passages, validity and cached extractions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reading ----------------------------------------------------------------------------------

    def row(self, doc_id: str) -> DocumentRow | None:
        """(key, id, title, text, metadata, fingerprint) of a document, or None."""
        return self.engine.query_one(  # type: ignore[return-value]
            "SELECT key, id, title, text, metadata, fingerprint FROM documents WHERE id = ?", (doc_id,))

    def stored(self, doc_id: str) -> tuple[str, str, str, str, str] | None:
        """(id, title, text, metadata, recorded_at) of a document, or None."""
        return self.engine.query_one(  # type: ignore[return-value]
            "SELECT id, title, text, metadata, recorded_at FROM documents WHERE id = ?", (doc_id,))

    def fingerprints(self, ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Map id -> (key, fingerprint) for the stored ones among ``ids``."""
        return {doc_id: (int(key), fingerprint) for key, doc_id, fingerprint in self.engine.select_in(
            "SELECT key, id, fingerprint FROM documents WHERE id IN ({marks})", ids)}

    def exists(self, doc_id: str) -> bool:
        """Whether a document with this id is stored."""
        return self.engine.query_one("SELECT 1 FROM documents WHERE id = ?", (doc_id,)) is not None

    def passages_of(self, source: str) -> list[tuple[int, str]]:
        """(key, id) of the passages split from the document ``source``."""
        return [(int(k), i) for k, i in self.engine.query(
            "SELECT key, id FROM documents WHERE source = ? ORDER BY key", (source,))]

    def by_key(self, keys: Iterable[int]) -> dict[int, tuple[str, str, str, str]]:
        """Map key -> (id, title, text, metadata) for the given document keys."""
        return {int(row[0]): tuple(row[1:]) for row in self.engine.select_in(  # type: ignore[misc]
            "SELECT key, id, title, text, metadata FROM documents WHERE key IN ({marks})", keys)}

    def ids(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> id."""
        return {int(k): i for k, i in self.engine.select_in("SELECT key, id FROM documents WHERE key IN ({marks})",
                                                            keys)}

    def keys_of(self, ids: Iterable[str]) -> dict[str, int]:
        """Map id -> key for the stored ones among ``ids``."""
        return {i: int(k) for k, i in self.engine.select_in("SELECT key, id FROM documents WHERE id IN ({marks})",
                                                            ids)}

    def titles(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> title for the given document keys that have a title."""
        return {int(k): t for k, t in self.engine.select_in(
            "SELECT key, title FROM documents WHERE key IN ({marks}) AND title != ''", keys)}

    def all_keys(self) -> list[int]:
        """Every document key."""
        return [int(r[0]) for r in self.engine.query("SELECT key FROM documents ORDER BY key")]

    def texts(self) -> list[tuple[int, str, str]]:
        """(key, title, text) of every document, by key (for the lexical index)."""
        return [(int(k), t, x) for k, t, x in self.engine.query(
            "SELECT key, title, text FROM documents ORDER BY key")]

    def metadata(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> metadata JSON."""
        return {int(k): m for k, m in self.engine.select_in(
            "SELECT key, metadata FROM documents WHERE key IN ({marks})", keys)}

    def all_metadata(self) -> list[tuple[int, str]]:
        """(key, metadata JSON) of every document."""
        return [(int(k), m) for k, m in self.engine.query("SELECT key, metadata FROM documents")]

    def with_id_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """(id, metadata JSON) of the documents whose id starts with ``prefix``, by id.

        Used for the documents a tool keeps under its own id namespace (the
        llama-index adapter's ``lpg-node/`` and ``lpg/`` documents).
        """
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.engine.query("SELECT id, metadata FROM documents WHERE id LIKE ? ESCAPE '\\'", (pattern,))
        # LIKE ignores ASCII case on SQLite: keep the exact prefix only
        return sorted((i, m) for i, m in rows if i.startswith(prefix))

    def extraction_keys(self, keys: Iterable[int]) -> set[str]:
        """The extraction keys (content hashes) of the given documents."""
        return {r[0] for r in self.engine.select_in(
            "SELECT extraction_key FROM documents WHERE key IN ({marks})", keys)}

    def extraction_keys_in_use(self, extraction_keys: Iterable[str]) -> set[str]:
        """Those of ``extraction_keys`` some stored document still has."""
        return {r[0] for r in self.engine.select_in(
            "SELECT extraction_key FROM documents WHERE extraction_key IN ({marks})", extraction_keys)}

    def excluded_at(self, start: str | None, end: str | None, title_timelines: bool,
                    passage_text_time: bool) -> set[int]:
        """Keys of the documents that do not hold during ``[start, end)`` (ISO dates, None open).

        A document holds when its own interval (its fields; else, with
        ``passage_text_time``, the span its text talks about) overlaps the period,
        and, with ``title_timelines``, no later-dated document of the same title
        started by the period's start.
        """
        def disjoint(start_column: str, end_column: str) -> tuple[str, list[str]]:
            clauses, params = [], []
            if end is not None:
                clauses.append(f"({start_column} IS NOT NULL AND {start_column} >= ?)")
                params.append(end)
            if start is not None:
                clauses.append(f"({end_column} IS NOT NULL AND {end_column} <= ?)")
                params.append(start)
            return " OR ".join(clauses) or "1 = 0", params

        fields, params = disjoint("valid_from", "valid_to")
        excluded = {int(r[0]) for r in self.engine.query(f"SELECT key FROM documents WHERE {fields}", params)}
        if passage_text_time:
            text, params = disjoint("text_valid_from", "text_valid_to")
            excluded.update(int(r[0]) for r in self.engine.query(
                f"SELECT key FROM documents WHERE valid_from IS NULL AND valid_to IS NULL AND ({text})", params))
        if title_timelines and start is not None:
            excluded.update(int(r[0]) for r in self.engine.query(
                "SELECT d.key FROM documents d WHERE d.title != '' AND d.valid_from IS NOT NULL "
                "AND d.valid_to IS NULL AND EXISTS (SELECT 1 FROM documents e WHERE e.title = d.title "
                "AND e.valid_from IS NOT NULL AND e.valid_from > d.valid_from AND e.valid_from <= ?)", (start,)))
        return excluded

    # -- writing ----------------------------------------------------------------------------------

    def insert(self, values: Sequence[Any]) -> int:
        """Insert a document: (id, title, text, metadata, fingerprint, extraction_key, source,
        valid_from, valid_to, recorded_at, text_valid_from, text_valid_to); returns its key."""
        return self.engine.insert_key(
            "INSERT INTO documents(id, title, text, metadata, fingerprint, extraction_key, source, "
            "valid_from, valid_to, recorded_at, text_valid_from, text_valid_to) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING key", values)

    def delete(self, key: int) -> None:
        """Delete a document row (its mentions and fact sources must be gone)."""
        self.engine.execute("DELETE FROM documents WHERE key = ?", (key,))

    # -- the extraction cache ---------------------------------------------------------------------

    def cached_extractions(self, extractor: str, extraction_keys: Iterable[str]) -> dict[str, str]:
        """Map extraction key -> cached payload (JSON) for one extractor."""
        return dict(self.engine.select_in(
            "SELECT extraction_key, payload FROM extraction_cache WHERE extractor = ? AND extraction_key IN ({marks})",
            sorted(set(extraction_keys)), params=(extractor,)))

    def cache_extractions(self, extractor: str, payloads: dict[str, str]) -> None:
        """Store extraction results (inside a write)."""
        self.engine.executemany(
            "INSERT INTO extraction_cache(extraction_key, extractor, payload) VALUES (?, ?, ?) "
            "ON CONFLICT(extraction_key, extractor) DO UPDATE SET payload = excluded.payload",
            [(key, extractor, payload) for key, payload in sorted(payloads.items())])

    def purge_extractions(self, extraction_keys: Iterable[str]) -> int:
        """Delete the cached extractions of these contents, for every extractor; returns the count."""
        removed = 0
        for key in sorted(set(extraction_keys)):
            removed += self.engine.execute("DELETE FROM extraction_cache WHERE extraction_key = ?", (key,))
        return removed
