"""Hits, their explanations, and the builder that turns a walk into a readable chain.

An explanation names the seeds the walk restarted at and the strongest paths
from them to the passage, with each edge labelled by what it is (a fact and its
support, a synonym with its cosine, a mention, the passage's title).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from graphs.kg import GraphMatrix, Node
from graphs.retrieve import Seed, strongest_paths

if TYPE_CHECKING:
    from .core import ReadView

__all__ = ["Hit", "Explanation", "SeedInfo", "PathInfo", "explain_graph_hit"]

_SEEDS_SHOWN = 8


@dataclass(frozen=True)
class SeedInfo:
    """A node the walk restarted at: ``kind`` is ``entity`` or ``passage``."""

    kind: str
    name: str
    weight: float
    reason: str


@dataclass(frozen=True)
class PathInfo:
    """One walk from a seed to the hit: node labels and the edges between them."""

    nodes: list[str]
    edges: list[str]
    strength: float

    def __str__(self) -> str:
        if len(self.nodes) == 1:
            return f"{self.nodes[0]} (seeded directly: {self.strength:.2%} of the restart mass)"
        parts = [self.nodes[0]]
        for edge, node in zip(self.edges, self.nodes[1:]):
            parts.append(f" --[{edge}]--> {node}")
        return "".join(parts) + f"   (strength {self.strength:.2e})"


@dataclass(frozen=True)
class Explanation:
    """Why a passage was retrieved.

    Attributes
    ----------
    mode : str
        Retrieval mode.
    summary : str
        One line on how the score arose.
    seeds : list of SeedInfo
        Reset-vector entries (graph modes), strongest first.
    paths : list of PathInfo
        Strongest walks from seeds to the passage (graph modes).
    """

    mode: str
    summary: str
    seeds: list[SeedInfo] = field(default_factory=list)
    paths: list[PathInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"mode": self.mode, "summary": self.summary, "seeds": [vars(s) for s in self.seeds],
                "paths": [{"nodes": p.nodes, "edges": p.edges, "strength": p.strength} for p in self.paths]}

    def seeds_text(self) -> str:
        """The seeds, one per line (the same for every hit of a query)."""
        if not self.seeds:
            return ""
        return "\n".join(["seeds:"] + [f"  {s.weight:.4f}  {s.kind}:{s.name}  ({s.reason})" for s in self.seeds])

    def paths_text(self) -> str:
        """The summary and the paths, one per line."""
        return "\n".join([self.summary] + (["paths:"] + [f"  {p}" for p in self.paths] if self.paths else []))

    def __str__(self) -> str:
        seeds = self.seeds_text()
        paths = self.paths_text()
        if not seeds:
            return paths
        summary, _, rest = paths.partition("\n")
        return "\n".join(part for part in (summary, seeds, rest) if part)


@dataclass
class Hit:
    """A retrieved passage.

    Attributes
    ----------
    doc_id, title, text :
        The document.
    score : float
        The retriever's score (PPR probability mass for graph modes).
    rank : int
        1-based position.
    mode : str
        The retrieval mode.
    generation : int
        The store generation the hit was retrieved at.
    """

    doc_id: str
    score: float
    title: str
    text: str
    rank: int
    mode: str
    _explain: Callable[[], Explanation] = field(repr=False, compare=False)
    generation: int = field(default=0, compare=False)

    def explain(self) -> Explanation:
        """Seeds and strongest graph paths that led to this passage.

        Computed on demand unless the hit was retrieved with ``explain=True``.

        Raises
        ------
        StaleResultError
            When something was forgotten since the hit was retrieved (retrieve again).
        """
        return self._explain()

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """JSON-ready form, optionally with the explanation."""
        out: dict[str, Any] = {"rank": self.rank, "doc_id": self.doc_id, "score": self.score,
                               "title": self.title, "text": self.text, "mode": self.mode}
        if explain:
            out["explanation"] = self.explain().to_dict()
        return out


def explain_graph_hit(view: "ReadView", mode: str, key: int, score: float, seeds: list[Seed],
                      matrix: GraphMatrix) -> Explanation:
    """The explanation of a graph-mode hit: its seeds and the chains that carried mass to it.

    Paths start at the entity seeds (the query's linked facts and phrases): the walk's
    multi-hop chains, seed -> fact edge -> entity -> passage. A passage's own seed
    (its dense similarity, or the bridge hop) is shown as its own line, never as a
    trivial path from the passage to itself.
    """
    storage, graph = view.storage, view.derived.graph
    ordered = sorted(seeds, key=lambda s: (s.node[0] != "entity", -s.weight))
    entity_seeds = [s for s in seeds if s.node[0] == "entity"]
    target: Node = ("passage", key)
    paths = strongest_paths(matrix, entity_seeds, target) if entity_seeds else []
    total = sum(s.weight for s in seeds) or 1.0
    entity_keys = {s.node[1] for s in entity_seeds}
    for nodes, _ in paths:
        entity_keys.update(n[1] for n in nodes if n[0] == "entity")
    names = storage.graph.entity_names(entity_keys)
    docs = storage.documents.by_key({n[1] for nodes, _ in paths for n in nodes if n[0] == "passage"}
                                    | {s.node[1] for s in ordered[:_SEEDS_SHOWN] if s.node[0] == "passage"} | {key})

    def name(node: Node) -> str:
        if node[0] == "entity":
            return names.get(node[1], f"entity {node[1]}")
        doc = docs.get(node[1])
        if not doc:
            return f"#{node[1]}"
        return f"{doc[0]} ({doc[1]!r})" if doc[1] and doc[1] != doc[0] else doc[0]

    def label(node: Node) -> str:
        return name(node) if node[0] == "entity" else f"passage {name(node)}"

    def edge(a: Node, b: Node) -> str:
        kinds = graph.edge_kinds(a, b)
        if "fact" in kinds and a[0] == b[0] == "entity":
            facts = storage.graph.facts_between(a[1], b[1])
            if facts:
                subject, relation, _, support = facts[0]
                arrow = relation if subject == a[1] else f"{relation} (reversed)"
                more = f" +{len(facts) - 1} more" if len(facts) > 1 else ""
                return f"{arrow}; support {support}{more}"
        if "synonym" in kinds:
            similarity = storage.graph.synonym_score(a[1], b[1])
            return "synonym" if similarity is None else f"synonym, cosine {similarity:.3f}"
        if "topic" in kinds:
            return "title of" if b[0] == "passage" else "titled"
        if "mention" in kinds:
            return "mentioned in" if b[0] == "passage" else "mentions"
        return "/".join(sorted(kinds))

    seed_infos = [SeedInfo(s.node[0], name(s.node), s.weight, s.reason) for s in ordered[:_SEEDS_SHOWN]]
    path_infos = [PathInfo([label(n) for n in nodes], [edge(a, b) for a, b in zip(nodes, nodes[1:])], strength)
                  for nodes, strength in paths]
    path_infos += [PathInfo([f"{label(target)}: {s.reason}"], [], s.weight / total)
                   for s in seeds if s.node == target]
    share = sum(s.weight for s in entity_seeds) / total
    summary = (f"personalized PageRank mass {score:.4g} from {len(seeds)} seed nodes "
               f"({len(entity_seeds)} entities, {share:.0%} of the restart mass)")
    return Explanation(mode, summary, seed_infos, path_infos)
