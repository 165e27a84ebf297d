"""Shared fixtures: real models loaded once per session, small generated corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from memory import EmbeddingConfig, MemoryStore, StoreConfig
from memory.embed import Embedder, SentenceTransformerEmbedder, load_embedder
from memory.extract import SpacyExtractor

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "musique_sample"

#: A tiny two-hop world: the answer to "which country is Alice Varga's birthplace in"
#: needs the bridge entity Lakeview, named in the question by neither passage text.
BRIDGE_CORPUS = [
    {"id": "alice", "title": "Alice Varga", "text": "Alice Varga is a Hungarian chemist. Alice Varga was born in Lakeview."},
    {"id": "lakeview", "title": "Lakeview", "text": "Lakeview is a small town in Norland. Lakeview lies on the Brisk River."},
    {"id": "norland", "title": "Norland", "text": "Norland is a country in northern Europe. Its capital is Eastport."},
    {"id": "bob", "title": "Bob Mills", "text": "Bob Mills is a British painter. Bob Mills was born in Harrow."},
    {"id": "harrow", "title": "Harrow", "text": "Harrow is a town in London. Harrow has a famous school."},
    {"id": "chem", "title": "Chemistry", "text": "Chemistry is the study of matter and its reactions."},
]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default encoder (what users get)."""
    return load_embedder(EmbeddingConfig())


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def extractor() -> SpacyExtractor:
    return SpacyExtractor()


@pytest.fixture
def make_store(tmp_path, embedder, extractor) -> Callable[..., MemoryStore]:
    """Open (or create) a store under tmp_path with the session's models."""
    opened: list[MemoryStore] = []

    def factory(name: str = "store", config: StoreConfig | None = None, **kwargs) -> MemoryStore:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("extractor", extractor)
        store = MemoryStore(tmp_path / name, config, **kwargs)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def sample_corpus() -> list[dict]:
    corpus = json.loads((SAMPLE / "corpus.json").read_text())
    return [{"id": f"m{i}", "title": d["title"], "text": d["text"]} for i, d in enumerate(corpus)]
