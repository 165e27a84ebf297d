"""Read-only queries for the inspector, the canonical dump and the integrity check."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .engine import Engine

__all__ = ["InspectQueries", "FactRow"]

#: (subject, relation, object, valid_from, valid_to, source document ids)
FactRow = tuple[str, str, str, str | None, str | None, list[str]]

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
    "bank route of a missing fact": "SELECT count(*) FROM bank_routes WHERE fact NOT IN (SELECT key FROM facts)",
    "bank block without weights": "SELECT count(*) FROM bank_blocks WHERE weights NOT IN "
                                  "(SELECT digest FROM bank_weights)",
    "cached extraction of no document": "SELECT count(*) FROM extraction_cache WHERE extraction_key NOT IN "
                                        "(SELECT extraction_key FROM documents)",
}
_ROW_TABLES = {"document": "documents", "entity": "entities", "fact": "facts"}


class InspectQueries:
    """What the viewer, ``dump`` and ``check`` read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the inspector ----------------------------------------------------------------------------

    def search_entities(self, needle: str, limit: int) -> list[tuple[int, str]]:
        """(key, name) of entities whose name contains ``needle``, shortest names first."""
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [(int(k), n) for k, n in self.engine.query(
            "SELECT key, name FROM entities WHERE name LIKE ? ESCAPE '\\' ORDER BY length(name), name LIMIT ?",
            (pattern, limit))]

    def synonym_pairs(self) -> list[tuple[int, int]]:
        """Every (source, target) synonym edge."""
        return [(int(s), int(t)) for s, t in self.engine.query("SELECT source, target FROM synonyms")]

    def synonyms_of(self, entity: int) -> list[tuple[str, float]]:
        """(name, score) of an entity's synonym list, best first."""
        return [(n, float(s)) for n, s in self.engine.query(
            "SELECT e.name, s.score FROM synonyms s JOIN entities e ON e.key = s.target WHERE s.source = ? "
            "ORDER BY s.score DESC, e.name", (entity,))]

    def mentioning_documents(self, entity: int, limit: int) -> list[tuple[str, str]]:
        """(id, title) of the documents mentioning an entity, by id."""
        return self.engine.query(
            "SELECT d.id, d.title FROM mentions m JOIN documents d ON d.key = m.document WHERE m.entity = ? "
            "ORDER BY d.id LIMIT ?", (entity, limit))

    def entity_names_of(self, document: int) -> list[str]:
        """Names of the entities a document mentions, sorted."""
        return [r[0] for r in self.engine.query(
            "SELECT e.name FROM mentions m JOIN entities e ON e.key = m.entity WHERE m.document = ? ORDER BY e.name",
            (document,))]

    def fact_rows(self, *, subject: int | None = None, obj: int | None = None,
                  document: int | None = None) -> list[FactRow]:
        """Facts with validity and sources: those of a subject, of an object, or stated by a document."""
        if subject is not None:
            where, param = "f.subject = ?", subject
        elif obj is not None:
            where, param = "f.object = ?", obj
        elif document is not None:
            where, param = "f.key IN (SELECT fact FROM fact_sources WHERE document = ?)", document
        else:
            raise ValueError("fact_rows needs subject, obj or document")
        rows = self.engine.query(
            "SELECT f.key, s.name, f.relation, o.name, f.valid_from, f.valid_to FROM facts f "
            f"JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object WHERE {where}", (param,))
        sources: dict[int, list[str]] = defaultdict(list)
        for fact, doc_id in self.engine.select_in(
                "SELECT s.fact, d.id FROM fact_sources s JOIN documents d ON d.key = s.document "
                "WHERE s.fact IN ({marks})", [r[0] for r in rows]):
            sources[int(fact)].append(doc_id)
        out = [(s, r, o, vf, vt, sorted(sources[int(k)])) for k, s, r, o, vf, vt in rows]
        return sorted(out, key=lambda t: (t[0], t[1], t[2], t[3] or "", t[4] or ""))

    # -- the canonical dump -----------------------------------------------------------------------

    def dump_rows(self) -> dict[str, list[tuple]]:
        """Every row the canonical dump is made of, keyed by section."""
        q = self.engine.query
        return {
            "documents": q("SELECT key, id, title, text, metadata, coalesce(source, ''), coalesce(valid_from, ''), "
                           "coalesce(valid_to, '') FROM documents"),
            "entities": q("SELECT key, name FROM entities"),
            "facts": q("SELECT key, subject, relation, object, valid_from, valid_to FROM facts"),
            "fact_sources": q("SELECT fact, document FROM fact_sources"),
            "mentions": q("SELECT entity, document FROM mentions"),
            "synonyms": q("SELECT source, target, score FROM synonyms"),
        }

    # -- the integrity check ----------------------------------------------------------------------

    def integrity(self) -> list[str]:
        """The database's own integrity report (empty when sound)."""
        if self.engine.dialect != "sqlite":
            return []
        return [row[0] for row in self.engine.query("PRAGMA integrity_check") if row[0] != "ok"]

    def dangling(self) -> dict[str, int]:
        """Counts of rows that refer to missing rows or lost their support, by problem."""
        return {label: int(self.engine.query_one(sql)[0]) for label, sql in _DANGLING.items()}

    def row_keys(self, kind: str) -> set[int]:
        """Keys of the rows of ``kind`` ("document", "entity" or "fact")."""
        return {int(r[0]) for r in self.engine.query(f"SELECT key FROM {_ROW_TABLES[kind]}")}  # noqa: S608

    def stored_bytes(self) -> int:
        """Bytes the database holds for this store (pages of the SQLite file; relation sizes
        of the PostgreSQL schema, indexes and TOAST included)."""
        if self.engine.dialect == "sqlite":
            pages = self.engine.query_one("PRAGMA page_count")
            size = self.engine.query_one("PRAGMA page_size")
            return int(pages[0]) * int(size[0]) if pages and size else 0
        row = self.engine.query_one(
            "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) "
            "FROM pg_tables WHERE schemaname = current_schema()")
        return int(row[0]) if row else 0

    def meta_values(self) -> dict[str, Any]:
        """Every meta key and value."""
        return dict(self.engine.query("SELECT key, value FROM meta"))
