"""Hits and their explanations: the seeds of the walk and the paths that reached a passage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Hit", "Explanation", "SeedInfo", "PathInfo"]


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
            return f"{self.nodes[0]} (seeded directly)   (strength {self.strength:.2e})"
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
        return {
            "mode": self.mode,
            "summary": self.summary,
            "seeds": [vars(s) for s in self.seeds],
            "paths": [{"nodes": p.nodes, "edges": p.edges, "strength": p.strength} for p in self.paths],
        }

    def __str__(self) -> str:
        lines = [self.summary]
        if self.seeds:
            lines.append("seeds:")
            lines += [f"  {s.weight:.4f}  {s.kind}:{s.name}  ({s.reason})" for s in self.seeds]
        if self.paths:
            lines.append("paths:")
            lines += [f"  {p}" for p in self.paths]
        return "\n".join(lines)


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
    """

    doc_id: str
    score: float
    title: str
    text: str
    rank: int
    mode: str
    _explain: Callable[[], Explanation] = field(repr=False, compare=False)

    def explain(self) -> Explanation:
        """Seeds and strongest graph paths that led to this passage (computed on demand)."""
        return self._explain()

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """JSON-ready form, optionally with the explanation."""
        out: dict[str, Any] = {"rank": self.rank, "doc_id": self.doc_id, "score": self.score,
                               "title": self.title, "text": self.text, "mode": self.mode}
        if explain:
            out["explanation"] = self.explain().to_dict()
        return out
