"""What the inspection CLI and web viewer show, as JSON-ready dicts over an open store.

Every function reads only; none returns more than a bounded neighbourhood, so the
viewer stays responsive on large graphs.
"""

from __future__ import annotations

import difflib
import itertools
from collections import Counter
from typing import Any

import networkx as nx

__all__ = ["summary", "entity_view", "search_entities", "neighbourhood", "paths", "explain_query",
           "passage_view", "export_graph"]

Store = Any  # memory.MemoryStore (graphs/ does not import memory at module level)


def _entity_key(store: Store, name: str) -> int:
    from memory.errors import UnknownEntityError
    from memory.extract import normalize_phrase

    row = store.db.query("SELECT key FROM entities WHERE name = ?", (normalize_phrase(name),))
    if not row:
        names = [r[0] for r in store.db.query("SELECT name FROM entities")]
        close = difflib.get_close_matches(normalize_phrase(name), names, n=5, cutoff=0.75)
        close += [c["name"] for c in search_entities(store, name, 5) if c["name"] not in close]
        hint = f"; did you mean {', '.join(repr(c) for c in close[:5])}?" if close else ""
        raise UnknownEntityError(f"no entity named {name!r}{hint}")
    return int(row[0][0])


def summary(store: Store, top: int = 10) -> dict[str, Any]:
    """Counts, degree distribution, the largest hubs and the largest synonymy clusters."""
    graph = store.derived.graph
    entities = dict(store.db.query("SELECT key, name FROM entities"))
    degrees = {key: graph.degree(("entity", key)) for key in entities}
    def bucket(degree: int) -> str:
        return ("0" if degree == 0 else "1" if degree == 1 else "2-4" if degree < 5 else "5-9" if degree < 10
                else "10-99" if degree < 100 else "100+")

    counts = Counter(bucket(d) for d in degrees.values())
    buckets = {label: counts[label] for label in ("0", "1", "2-4", "5-9", "10-99", "100+")}
    hubs = sorted(degrees.items(), key=lambda kv: (-kv[1], entities[kv[0]]))[:top]
    synonyms = nx.Graph()
    synonyms.add_edges_from(store.db.query("SELECT source, target FROM synonyms"))
    clusters = sorted((sorted(entities[k] for k in c) for c in nx.connected_components(synonyms)),
                      key=lambda c: (-len(c), c))[:top]
    stats = store.stats()
    return {"documents": stats["documents"], "entities": stats["entities"], "facts": stats["facts"],
            "edges": stats["edges"], "degree_distribution": buckets,
            "hubs": [{"name": entities[k], "degree": d} for k, d in hubs],
            "synonymy_clusters": [{"size": len(c), "members": c[:12]} for c in clusters]}


