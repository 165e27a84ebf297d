"""The knowledge graph and its algorithms (no I/O of their own)."""

from .kg import EDGE_KINDS, GraphMatrix, KnowledgeGraph, Node
from .ppr import personalized_pagerank, transition_matrix

__all__ = [
    "EDGE_KINDS",
    "GraphMatrix",
    "KnowledgeGraph",
    "Node",
    "personalized_pagerank",
    "transition_matrix",
]
