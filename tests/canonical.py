"""A canonical, content-keyed dump of a store for equality checks (test helper)."""

from __future__ import annotations

from memory import MemoryStore


def canonical_dump(store: MemoryStore) -> dict:
    """Documents, entities, facts with support, synonyms and vectors keyed by content."""
    db = store.db
    names = dict(db.query("SELECT key, name FROM entities"))
    ids = dict(db.query("SELECT key, id FROM documents"))
    facts = {}
    triples = {}
    for key, s, r, o in db.query("SELECT key, subject, relation, object FROM facts"):
        triples[key] = f"{names[s]} | {r} | {names[o]}"
        support = sorted(ids[d] for (d,) in db.query("SELECT document FROM fact_sources WHERE fact = ?", (key,)))
        facts[(names[s], r, names[o])] = support
    mentions = {}
    for e, d in db.query("SELECT entity, document FROM mentions"):
        mentions.setdefault(names[e], []).append(ids[d])
    vectors = {}
    for kind, table_names in (("document", ids), ("entity", names), ("fact", triples)):
        keys, matrix = db.get_vectors(kind)
        for k, row in zip(keys.tolist(), matrix):
            vectors[(kind, table_names[k])] = row.tobytes()
    index_vectors = {}
    for kind, table_names in (("document", ids), ("entity", names), ("fact", triples)):
        index = store.derived.vectors[kind]
        for k in index.ids().tolist():
            index_vectors[(kind, table_names[k])] = index.reconstruct([k])[0].tobytes()
    return {
        "documents": sorted(db.query("SELECT id, title, text, metadata FROM documents")),
        "entities": sorted(names.values()),
        "mentions": {k: sorted(v) for k, v in mentions.items()},
        "facts": facts,
        "synonyms": sorted((names[s], names[t], score)
                           for s, t, score in db.query("SELECT source, target, score FROM synonyms")),
        "vectors": vectors,
        "index_vectors": index_vectors,
    }