def search_entities(store: Store, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Entities whose name contains ``text`` (shortest names first), with their degree."""
    from memory.extract import normalize_phrase

    needle = normalize_phrase(text)
    if not needle:
        return []
    rows = store.db.query("SELECT key, name FROM entities WHERE instr(name, ?) > 0 "
                          "ORDER BY length(name), name LIMIT ?", (needle, limit))
    graph = store.derived.graph
    return [{"name": name, "degree": graph.degree(("entity", key))} for key, name in rows]


def _fact_rows(store: Store, where: str, params: tuple) -> list[dict[str, Any]]:
    rows = store.db.query(
        "SELECT s.name, f.relation, o.name, f.valid_from, f.valid_to, "
        "(SELECT group_concat(d.id, '\x1f') FROM fact_sources fs JOIN documents d ON d.key = fs.document "
        " WHERE fs.fact = f.key) FROM facts f JOIN entities s ON s.key = f.subject "
        f"JOIN entities o ON o.key = f.object WHERE {where} ORDER BY s.name, f.relation, o.name", params)
    return [{"subject": s, "relation": r, "object": o, "valid_from": vf, "valid_to": vt,
             "sources": sorted((src or "").split("\x1f")) if src else []} for s, r, o, vf, vt, src in rows]


def entity_view(store: Store, name: str, limit: int = 200) -> dict[str, Any]:
    """An entity's facts in and out (with validity and sources), mentions and synonyms."""
    key = _entity_key(store, name)
    mentions = store.db.query("SELECT d.id, d.title FROM mentions m JOIN documents d ON d.key = m.document "
                              "WHERE m.entity = ? ORDER BY d.id LIMIT ?", (key, limit))
    synonyms = store.db.query("SELECT e.name, s.score FROM synonyms s JOIN entities e ON e.key = s.target "
                              "WHERE s.source = ? ORDER BY s.score DESC", (key,))
    return {"name": store.db.entity_names([key])[key],
            "facts_out": _fact_rows(store, "f.subject = ?", (key,))[:limit],
            "facts_in": _fact_rows(store, "f.object = ?", (key,))[:limit],
            "mentions": [{"doc_id": d, "title": t} for d, t in mentions],
            "synonyms": [{"name": n, "score": round(s, 4)} for n, s in synonyms]}


def neighbourhood(store: Store, name: str, depth: int = 1, limit: int = 60) -> dict[str, Any]:
    """The entity's neighbours within ``depth`` hops over fact and synonymy edges (at most
    ``limit`` nodes, strongest edges first), as nodes and labelled edges for drawing."""
    key = _entity_key(store, name)
    graph = store.derived.graph
    chosen = [("entity", key)]
    seen = {("entity", key)}
    frontier = [("entity", key)]
    for _ in range(depth):
        candidates = []
        for node in frontier:
            for other in graph.neighbours(node):
                if other[0] == "entity" and other not in seen:
                    kinds = graph.edge_kinds(node, other)
                    if "fact" in kinds or "synonym" in kinds:
                        candidates.append((-sum(kinds.values()), other[1], other))
        frontier = []
        for _, _, other in sorted(candidates):
            if other in seen or len(chosen) >= limit:
                continue
            seen.add(other)
            chosen.append(other)
            frontier.append(other)
    names = store.db.entity_names([n[1] for n in chosen])
    edges = []
    for a, b in itertools.combinations(chosen, 2):
        kinds = graph.edge_kinds(a, b)
        if "fact" in kinds:
            for subject, relation, obj, support in store.db.facts_between(a[1], b[1]):
                edges.append({"source": names[subject], "target": names[obj], "label": relation,
                              "kind": "fact", "weight": support})
        elif "synonym" in kinds:
            edges.append({"source": names[a[1]], "target": names[b[1]], "label": "synonym",
                          "kind": "synonym", "weight": round(kinds["synonym"], 3)})
    return {"center": names[key], "truncated": len(chosen) >= limit,
            "nodes": [{"name": names[n[1]], "degree": graph.degree(n)} for n in chosen], "edges": edges}


def paths(store: Store, source: str, target: str, count: int = 3, max_hops: int = 6) -> list[dict[str, Any]]:
    """The ``count`` shortest weighted paths between two entities over fact and synonymy edges
    (an edge's length is 1 / its weight, so well-supported facts are short), with the facts on them."""
    a, b = _entity_key(store, source), _entity_key(store, target)
    graph = store.derived.graph
    entity_graph = nx.Graph()
    for node in graph.nodes:
        if node[0] != "entity":
            continue
        for other in graph.neighbours(node):
            kinds = graph.edge_kinds(node, other)
            if other[0] == "entity" and ("fact" in kinds or "synonym" in kinds):
                entity_graph.add_edge(node[1], other[1], length=1.0 / max(sum(kinds.values()), 1e-9))
    if a not in entity_graph or b not in entity_graph or not nx.has_path(entity_graph, a, b):
        return []
    out = []
    for hops in itertools.islice(nx.shortest_simple_paths(entity_graph, a, b, weight="length"), count):
        if len(hops) - 1 > max_hops:
            break
        names = store.db.entity_names(hops)
        steps = []
        for x, y in zip(hops, hops[1:]):
            facts = store.db.facts_between(x, y)
            if facts:
                s, r, o, support = facts[0]
                steps.append({"from": names[x], "to": names[y], "fact": [names[s], r, names[o]],
                              "support": support})
            else:
                steps.append({"from": names[x], "to": names[y], "synonym": store.db.synonym_score(x, y)})
        out.append({"entities": [names[h] for h in hops], "length": round(nx.path_weight(
            entity_graph, hops, "length"), 4), "steps": steps})
    return out


def explain_query(store: Store, query: str, top_k: int = 5, mode: str = "hipporag", as_of: Any = None,
                  nodes: int = 25) -> dict[str, Any]:
    """Seeds, the entities holding the most PPR mass, and how each top passage was reached."""
    hits = store.retrieve(query, top_k=top_k, mode=mode, as_of=as_of)
    trace = store.last_query
    seeds = trace.seeds if trace else []
    entity_seeds = [s.node[1] for s in seeds if s.node[0] == "entity"]
    names = store.db.entity_names(entity_seeds)
    ranked = list((trace.node_scores if trace else {}).items())[:nodes]  # entities, strongest first
    entity_names = store.db.entity_names([node[1] for node, _ in ranked])
    mass = [{"name": entity_names[node[1]], "mass": round(score, 6)} for node, score in ranked]
    return {"query": query, "mode": mode, "as_of": str(trace.as_of) if trace and trace.as_of else None,
            "seeds": [{"kind": s.node[0], "name": names.get(s.node[1], f"passage {s.node[1]}")
                       if s.node[0] == "entity" else f"passage {s.node[1]}", "weight": round(s.weight, 6),
                       "reason": s.reason} for s in sorted(seeds, key=lambda s: -s.weight)[:nodes]],
            "ppr_mass": mass,
            "hits": [{"rank": h.rank, "doc_id": h.doc_id, "title": h.title, "score": h.score,
                      "text": h.text, "explanation": h.explain().to_dict()} for h in hits]}


def passage_view(store: Store, doc_id: str) -> dict[str, Any]:
    """A stored passage with the entities it mentions and the facts it supports."""
    doc = store.get(doc_id)
    key = store.db.query("SELECT key FROM documents WHERE id = ?", (doc_id,))[0][0]
    entities = [r[0] for r in store.db.query("SELECT e.name FROM mentions m JOIN entities e ON e.key = m.entity "
                                              "WHERE m.document = ? ORDER BY e.name", (key,))]
    facts = _fact_rows(store, "f.key IN (SELECT fact FROM fact_sources WHERE document = ?)", (key,))
    return {"doc_id": doc.id, "title": doc.title, "text": doc.text, "metadata": doc.metadata,
            "entities": entities, "facts": facts}


def export_graph(store: Store, fmt: str, out: Any) -> int:
    """Write the whole graph as GraphML or node-link JSON (networkx); returns the node count."""
    import json

    graph = store.to_networkx()
    if fmt == "graphml":
        nx.write_graphml(graph, out)
    elif fmt == "json":
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(nx.node_link_data(graph, edges="links"), handle, ensure_ascii=False)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use graphml or json")
    return graph.number_of_nodes()
