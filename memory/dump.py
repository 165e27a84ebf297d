"""A canonical, content-keyed dump of a store, for diffing two stores.

Database keys differ between stores built in different orders; the dump keys
everything by content instead (document ids, entity names, fact triples), so
two stores holding the same knowledge dump identically. Vectors appear as the
SHA-256 of their float32 bytes, both as stored in the database and as held in the
derived faiss indexes. ``python -m memory dump --store DIR`` writes it as sorted
JSON lines.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

from .storage import EMBEDDING_KINDS

__all__ = ["canonical_dump", "dump_lines"]


def _digest(vector: Any) -> str:
    return hashlib.sha256(vector.tobytes()).hexdigest()


def canonical_dump(store: Any) -> dict[str, Any]:
    """Documents, entities, mentions, facts with support, synonyms and vector digests.

    Parameters
    ----------
    store : MemoryStore
        An open store.

    Returns
    -------
    dict
        Sections ``documents`` (``[id, title, text, metadata, source, valid_from, valid_to]``),
        ``entities`` (names), ``mentions`` (name -> document ids), ``facts`` ("subject |
        relation | object [| valid_from..valid_to]" -> supporting document ids; the
        weight is their number), ``synonyms`` (``[source, target, score]``), ``vectors`` and
        ``index_vectors`` ("kind:key" -> SHA-256, from the database and from faiss).
    """
    with store.view() as view:
        rows = view.storage.inspect.dump_rows()
        stored = {kind: view.storage.vectors.get(kind) for kind in EMBEDDING_KINDS}
        held = {kind: view.derived.vectors[kind].arrays() for kind in EMBEDDING_KINDS}
    names = {int(k): n for k, n in rows["entities"]}
    ids = {int(r[0]): r[1] for r in rows["documents"]}
    triples: dict[int, str] = {}
    facts: dict[str, list[str]] = {}
    for key, subject, relation, obj, start, end in rows["facts"]:
        triples[int(key)] = f"{names[subject]} | {relation} | {names[obj]}"
        if start or end:
            triples[int(key)] += f" | {start or ''}..{end or ''}"
        facts[triples[int(key)]] = []
    for fact, document in rows["fact_sources"]:
        facts[triples[fact]].append(ids[document])
    mentions: dict[str, list[str]] = {}
    for entity, document in rows["mentions"]:
        mentions.setdefault(names[entity], []).append(ids[document])
    labels = {"document": ids, "entity": names, "fact": triples}
    vectors: dict[str, str] = {}
    index_vectors: dict[str, str] = {}
    for kind, label in labels.items():
        for key, row in zip(stored[kind][0].tolist(), stored[kind][1]):
            vectors[f"{kind}:{label[key]}"] = _digest(row)
        for key, row in zip(held[kind][0].tolist(), held[kind][1]):
            index_vectors[f"{kind}:{label.get(key, f'#{key} (no row)')}"] = _digest(row)
    return {
        "documents": sorted([list(r[1:]) for r in rows["documents"]]),
        "entities": sorted(names.values()),
        "mentions": {name: sorted(docs) for name, docs in sorted(mentions.items())},
        "facts": {triple: sorted(docs) for triple, docs in sorted(facts.items())},
        "synonyms": sorted([names[s], names[t], score] for s, t, score in rows["synonyms"]),
        "vectors": dict(sorted(vectors.items())),
        "index_vectors": dict(sorted(index_vectors.items())),
    }


def dump_lines(store: Any) -> Iterator[str]:
    """The dump as sorted JSON lines: ``{"section": ..., "key": ..., "value": ...}``."""
    lines = []
    for section, content in canonical_dump(store).items():
        items = content.items() if isinstance(content, dict) else ((None, value) for value in content)
        for key, value in items:
            record = {"section": section, "value": value} if key is None else \
                {"section": section, "key": key, "value": value}
            lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False))
    yield from sorted(lines)
