"""Synonymy edges: each entity's nearest other entities above a similarity threshold.

An entity's neighbour list is a pure function of the current entity set: its
``top_k`` most similar eligible entities with cosine >= ``threshold``, ties
broken by name. Lists are recomputed only for the entities a change touches:
new entities, entities whose list held a removed entity, and existing entities
close enough to a new entity that it may enter their list. Scores are computed
in float64 from the stored float32 vectors and rounded to 1e-6, so the same
vectors give the same edges whatever the order of insertion.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

__all__ = ["NeighbourSearch", "eligible_for_synonymy", "neighbour_lists", "lists_from_candidates", "entities_near",
           "SEARCH_MARGIN"]

#: Margin below the threshold for the approximate faiss pass; exact scores decide.
SEARCH_MARGIN = _SEARCH_MARGIN = 1e-3


class NeighbourSearch(Protocol):
    """What synonymy needs of a vector index (satisfied by ``memory.vectors.VectorIndex``)."""

    def range_search(self, queries: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        ...


def eligible_for_synonymy(name: str, min_alnum: int = 3) -> bool:
    """HippoRAG links only phrases with enough letters or digits.

    >>> eligible_for_synonymy("us"), eligible_for_synonymy("paris")
    (False, True)
    """
    return sum(ch.isalnum() for ch in name) >= min_alnum


def neighbour_lists(
    sources: Sequence[int],
    source_vectors: np.ndarray,
    index: NeighbourSearch,
    vectors_of: Callable[[Sequence[int]], np.ndarray],
    names: Callable[[Iterable[int]], dict[int, str]],
    threshold: float,
    top_k: int,
    min_alnum: int = 3,
) -> dict[int, list[tuple[int, float]]]:
    """Synonym list ``[(target, score), ...]`` of each source entity.

    Parameters
    ----------
    sources, source_vectors :
        Entity keys and their unit vectors.
    index :
        Searchable index over all current entities.
    vectors_of :
        Returns the stored vectors of entity keys (for exact scores).
    names :
        Returns the names of entity keys (eligibility and tie-breaking).
    threshold, top_k, min_alnum :
        As in :class:`memory.config.GraphConfig`.
    """
    result: dict[int, list[tuple[int, float]]] = {int(s): [] for s in sources}
    if top_k == 0 or len(sources) == 0:
        return result
    source_names = names(sources)
    hits = index.range_search(source_vectors, threshold - _SEARCH_MARGIN)
    candidates = sorted({int(i) for _, ids in hits for i in ids})
    candidate_names = names(candidates)
    candidate_vectors = dict(zip(candidates, vectors_of(candidates).astype(np.float64)))
    for source, vector, (_, ids) in zip(sources, source_vectors.astype(np.float64), hits):
        source = int(source)
        if not eligible_for_synonymy(source_names.get(source, ""), min_alnum):
            continue
        scored = []
        for target in {int(i) for i in ids} - {source}:
            if not eligible_for_synonymy(candidate_names.get(target, ""), min_alnum):
                continue
            score = round(float(np.dot(vector, candidate_vectors[target])), 6)
            if score >= threshold:
                scored.append((-score, candidate_names[target], target))
        scored.sort()
        result[source] = [(target, -neg) for neg, _, target in scored[:top_k]]
    return result


def lists_from_candidates(
    candidates: dict[int, set[int]],
    vectors_of: Callable[[Sequence[int]], np.ndarray],
    names: Callable[[Iterable[int]], dict[int, str]],
    threshold: float,
    top_k: int,
    min_alnum: int = 3,
) -> dict[int, list[tuple[int, float]]]:
    """Synonym lists of the given sources, each scored exactly over its candidate set.

    Equal to :func:`neighbour_lists` whenever each source's candidates include every
    entity that can be in its list (e.g. its old list plus the entities added since:
    an old entity that ranks in the top ``top_k`` now already did before).

    >>> vectors = {1: [1.0, 0.0], 2: [0.99, 0.141], 3: [0.0, 1.0]}
    >>> lists_from_candidates({1: {2, 3}}, lambda ks: np.array([vectors[k] for k in ks]),
    ...                       lambda ks: {k: f"entity {k}" for k in ks}, 0.8, 5)
    {1: [(2, 0.99)]}
    """
    sources = sorted(candidates)
    result: dict[int, list[tuple[int, float]]] = {s: [] for s in sources}
    if top_k == 0 or not sources:
        return result
    everyone = sorted(set(sources) | {t for ts in candidates.values() for t in ts})
    labels = names(everyone)
    vectors = dict(zip(everyone, np.asarray(vectors_of(everyone), dtype=np.float64)))
    for source in sources:
        if not eligible_for_synonymy(labels.get(source, ""), min_alnum):
            continue
        scored = []
        for target in candidates[source] - {source}:
            if target not in labels or not eligible_for_synonymy(labels[target], min_alnum):
                continue
            score = round(float(np.dot(vectors[source], vectors[target])), 6)
            if score >= threshold:
                scored.append((-score, labels[target], target))
        scored.sort()
        result[source] = [(target, -neg) for neg, _, target in scored[:top_k]]
    return result


def entities_near(new_vectors: np.ndarray, index: NeighbourSearch, threshold: float) -> set[int]:
    """Entities similar enough to any new vector that their synonym lists may change."""
    return {int(i) for _, ids in index.range_search(new_vectors, threshold - _SEARCH_MARGIN) for i in ids}
