"""What the inspection CLI and web viewer show, as JSON-ready dicts over an open store.

Every function reads only, inside one consistent view of the store (so a viewer
running beside a writer never mixes two states), through the store's named
queries (no SQL here); none returns more than a bounded neighbourhood, so the
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
View = Any  # memory.core.ReadView


def _entity_key(view: View, name: str) -> int:
    from memory.errors import UnknownEntityError
    from memory.extract import normalize_phrase

    key = view.storage.graph.entity_key(normalize_phrase(name))
    if key is None:
        names = list(view.storage.graph.all_entities().values())
        close = difflib.get_close_matches(normalize_phrase(name), names, n=5, cutoff=0.75)
        close += [c["name"] for c in _search(view, name, 5) if c["name"] not in close]
        hint = f"; did you mean {', '.join(repr(c) for c in close[:5])}?" if close else ""
        raise UnknownEntityError(f"no entity named {name!r}{hint}")
    return key


def summary(store: Store, top: int = 10) -> dict[str, Any]:
    """Counts, degree distribution, the largest hubs and the largest synonymy clusters."""
    with store.view() as view:
        graph = view.graph
        entities = view.storage.graph.all_entities()
        degrees = {key: graph.degree(("entity", key)) for key in entities}
        pairs = view.storage.inspect.synonym_pairs()
        counts_by_table = {t: view.storage.meta.count(t) for t in ("documents", "entities", "facts")}
        edges = graph.edge_counts()

    def bucket(degree: int) -> str:
        return ("0" if degree == 0 else "1" if degree == 1 else "2-4" if degree < 5 else "5-9" if degree < 10
                else "10-99" if degree < 100 else "100+")

    counts = Counter(bucket(d) for d in degrees.values())
    buckets = {label: counts[label] for label in ("0", "1", "2-4", "5-9", "10-99", "100+")}
    hubs = sorted(degrees.items(), key=lambda kv: (-kv[1], entities[kv[0]]))[:top]
    synonyms = nx.Graph()
    synonyms.add_edges_from(pairs)
    clusters = sorted((sorted(entities[k] for k in c) for c in nx.connected_components(synonyms)),
                      key=lambda c: (-len(c), c))[:top]
    return {**counts_by_table, "edges": edges, "degree_distribution": buckets,
            "hubs": [{"name": entities[k], "degree": d} for k, d in hubs],
            "synonymy_clusters": [{"size": len(c), "members": c[:12]} for c in clusters]}


def _search(view: View, text: str, limit: int) -> list[dict[str, Any]]:
    from memory.extract import normalize_phrase

    needle = normalize_phrase(text)
    if not needle:
        return []
    return [{"name": name, "degree": view.graph.degree(("entity", key))}
            for key, name in view.storage.inspect.search_entities(needle, limit)]


def search_entities(store: Store, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Entities whose name contains ``text`` (shortest names first), with their degree."""
    with store.view() as view:
        return _search(view, text, limit)


def _facts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [{"subject": s, "relation": r, "object": o, "valid_from": vf, "valid_to": vt, "sources": src}
            for s, r, o, vf, vt, src in rows]


def entity_view(store: Store, name: str, limit: int = 200) -> dict[str, Any]:
    """An entity's facts in and out (with validity and sources), mentions and synonyms."""
    with store.view() as view:
        key = _entity_key(view, name)
        inspect = view.storage.inspect
        return {"name": view.storage.graph.entity_names([key])[key],
                "facts_out": _facts(inspect.fact_rows(subject=key))[:limit],
                "facts_in": _facts(inspect.fact_rows(obj=key))[:limit],
                "mentions": [{"doc_id": d, "title": t} for d, t in inspect.mentioning_documents(key, limit)],
                "synonyms": [{"name": n, "score": round(s, 4)} for n, s in inspect.synonyms_of(key)]}


