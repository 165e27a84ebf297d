"""MCP with the official SDK client (``ClientSession``) over streamable HTTP and over stdio:
list tools, ingest, retrieve with an explanation, forget, and the forgotten passage is gone."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")
httpx2 = pytest.importorskip("httpx2")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from memory.server import OPERATIONS, BackgroundServer, ServerConfig, TokenTable  # noqa: E402

from .conftest import BRIDGE_CORPUS, REPO  # noqa: E402

TOKEN = "mcp-token-" + "z" * 40
QUESTION = "In which country was Alice Varga born?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    tokens = TokenTable.from_dict({"tokens": [{"name": "agent", "token": TOKEN, "tenants": ["agent", "other"]}]})
    root = tmp_path_factory.mktemp("mcp-tenants")
    with BackgroundServer(ServerConfig(root=root, embedder=embedder, tokens=tokens)) as srv:
        yield srv


def _data(result) -> dict:
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def _error(result, code: str) -> dict:
    assert result.is_error
    body = json.loads(result.content[0].text)
    assert body["error"]["code"] == code, body
    return body["error"]


async def _scenario(session: ClientSession) -> None:
    """The same agent story on any transport."""
    await session.initialize()
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == set(OPERATIONS)
    for tool in tools.values():
        assert len(tool.description) > 40 and tool.input_schema["type"] == "object" and tool.output_schema
    assert {"query", "top_k", "mode", "as_of", "explain", "where"} <= set(tools["retrieve"].input_schema["properties"])
    assert tools["retrieve"].input_schema["properties"]["query"]["description"]
    assert tools["retrieve"].annotations.read_only_hint and tools["forget"].annotations.destructive_hint

    ingested = _data(await session.call_tool("ingest", {"documents": BRIDGE_CORPUS}))
    assert ingested["documents"] == len(BRIDGE_CORPUS)
    hits = _data(await session.call_tool("retrieve", {"query": QUESTION, "top_k": 3, "explain": True}))["hits"]
    assert hits[0]["doc_id"] == "alice"
    explanation = hits[0]["explanation"]
    assert explanation["summary"] and any(seed["name"] == "alice varga" for seed in explanation["seeds"])

    report = _data(await session.call_tool("forget", {"ids": ["lakeview"]}))
    assert report["documents"] == ["lakeview"] and report["removed"]["documents"] == 1
    hits = _data(await session.call_tool("retrieve", {"query": "Lakeview is a small town on the Brisk River",
                                                      "top_k": 6}))["hits"]
    assert "lakeview" not in {hit["doc_id"] for hit in hits}
    assert all("Brisk River" not in hit["text"] for hit in hits)
    _error(await session.call_tool("get", {"id": "lakeview"}), "unknown_document")
    _error(await session.call_tool("retrieve", {"query": "", "top_k": 500}), "invalid_request")
    _error(await session.call_tool("forget", {"entity": "nobody at all"}), "unknown_entity")
    _error(await session.call_tool("teleport", {}), "not_found")
    stats = _data(await session.call_tool("stats", {}))
    assert stats["documents"] == len(BRIDGE_CORPUS) - 1


def test_streamable_http(server):
    async def main() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
            async with streamable_http_client(f"{server.url}/t/agent/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await _scenario(session)
            # the other tenant, same token: sees nothing of the first
            async with streamable_http_client(f"{server.url}/t/other/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    _error(await session.call_tool("retrieve", {"query": QUESTION}), "tenant_not_found")
                    _data(await session.call_tool("ingest", {"documents": [{"id": "alice", "text": "Other text."}]}))
                    assert _data(await session.call_tool("get", {"id": "alice"}))["text"] == "Other text."
    anyio.run(main)


def test_streamable_http_refuses_another_tenant(server):
    # a token limited to agent/other cannot open an MCP session on a third tenant
    async def main() -> int:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
            response = await http.post(f"{server.url}/t/third/mcp", json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "0"}}},
                headers={"Accept": "application/json, text/event-stream"})
            assert response.json()["error"]["code"] == "forbidden"
            return response.status_code
    assert anyio.run(main) == 403


def test_stdio(tmp_path):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memory", "mcp", "--root", str(tmp_path), "--tenant", "desk"],
        cwd=str(REPO), env={"PYTHONPATH": str(REPO), "HOME": os.environ.get("HOME", str(tmp_path))})

    async def main() -> None:
        with anyio.fail_after(300):
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write) as session:
                    await _scenario(session)
    anyio.run(main)
    assert (tmp_path / "desk" / "memory.sqlite").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["desk"]
