"""The memory bank through the HTTP server: an abstention is an answer (null, with its reason)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from memory import BankConfig, MemoryStore, StoreConfig  # noqa: E402
from memory.server import BackgroundServer, ServerConfig  # noqa: E402


def test_recall_over_http_answers_and_abstains(tmp_path, embedder) -> None:
    root = tmp_path / "tenants"
    root.mkdir()
    config = StoreConfig(bank=BankConfig(branching=2, depth=1, min_leaf=1, hidden=8, epochs=60))
    with MemoryStore(root / "alice", config, embedder=embedder) as store:
        store.ingest([{"id": "a", "text": "Ann Lee was born in Oslo."}, {"id": "b", "text": "Bo Berg was born in Lima."}])
        store.bank.fit()
    with BackgroundServer(ServerConfig(root=root, embedder=embedder)) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        known = client.post("/t/alice/recall", json={"subject": "Ann Lee", "relation": "bear in"})
        assert known.status_code == 200 and known.json()["answer"] == "oslo"
        unknown = client.post("/t/alice/recall", json={"subject": "Zed Quorn", "relation": "bear in"})
        assert unknown.status_code == 200, unknown.text
        assert unknown.json()["answer"] is None and "no entity named" in unknown.json()["reason"]
