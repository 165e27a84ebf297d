"""Encoders: unit vectors that do not depend on their batch company."""

from __future__ import annotations

import json

import numpy as np

from .conftest import SAMPLE


def test_vectors_are_independent_of_batch_company(embedder):
    corpus = json.loads((SAMPLE / "corpus.json").read_text())[:40]
    texts = [f"{d['title']}\n{d['text']}" for d in corpus] + [d["title"] for d in corpus]
    together = embedder.encode(texts, "passage")
    reversed_order = embedder.encode(texts[::-1], "passage")[::-1]
    alone = np.stack([embedder.encode([t], "passage")[0] for t in texts[:10]])
    assert np.array_equal(together, reversed_order)
    assert np.array_equal(alone, together[:10])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_encoder_agrees_with_plain_sentence_transformers(embedder):
    text = "Lakeview is a small town in Norland."
    ours = embedder.encode([text], "passage")[0]
    reference = embedder._model.encode([text], normalize_embeddings=True)[0]
    assert float(ours @ reference) > 0.99999


def test_empty_input(embedder):
    assert embedder.encode([], "entity").shape == (0, embedder.dim)
