"""Encoders: unit vectors that do not depend on their batch company."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memory import EmbeddingConfig, MemoryStore, StoreConfig
from memory.embed import MINILM, OnnxBgeEmbedder

from .conftest import BRIDGE_CORPUS, SAMPLE


def _texts() -> list[str]:
    corpus = json.loads((SAMPLE / "corpus.json").read_text())[:40]
    return [f"{d['title']}\n{d['text']}" for d in corpus] + [d["title"] for d in corpus]


@pytest.fixture(params=["default", "minilm"])
def any_embedder(request, embedder, minilm):
    return embedder if request.param == "default" else minilm


def test_vectors_are_independent_of_batch_company(any_embedder):
    texts = _texts()
    together = any_embedder.encode(texts, "passage")
    reversed_order = any_embedder.encode(texts[::-1], "passage")[::-1]
    alone = np.stack([any_embedder.encode([t], "passage")[0] for t in texts[:10]])
    assert np.array_equal(together, reversed_order)
    assert np.array_equal(alone, together[:10])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert any_embedder.encode([], "entity").shape == (0, any_embedder.dim)


def test_default_is_bge_small(embedder):
    assert isinstance(embedder, OnnxBgeEmbedder) and embedder.dim == 384
    question = embedder.encode(["Where was Alice Varga born?"], "query")[0]
    passages = embedder.encode([BRIDGE_CORPUS[0]["text"], BRIDGE_CORPUS[5]["text"]], "passage")
    assert passages[0] @ question > passages[1] @ question


def test_minilm_agrees_with_plain_sentence_transformers(minilm):
    text = "Lakeview is a small town in Norland."
    ours = minilm.encode([text], "passage")[0]
    reference = minilm._model.encode([text], normalize_embeddings=True)[0]
    assert float(ours @ reference) > 0.99999


def test_store_with_minilm_round_trip(tmp_path, minilm, extractor):
    config = StoreConfig(embedding=EmbeddingConfig(model=MINILM))
    with MemoryStore(tmp_path / "s", config, embedder=minilm, extractor=extractor) as store:
        store.ingest(BRIDGE_CORPUS)
        assert store.retrieve("Where was Alice Varga born?", top_k=1, mode="dense")[0].doc_id == "alice"
    with MemoryStore(tmp_path / "s", extractor=extractor) as reopened:
        assert reopened.config.embedding.model == MINILM
        assert reopened.stats()["embedder"] == minilm.name
