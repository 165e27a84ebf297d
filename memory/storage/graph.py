"""Named queries over the knowledge graph's rows: entities, mentions, facts, synonyms."""

from __future__ import annotations

from typing import Iterable, Sequence

from .engine import Engine

__all__ = ["GraphQueries", "EdgeRow", "FactVersionRow"]

#: (kind_a, key_a, kind_b, key_b, edge_kind, weight)
EdgeRow = tuple[str, int, str, int, str, float]
#: (key, subject, relation, object, valid_from, valid_to, first recorded_at)
FactVersionRow = tuple[int, int, str, int, str | None, str | None, str]


class GraphQueries:
    """Entities, mentions, facts with their sources, synonym lists and graph edges."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- entities ---------------------------------------------------------------------------------

    def entity_key(self, name: str) -> int | None:
        """The key of the entity with this (normalised) name, or None."""
        row = self.engine.query_one("SELECT key FROM entities WHERE name = ?", (name,))
        return int(row[0]) if row else None

    def entity_keys(self, names: Iterable[str]) -> dict[str, int]:
        """Map name -> key for the stored ones among ``names``."""
        return {n: int(k) for n, k in self.engine.select_in("SELECT name, key FROM entities WHERE name IN ({marks})",
                                                            sorted(set(names)))}

    def entity_names(self, keys: Iterable[int]) -> dict[int, str]:
        """Map key -> normalised name for the given entity keys."""
        return {int(k): n for k, n in self.engine.select_in("SELECT key, name FROM entities WHERE key IN ({marks})",
                                                            keys)}

    def all_entities(self) -> dict[int, str]:
        """Every entity: key -> name."""
        return {int(k): n for k, n in self.engine.query("SELECT key, name FROM entities")}

    def insert_entity(self, name: str) -> int:
        """Insert an entity and return its key."""
        return self.engine.insert_key("INSERT INTO entities(name) VALUES (?) RETURNING key", (name,))

    def delete_entities(self, keys: Sequence[int]) -> None:
        """Delete entities and every synonym edge touching them."""
        self.engine.executemany("DELETE FROM synonyms WHERE source = ? OR target = ?", [(k, k) for k in keys])
        self.engine.executemany("DELETE FROM entities WHERE key = ?", [(k,) for k in keys])

    # -- mentions ---------------------------------------------------------------------------------

    def add_mentions(self, document: int, entities: Iterable[int]) -> None:
        """Record that a document mentions entities."""
        self.engine.executemany("INSERT INTO mentions(entity, document) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                [(e, document) for e in sorted(set(entities))])

    def entities_of(self, document: int) -> list[int]:
        """Keys of the entities a document mentions."""
        return [int(r[0]) for r in self.engine.query("SELECT entity FROM mentions WHERE document = ?", (document,))]

    def documents_mentioning(self, entity: int) -> list[int]:
        """Keys of the documents that mention an entity."""
        return [int(r[0]) for r in self.engine.query("SELECT document FROM mentions WHERE entity = ?", (entity,))]

    def mentioning_ids(self, entity: int) -> list[str]:
        """Ids of the documents that mention an entity, sorted."""
        return [r[0] for r in self.engine.query(
            "SELECT d.id FROM mentions m JOIN documents d ON d.key = m.document WHERE m.entity = ? ORDER BY d.id",
            (entity,))]

    def delete_mentions_of_document(self, document: int) -> None:
        """Forget which entities a document mentions."""
        self.engine.execute("DELETE FROM mentions WHERE document = ?", (document,))

    def delete_mentions_of_entity(self, entity: int) -> None:
        """Forget which documents mention an entity."""
        self.engine.execute("DELETE FROM mentions WHERE entity = ?", (entity,))

    def unmentioned(self, entities: Iterable[int]) -> list[int]:
        """Those of ``entities`` no document mentions any more."""
        entities = sorted(set(entities))
        mentioned = {int(r[0]) for r in self.engine.select_in(
            "SELECT DISTINCT entity FROM mentions WHERE entity IN ({marks})", entities)}
        return [e for e in entities if e not in mentioned]

    def mention_counts(self) -> dict[int, int]:
        """Entity key -> number of documents mentioning it."""
        return {int(e): int(n) for e, n in self.engine.query("SELECT entity, count(*) FROM mentions GROUP BY entity")}

    # -- facts ------------------------------------------------------------------------------------

    def fact_key(self, subject: int, relation: str, obj: int, valid: tuple[str | None, str | None]) -> int | None:
        """The key of a stored fact with this identity, or None."""
        row = self.engine.query_one(
            "SELECT key FROM facts WHERE subject = ? AND relation = ? AND object = ? "
            "AND coalesce(valid_from, '') = ? AND coalesce(valid_to, '') = ?",
            (subject, relation, obj, valid[0] or "", valid[1] or ""))
        return int(row[0]) if row else None

    def insert_fact(self, subject: int, relation: str, obj: int, valid: tuple[str | None, str | None]) -> int:
        """Insert a fact and return its key."""
        return self.engine.insert_key(
            "INSERT INTO facts(subject, relation, object, valid_from, valid_to) VALUES (?, ?, ?, ?, ?) RETURNING key",
            (subject, relation, obj, valid[0], valid[1]))

    def add_fact_source(self, fact: int, document: int) -> None:
        """Record that a document states a fact."""
        self.engine.execute("INSERT INTO fact_sources(fact, document) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            (fact, document))

    def facts_of(self, document: int) -> list[int]:
        """Keys of the facts a document states."""
        return [int(r[0]) for r in self.engine.query("SELECT fact FROM fact_sources WHERE document = ?", (document,))]

    def delete_sources_of_document(self, document: int) -> None:
        """Forget which facts a document states."""
        self.engine.execute("DELETE FROM fact_sources WHERE document = ?", (document,))

    def unsupported(self, facts: Iterable[int]) -> list[int]:
        """Those of ``facts`` no document states any more."""
        facts = sorted(set(facts))
        supported = {int(r[0]) for r in self.engine.select_in(
            "SELECT DISTINCT fact FROM fact_sources WHERE fact IN ({marks})", facts)}
        return [f for f in facts if f not in supported]

    def support(self, facts: Iterable[int]) -> dict[int, int]:
        """Fact key -> number of supporting documents."""
        return {int(f): int(n) for f, n in self.engine.select_in(
            "SELECT fact, count(*) FROM fact_sources WHERE fact IN ({marks}) GROUP BY fact", facts)}

    def all_support(self) -> dict[int, int]:
        """Every fact key -> number of supporting documents."""
        return {int(f): int(n) for f, n in self.engine.query("SELECT fact, count(*) FROM fact_sources GROUP BY fact")}

    def delete_facts(self, facts: Sequence[int]) -> None:
        """Delete facts and their sources."""
        self.engine.executemany("DELETE FROM fact_sources WHERE fact = ?", [(f,) for f in facts])
        self.engine.executemany("DELETE FROM facts WHERE key = ?", [(f,) for f in facts])

    def facts_by_key(self, keys: Iterable[int]) -> dict[int, tuple[int, str, int]]:
        """Map fact key -> (subject key, relation, object key)."""
        return {int(k): (int(s), r, int(o)) for k, s, r, o in self.engine.select_in(
            "SELECT key, subject, relation, object FROM facts WHERE key IN ({marks})", keys)}

    def facts_naming(self, entity: int) -> list[int]:
        """Keys of the facts whose subject or object is the entity."""
        return [int(r[0]) for r in self.engine.query("SELECT key FROM facts WHERE subject = ? OR object = ?",
                                                     (entity, entity))]

    def source_documents(self, facts: Iterable[int]) -> set[int]:
        """Keys of the documents stating any of ``facts``."""
        return {int(r[0]) for r in self.engine.select_in("SELECT document FROM fact_sources WHERE fact IN ({marks})",
                                                         facts)}

    def facts_named(self, subject: str, relation: str, obj: str) -> list[int]:
        """Keys of the facts (any validity) with these normalised names."""
        return [int(r[0]) for r in self.engine.query(
            "SELECT f.key FROM facts f JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object "
            "WHERE s.name = ? AND f.relation = ? AND o.name = ?", (subject, relation, obj))]

    def relations_between_names(self, subject: str, obj: str) -> set[str]:
        """Relations stored from the entity named ``subject`` to the one named ``obj``."""
        return {r[0] for r in self.engine.query(
            "SELECT f.relation FROM facts f JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object "
            "WHERE s.name = ? AND o.name = ?", (subject, obj))}

    def facts_between(self, a: int, b: int) -> list[tuple[int, str, int, int]]:
        """Facts linking two entities either way: (subject, relation, object, support), best supported first."""
        return [(int(s), r, int(o), int(n)) for s, r, o, n in self.engine.query(
            "SELECT f.subject, f.relation, f.object, count(s.document) FROM facts f "
            "JOIN fact_sources s ON s.fact = f.key "
            "WHERE (f.subject = ? AND f.object = ?) OR (f.subject = ? AND f.object = ?) "
            "GROUP BY f.key, f.subject, f.relation, f.object ORDER BY count(s.document) DESC, f.relation",
            (a, b, b, a))]

    def fact_versions(self, subjects: Iterable[int] | None = None) -> list[FactVersionRow]:
        """Stored facts (of the given subjects, or all) with their intervals and first-recorded time."""
        sql = ("SELECT f.key, f.subject, f.relation, f.object, f.valid_from, f.valid_to, min(d.recorded_at) "
               "FROM facts f JOIN fact_sources s ON s.fact = f.key JOIN documents d ON d.key = s.document")
        group = " GROUP BY f.key, f.subject, f.relation, f.object, f.valid_from, f.valid_to"
        rows = (self.engine.query(sql + group) if subjects is None else
                self.engine.select_in(sql + " WHERE f.subject IN ({marks})" + group, sorted(set(subjects))))
        return [(int(k), int(s), r, int(o), vf, vt, at) for k, s, r, o, vf, vt, at in rows]

    def fact_sources_by_id(self, facts: Iterable[int]) -> list[tuple[int, str]]:
        """(fact key, document id) pairs for the given facts, by document id."""
        return [(int(f), i) for f, i in self.engine.select_in(
            "SELECT s.fact, d.id FROM fact_sources s JOIN documents d ON d.key = s.document "
            "WHERE s.fact IN ({marks}) ORDER BY d.id", facts)]

    def functional_relations(self) -> set[str]:
        """Relations :meth:`memory.MemoryStore.update` was used on."""
        return {r[0] for r in self.engine.query("SELECT relation FROM functional_relations")}

    def add_functional_relation(self, relation: str) -> None:
        """Mark a relation functional (inside a write)."""
        self.engine.execute("INSERT INTO functional_relations(relation) VALUES (?) ON CONFLICT DO NOTHING",
                            (relation,))

    def relations(self) -> list[str]:
        """Every distinct relation label, sorted."""
        return [r[0] for r in self.engine.query("SELECT DISTINCT relation FROM facts ORDER BY relation")]

    def triples(self, names: Sequence[str] | None = None) -> list[tuple[str, str, str, str | None, str | None, int]]:
        """(subject, relation, object, valid_from, valid_to, support) of every fact, or of the facts
        naming any of ``names``, sorted by names."""
        sql = ("SELECT s.name, f.relation, o.name, f.valid_from, f.valid_to, "
               "(SELECT count(*) FROM fact_sources WHERE fact = f.key) "
               "FROM facts f JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object")
        rows = (self.engine.query(sql) if names is None else
                self.engine.select_in(sql + " WHERE s.name IN ({marks}) OR o.name IN ({marks})", names, repeat=2))
        return sorted({(s, r, o, vf, vt, int(n)) for s, r, o, vf, vt, n in rows},
                      key=lambda t: (t[0], t[1], t[2], t[3] or "", t[4] or ""))

    # -- synonyms ---------------------------------------------------------------------------------

    def synonym_targets(self, sources: Iterable[int]) -> set[int]:
        """Entities on the synonym lists of ``sources``."""
        return {int(r[0]) for r in self.engine.select_in("SELECT target FROM synonyms WHERE source IN ({marks})",
                                                         sources)}

    def synonym_pairs_of(self, sources: Iterable[int]) -> list[tuple[int, int]]:
        """(source, target) of the synonym lists of ``sources``."""
        return [(int(s), int(t)) for s, t in self.engine.select_in(
            "SELECT source, target FROM synonyms WHERE source IN ({marks})", sorted(set(sources)))]

    def synonym_sources(self, targets: Iterable[int]) -> set[int]:
        """Entities whose synonym list holds any of ``targets``."""
        return {int(r[0]) for r in self.engine.select_in("SELECT source FROM synonyms WHERE target IN ({marks})",
                                                         targets)}

    def replace_synonym_lists(self, lists: dict[int, list[tuple[int, float]]]) -> None:
        """Replace the synonym lists of the given sources."""
        self.engine.executemany("DELETE FROM synonyms WHERE source = ?", [(s,) for s in sorted(lists)])
        self.engine.executemany("INSERT INTO synonyms(source, target, score) VALUES (?, ?, ?)",
                                [(s, t, score) for s, targets in sorted(lists.items()) for t, score in targets])

    def synonym_score(self, a: int, b: int) -> float | None:
        """Cosine similarity of two entities that are synonyms (either direction), else None."""
        row = self.engine.query_one(
            "SELECT max(score) FROM synonyms WHERE (source = ? AND target = ?) OR (source = ? AND target = ?)",
            (a, b, b, a))
        return None if row is None or row[0] is None else float(row[0])

    # -- graph edges ------------------------------------------------------------------------------

    def incident_edges(self, entity_keys: Iterable[int], document_keys: Iterable[int]) -> list[EdgeRow]:
        """Current graph edges touching the given nodes.

        Rows are ``(kind_a, key_a, kind_b, key_b, edge_kind, weight)``; node kinds
        ``"entity"`` / ``"passage"``; edge kinds ``"fact"`` (weight: supporting
        documents, summed over the relations between the pair), ``"mention"``
        (weight 1) and ``"synonym"`` (weight: cosine similarity).
        """
        entity_keys, document_keys = sorted(set(entity_keys)), sorted(set(document_keys))
        # A pair whose endpoints fall in different chunks comes back once per chunk:
        # key the rows by pair so each edge is counted once.
        facts = {(int(s), int(o)): w for s, o, w in self.engine.select_in(
            "SELECT f.subject, f.object, count(*) FROM facts f JOIN fact_sources s ON s.fact = f.key "
            "WHERE f.subject IN ({marks}) OR f.object IN ({marks}) GROUP BY f.subject, f.object",
            entity_keys, repeat=2)}
        synonyms = {(int(s), int(t)): w for s, t, w in self.engine.select_in(
            "SELECT source, target, score FROM synonyms WHERE source IN ({marks}) OR target IN ({marks})",
            entity_keys, repeat=2)}
        mentions = {(int(e), int(d)) for e, d in self.engine.select_in(
            "SELECT entity, document FROM mentions WHERE entity IN ({marks})", entity_keys)}
        mentions.update((int(e), int(d)) for e, d in self.engine.select_in(
            "SELECT entity, document FROM mentions WHERE document IN ({marks})", document_keys))
        rows: list[EdgeRow] = []
        rows += [("entity", s, "entity", o, "fact", float(w)) for (s, o), w in sorted(facts.items())]
        rows += [("entity", s, "entity", t, "synonym", float(w)) for (s, t), w in sorted(synonyms.items())]
        rows += [("entity", e, "passage", d, "mention", 1.0) for e, d in sorted(mentions)]
        return rows

    def all_edges(self) -> list[EdgeRow]:
        """Every graph edge (for a rebuild), in the form of :meth:`incident_edges`."""
        rows: list[EdgeRow] = [("entity", int(s), "entity", int(o), "fact", float(w)) for s, o, w in self.engine.query(
            "SELECT f.subject, f.object, count(*) FROM facts f JOIN fact_sources s ON s.fact = f.key "
            "GROUP BY f.subject, f.object ORDER BY f.subject, f.object")]
        rows += [("entity", int(s), "entity", int(t), "synonym", float(w)) for s, t, w in self.engine.query(
            "SELECT source, target, score FROM synonyms ORDER BY source, target")]
        rows += [("entity", int(e), "passage", int(d), "mention", 1.0) for e, d in self.engine.query(
            "SELECT entity, document FROM mentions ORDER BY entity, document")]
        return rows
