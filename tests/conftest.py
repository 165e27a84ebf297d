"""Shared fixtures: real models loaded once per session, small generated corpora."""

from __future__ import annotations

import json
import uuid
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


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the session (skips when none can be started)."""
    from eval.pgcluster import throwaway_cluster, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def backend(request) -> str:
    """The storage backend a test's stores use: "sqlite" unless a module parametrises it
    (``pytestmark = BOTH_BACKENDS``)."""
    return getattr(request, "param", "sqlite")


#: ``BACKENDS = BOTH_BACKENDS`` in a test module runs each of its store tests on SQLite and on
#: PostgreSQL (tests that use no store are not repeated).
BOTH_BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends, indirect=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite's files (not run on PostgreSQL)")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Drop the PostgreSQL variant of tests marked ``sqlite_only`` (they test SQLite's files)."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("sqlite_only") and params.get("backend") == "postgresql":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def fresh_location(backend, tmp_path, request) -> Callable[[], str | Path]:
    """A new, empty store location on each call (a directory, or a new PostgreSQL schema)."""
    counter = [0]
    if backend == "sqlite":
        def directory() -> Path:
            counter[0] += 1
            return tmp_path / f"fresh{counter[0]}-{uuid.uuid4().hex[:8]}"
        return directory
    cluster = request.getfixturevalue("pg_cluster")
    return lambda: cluster.url(f"f_{uuid.uuid4().hex[:20]}")


@pytest.fixture
def store_location(backend, tmp_path, request) -> Callable[[str], str | Path]:
    """Where a test's store named ``name`` lives: a directory under tmp_path, or a fresh
    PostgreSQL schema (the same one for the same name within a test)."""
    if backend == "sqlite":
        return lambda name="store": tmp_path / name
    cluster = request.getfixturevalue("pg_cluster")
    schemas: dict[str, str] = {}

    def location(name: str = "store") -> str:
        if name not in schemas:
            schemas[name] = f"t{len(schemas)}_{uuid.uuid4().hex[:16]}"
        return cluster.url(schemas[name])

    return location


@pytest.fixture
def make_store(tmp_path, embedder, extractor, store_location, backend) -> Callable[..., MemoryStore]:
    """Open (or create) a store with the session's models (under tmp_path, or in PostgreSQL)."""
    opened: list[MemoryStore] = []

    def factory(name: str = "store", config: StoreConfig | None = None, **kwargs) -> MemoryStore:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("extractor", extractor)
        if backend == "postgresql":
            kwargs.setdefault("cache_dir", tmp_path / f"cache-{name}")
        store = MemoryStore(store_location(name), config, **kwargs)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture(scope="session")
def sample_corpus() -> list[dict]:
    corpus = json.loads((SAMPLE / "corpus.json").read_text())
    return [{"id": f"m{i}", "title": d["title"], "text": d["text"]} for i, d in enumerate(corpus)]
