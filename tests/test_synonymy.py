"""Synonymy edges are maintained incrementally yet equal a from-scratch computation."""

from __future__ import annotations

import numpy as np

from memory import GraphConfig, StoreConfig
from graphs.synonymy import eligible_for_synonymy

from memory.dump import canonical_dump
from .helpers import rows


def _brute_force(store, threshold: float, top_k: int) -> dict:
    with store.view() as view:
        keys, vectors = view.storage.vectors.get("entity")
    names = dict(rows(store, "SELECT key, name FROM entities"))
    vectors = vectors.astype(np.float64)
    lists = {}
    for i, key in enumerate(keys.tolist()):
        if not eligible_for_synonymy(names[key]):
            continue
        scored = []
        for j, other in enumerate(keys.tolist()):
            if other == key or not eligible_for_synonymy(names[other]):
                continue
            score = round(float(np.dot(vectors[i], vectors[j])), 6)
            if score >= threshold:
                scored.append((-score, names[other]))
        if scored:
            lists[names[key]] = sorted(scored)[:top_k]
    return lists


def _stored(store) -> dict:
    names = dict(rows(store, "SELECT key, name FROM entities"))
    lists: dict = {}
    for source, target, score in rows(store, "SELECT source, target, score FROM synonyms"):
        lists.setdefault(names[source], []).append((-score, names[target]))
    return {k: sorted(v) for k, v in lists.items()}


def test_incremental_synonymy_equals_brute_force(make_store, sample_corpus):
    config = StoreConfig(graph=GraphConfig(synonymy_threshold=0.75, synonymy_top_k=3))
    store = make_store(config=config)
    for start in range(0, 60, 20):  # three batches, then a replacement
        store.ingest(sample_corpus[start:start + 20])
    store.ingest({**sample_corpus[5], "text": "Replaced passage about the Bubye River in Zimbabwe."})
    expected = _brute_force(store, 0.75, 3)
    assert expected, "the sample must produce some synonymy edges"
    assert _stored(store) == expected


def test_insertion_order_does_not_matter(make_store, sample_corpus):
    docs = sample_corpus[:30]
    forward = make_store("forward")
    forward.ingest(docs[:15])
    forward.ingest(docs[15:])
    backward = make_store("backward")
    backward.ingest(docs[15:])
    backward.ingest(docs[:15])
    a, b = canonical_dump(forward), canonical_dump(backward)
    for part in ("entities", "mentions", "facts", "synonyms", "vectors", "index_vectors"):
        assert a[part] == b[part], part


def test_synonymy_stays_exact_when_another_writer_commits_between_prepare_and_commit(make_store, sample_corpus,
                                                                                     embedder, extractor):
    """The neighbour search done before the lock is corrected for entities added (and removed)
    by a write that committed in between."""
    from memory import MemoryStore

    config = StoreConfig(graph=GraphConfig(synonymy_threshold=0.75, synonymy_top_k=3))
    store = make_store(config=config)
    store.ingest(sample_corpus[:15])
    other = MemoryStore(store.path, embedder=embedder, extractor=extractor)
    original = store.core.write

    def write_after_another_writer(*args, **kwargs):
        other.ingest(sample_corpus[15:30])  # commits after this write prepared, before it locks
        other.forget(sample_corpus[2]["id"])
        return original(*args, **kwargs)

    from memory.indexing import Indexer

    searched = []
    full_search = Indexer._recompute_by_search
    store.core.write = write_after_another_writer
    Indexer._recompute_by_search = lambda self, new, stale: searched.append(len(new)) or full_search(self, new, stale)
    try:
        store.ingest(sample_corpus[30:45])
    finally:
        store.core.write = original
        Indexer._recompute_by_search = full_search
    assert searched == []  # this ingest used the search it prepared before the lock
    other.close()
    assert _stored(store) == _brute_force(store, 0.75, 3)
