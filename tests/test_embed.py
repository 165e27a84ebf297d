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


def test_minilm_tokenizes_one_call_at_a_time(minilm, monkeypatch):
    # the transformers tokenizer sets truncation and padding on a shared Rust tokenizer at
    # every call: two threads tokenizing at once would encode with each other's settings
    import threading
    import time

    real = minilm._tokenizer
    inside, deepest, guard = [0], [0], threading.Lock()

    class Watched:
        def __getattr__(self, name):
            return getattr(real, name)

        def __call__(self, *args, **kwargs):
            with guard:
                inside[0] += 1
                deepest[0] = max(deepest[0], inside[0])
            time.sleep(0.05)
            try:
                return real(*args, **kwargs)
            finally:
                with guard:
                    inside[0] -= 1

    texts = ["Lakeview is a small town in Norland.", "Who founded the Harrow school?"]
    expected = [minilm.encode([t], kind) for t, kind in zip(texts, ("passage", "query"))]
    monkeypatch.setattr(minilm, "_tokenizer", Watched())
    results = {}
    threads = [threading.Thread(target=lambda i=i, kind=kind: results.__setitem__(i, minilm.encode([texts[i]], kind)))
               for i, kind in enumerate(("passage", "query"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert deepest[0] == 1
    assert all((results[i] == expected[i]).all() for i in range(2))


def test_store_with_minilm_round_trip(tmp_path, minilm, extractor):
    config = StoreConfig(embedding=EmbeddingConfig(model=MINILM))
    with MemoryStore(tmp_path / "s", config, embedder=minilm, extractor=extractor) as store:
        store.ingest(BRIDGE_CORPUS)
        assert store.retrieve("Where was Alice Varga born?", top_k=1, mode="dense")[0].doc_id == "alice"
    with MemoryStore(tmp_path / "s", extractor=extractor) as reopened:
        assert reopened.config.embedding.model == MINILM
        assert reopened.stats()["embedder"] == minilm.name


# -- long texts: bounded work, same tokens ---------------------------------------------------

def _tricky_long_texts() -> list[str]:
    corpus = json.loads((SAMPLE / "corpus.json").read_text())
    body = " ".join(d["text"] for d in corpus[:80])
    return [body, " " * 9000 + body, "東京大学" * 3000 + body, ("x" * 150 + " ") * 200 + body,
            "한국어 " * 3000 + body, "é\u0301" * 4000 + " " + body, body.replace(" ", "\n\n")]


@pytest.mark.parametrize("which", ["default", "minilm"])
def test_a_long_text_is_read_as_a_window_prefix_with_the_same_tokens(which, embedder, minilm) -> None:
    from memory.embed import MAX_READ_CHARS, window_prefix

    model = embedder if which == "default" else minilm
    window = model._max_length if which == "default" else model._limit
    full = model._probe.__class__.from_str(model._probe.to_str())
    full.enable_truncation(window)
    for text in _tricky_long_texts():
        prefix = window_prefix(text, model._probe, window)
        assert text.startswith(prefix) and len(prefix) < len(text)
        assert full.encode(prefix).ids == full.encode(text).ids
    flood = "word " + " " * (MAX_READ_CHARS + 10) + "tail"
    assert len(window_prefix(flood, model._probe, window)) == MAX_READ_CHARS


def test_a_50_mb_text_is_encoded_like_its_window(embedder) -> None:
    from memory.embed import window_prefix

    body = " ".join(_tricky_long_texts()[:1])
    head = body[:20_000]
    huge = head + "!" * 50_000_000  # 50 MB: read up to the window, never tokenized whole
    assert len(window_prefix(huge, embedder._probe, 512)) <= 8 * 512
    vectors = embedder.encode([huge, head + " something else entirely"], "passage")
    assert np.array_equal(vectors[0], vectors[1])  # the window holds only the shared head
