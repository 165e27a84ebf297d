"""Isolation fuzz: seeded random operations from concurrent HTTP and MCP clients over several
tenants. No response carries another tenant's data, and afterwards each tenant's dump equals
a store built by replaying only that tenant's committed operations, one at a time."""

from __future__ import annotations

import contextlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field

import anyio
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")
httpx = pytest.importorskip("httpx")
httpx2 = pytest.importorskip("httpx2")

from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from memory import MemoryStore  # noqa: E402
from memory.dump import canonical_dump  # noqa: E402
from memory.server import BackgroundServer, ServerConfig  # noqa: E402
from memory.server.schemas import IngestRequest  # noqa: E402

PEOPLE = ["Ada Brook", "Ben Cole", "Cleo Dunn", "Dev Eliot", "Eva Frost"]
CITIES = ["Lakeview", "Harrow", "Eastport", "Norwich", "Aldgate"]
ORGS = ["Norland Bank", "Brisk Labs", "Acme Press", "Vale Mining"]


def canary(tenant: str) -> str:
    return f"zq{tenant}canary"


@dataclass
class Log:
    """What the clients saw: committed writes per tenant, and every text each tenant returned."""

    committed: dict[str, list[tuple[int, int, str, dict]]] = field(default_factory=lambda: defaultdict(list))
    seen_texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    seen_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    errors: list[str] = field(default_factory=list)


def _text(rng: random.Random, tenant: str) -> str:
    person, city, org = rng.choice(PEOPLE), rng.choice(CITIES), rng.choice(ORGS)
    return f"{person} was born in {city}. {person} works for {org}. Note {canary(tenant)}."


def _plan(rng: random.Random, client: int, tenants: list[str]) -> tuple[str, str, dict]:
    tenant, doc = rng.choice(tenants), f"c{client}-d{rng.randrange(3)}"
    roll = rng.random()
    if roll < 0.45:
        return tenant, "ingest", {"documents": [{"id": doc, "text": _text(rng, tenant)}]}
    if roll < 0.60:
        return tenant, "forget", {"ids": [doc]}
    if roll < 0.85:
        return tenant, "retrieve", {"query": f"Where was {rng.choice(PEOPLE)} born?", "top_k": 4,
                                    "mode": rng.choice(["hipporag", "dense", "bm25"]), "explain": rng.random() < 0.3}
    if roll < 0.90:
        return tenant, "get", {"id": doc}
    if roll < 0.95:
        return tenant, "update", {"subject": f"Robot {client}", "relation": "located in",
                                  "object": rng.choice(CITIES), "at": str(rng.randrange(2000, 2020))}
    return tenant, "ingest", {"documents": [{"id": doc, "text": "   "}]}  # refused: nothing committed


async def _client(url: str, client: int, ops: int, tenants: list[str], seed: int, use_mcp: bool, log: Log) -> None:
    rng = random.Random(seed * 1000 + client)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=120))
        mcp_http = await stack.enter_async_context(httpx2.AsyncClient(timeout=120))
        sessions: dict[str, ClientSession] = {}

        async def send(tenant: str, op: str, body: dict) -> tuple[bool, dict]:
            if not use_mcp:
                response = await http.post(f"/t/{tenant}/{op}", json=body)
                return response.status_code == 200, response.json()
            if tenant not in sessions:
                read, write = await stack.enter_async_context(
                    streamable_http_client(f"{url}/t/{tenant}/mcp", http_client=mcp_http))
                sessions[tenant] = await stack.enter_async_context(ClientSession(read, write))
                await sessions[tenant].initialize()
            result = await sessions[tenant].call_tool(op, body)
            return not result.is_error, json.loads(result.content[0].text)

        for seq in range(ops):
            tenant, op, body = _plan(rng, client, tenants)
            ok, data = await send(tenant, op, body)
            if not ok:
                code = data["error"]["code"]
                expected = {"forget": {"unknown_document", "tenant_not_found"}, "get": {"unknown_document",
                            "tenant_not_found"}, "retrieve": {"tenant_not_found"}, "ingest": {"invalid_document"}}
                if code not in expected.get(op, set()):
                    log.errors.append(f"{op} on {tenant}: {data}")
                continue
            if op in ("ingest", "forget", "update"):
                log.committed[tenant].append((client, seq, op, body))
            texts = [h["text"] for h in data.get("hits", [])] + ([data["text"]] if op == "get" else [])
            texts += [json.dumps(h.get("explanation")) for h in data.get("hits", [])]
            log.seen_texts[tenant] += texts
            log.seen_ids[tenant] |= {h["doc_id"] for h in data.get("hits", [])}


def _replay(store: MemoryStore, ops: list[tuple[int, int, str, dict]]) -> None:
    """Serially, client by client (each client's own operations in order)."""
    for _, _, op, body in sorted(ops, key=lambda item: (item[0], item[1])):
        if op == "ingest":
            store.ingest([d.as_document() for d in IngestRequest.model_validate(body).documents])
        elif op == "forget":
            store.forget(ids=body["ids"])
        else:
            store.update(body["subject"], body["relation"], body["object"], at=body["at"])


def _fuzz(tmp_path, embedder, make_store, *, tenants: int, clients: int, ops: int, seed: int) -> Log:
    names = [f"t{i}" for i in range(tenants)]
    root = tmp_path / "root"
    log = Log()
    with BackgroundServer(ServerConfig(root=root, embedder=embedder)) as server:
        async def main() -> None:
            with anyio.fail_after(600):
                async with anyio.create_task_group() as group:
                    for c in range(clients):
                        group.start_soon(_client, server.url, c, ops, names, seed, c % 3 == 2, log)
        anyio.run(main)
    assert not log.errors, log.errors[:5]
    assert sum(len(v) for v in log.committed.values()) >= tenants
    for tenant in names:
        foreign = [canary(t) for t in names if t != tenant]
        assert not any(mark in text for text in log.seen_texts[tenant] for mark in foreign), tenant
        ever = {d["id"] for *_, op, body in log.committed[tenant] if op == "ingest" for d in body["documents"]}
        assert log.seen_ids[tenant] <= ever | {i for i in log.seen_ids[tenant] if i.startswith("update/")}
        expected = make_store(f"replay-{tenant}")
        _replay(expected, log.committed[tenant])
        if not log.committed[tenant]:
            assert not (root / tenant).exists()
            continue
        with MemoryStore(root / tenant, embedder=embedder) as served:
            assert canonical_dump(served) == canonical_dump(expected), tenant
    return log


def test_isolation_fuzz(tmp_path, embedder, make_store):
    log = _fuzz(tmp_path, embedder, make_store, tenants=3, clients=6, ops=8, seed=7)
    assert len(log.committed) == 3


@pytest.mark.slow
def test_isolation_fuzz_large(tmp_path, embedder, make_store):
    _fuzz(tmp_path, embedder, make_store, tenants=5, clients=16, ops=20, seed=11)