def neighbourhood(store: Store, name: str, depth: int = 1, limit: int = 60) -> dict[str, Any]:
    """The entity's neighbours within ``depth`` hops over fact and synonymy edges (at most
    ``limit`` nodes, strongest edges first), as nodes and labelled edges for drawing."""
    with store.view() as view:
        key = _entity_key(view, name)
        graph = view.graph
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
        names = view.storage.graph.entity_names([n[1] for n in chosen])
        edges = []
        for a, b in itertools.combinations(chosen, 2):
            kinds = graph.edge_kinds(a, b)
            if "fact" in kinds:
                for subject, relation, obj, support in view.storage.graph.facts_between(a[1], b[1]):
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
    with store.view() as view:
        a, b = _entity_key(view, source), _entity_key(view, target)
        graph = view.graph
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
            names = view.storage.graph.entity_names(hops)
            steps = []
            for x, y in zip(hops, hops[1:]):
                facts = view.storage.graph.facts_between(x, y)
                if facts:
                    s, r, o, support = facts[0]
                    steps.append({"from": names[x], "to": names[y], "fact": [names[s], r, names[o]],
                                  "support": support})
                else:
                    steps.append({"from": names[x], "to": names[y],
                                  "synonym": view.storage.graph.synonym_score(x, y)})
            out.append({"entities": [names[h] for h in hops],
                        "length": round(nx.path_weight(entity_graph, hops, "length"), 4), "steps": steps})
        return out


def explain_query(store: Store, query: str, top_k: int = 5, mode: str = "hipporag", as_of: Any = None,
                  nodes: int = 25) -> dict[str, Any]:
    """Seeds, the entities holding the most PPR mass, and how each top passage was reached."""
    hits = store.retrieve(query, top_k=top_k, mode=mode, as_of=as_of, explain=True)
    trace = store.last_query
    seeds = trace.seeds if trace else []
    ranked = list((trace.node_scores if trace else {}).items())[:nodes]  # entities, strongest first
    with store.view() as view:
        names = view.storage.graph.entity_names([s.node[1] for s in seeds if s.node[0] == "entity"]
                                                + [node[1] for node, _ in ranked])
        documents = view.storage.documents.ids([s.node[1] for s in seeds if s.node[0] == "passage"])
    mass = [{"name": names.get(node[1], "(forgotten)"), "mass": round(score, 6)} for node, score in ranked]

    def seed_name(node: tuple[str, int]) -> str:
        if node[0] == "entity":
            return names.get(node[1], "(forgotten)")
        return f"passage {documents.get(node[1], '(forgotten)')}"

    return {"query": query, "mode": mode, "as_of": str(trace.as_of) if trace and trace.as_of else None,
            "seeds": [{"kind": s.node[0], "name": seed_name(s.node), "weight": round(s.weight, 6), "reason": s.reason}
                      for s in sorted(seeds, key=lambda s: -s.weight)[:nodes]],
            "ppr_mass": mass,
            "hits": [{"rank": h.rank, "doc_id": h.doc_id, "title": h.title, "score": h.score,
                      "text": h.text, "explanation": h.explain().to_dict()} for h in hits]}


def passage_view(store: Store, doc_id: str) -> dict[str, Any]:
    """A stored passage with the entities it mentions and the facts it supports."""
    from memory.errors import UnknownDocumentError

    with store.view() as view:
        key = view.storage.documents.keys_of([doc_id]).get(doc_id)
        if key is None:
            raise UnknownDocumentError(f"no document with id {doc_id!r}")
        _, title, text, metadata = view.storage.documents.by_key([key])[key]
        import json

        return {"doc_id": doc_id, "title": title, "text": text, "metadata": json.loads(metadata),
                "entities": view.storage.inspect.entity_names_of(key),
                "facts": _facts(view.storage.inspect.fact_rows(document=key))}


def export_graph(store: Store, fmt: str, out: Any) -> int:
    """Write the whole graph as GraphML or node-link JSON (networkx); returns the node count."""
    import json

    if fmt not in ("graphml", "json"):
        raise ValueError(f"unknown export format {fmt!r}; use graphml or json")
    graph = store.to_networkx()
    if fmt == "graphml":
        nx.write_graphml(graph, out)
    else:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(nx.node_link_data(graph, edges="links"), handle, ensure_ascii=False)
    return graph.number_of_nodes()
