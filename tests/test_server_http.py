"""The HTTP API through a real uvicorn server on 127.0.0.1, with httpx: every operation,
named errors that write nothing, tenant names that try to escape, auth, hosts, OpenAPI."""

from __future__ import annotations

import hashlib
import http.client
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")
httpx = pytest.importorskip("httpx")

from memory import MemoryStore  # noqa: E402
from memory.dump import canonical_dump  # noqa: E402
from memory.server import OPERATIONS, SERVER_ERRORS, STORE_ERRORS, BackgroundServer, ServerConfig, TokenTable  # noqa: E402
from memory.server import schemas  # noqa: E402

from .conftest import BRIDGE_CORPUS  # noqa: E402

ALICE_TOKEN, BOB_TOKEN, ADMIN_TOKEN = "alice-" + "a" * 40, "bob-" + "b" * 40, "admin-" + "c" * 40


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("tenants")
    with BackgroundServer(ServerConfig(root=root, embedder=embedder)) as srv:
        srv.root = root
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def token_server(tmp_path_factory, embedder):
    tokens = TokenTable.from_dict({"tokens": [
        {"name": "alice", "token": ALICE_TOKEN, "tenants": ["alice"]},
        {"name": "bob", "sha256": hashlib.sha256(BOB_TOKEN.encode()).hexdigest(), "tenants": ["bob", "shared"]},
        {"name": "admin", "token": ADMIN_TOKEN, "tenants": ["*"]}]})
    root = tmp_path_factory.mktemp("token-tenants")
    with BackgroundServer(ServerConfig(root=root, embedder=embedder, tokens=tokens, max_body=64 * 1024)) as srv:
        srv.root = root
        yield srv


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _error(response: httpx.Response, code: str) -> dict:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, response.text
    assert response.status_code == body["error"]["status"]
    assert "Traceback" not in response.text and "/tmp" not in response.text
    return body["error"]


def tenant_dump(root: Path, tenant: str, embedder) -> dict:
    """What ``python -m memory dump`` would print for the tenant's store."""
    with MemoryStore(root / tenant, embedder=embedder) as store:
        return canonical_dump(store)


def test_operations_end_to_end(client):
    ingest = _ok(client.post("/t/alice/ingest", json={"documents": BRIDGE_CORPUS + [
        {"id": "mail-1", "text": "Alice Varga wrote to Bob Mills about chemistry.", "metadata": {"source": "email"},
         "date": "2019-05-01"}]}))
    assert ingest["ids"][:2] == ["alice", "lakeview"] and ingest["documents"] == 7
    hits = _ok(client.post("/t/alice/retrieve", json={"query": "In which country was Alice Varga born?",
                                                      "top_k": 3, "explain": True}))["hits"]
    schemas.RetrieveResult.model_validate({"hits": hits})
    assert hits[0]["doc_id"] == "alice" and hits[0]["explanation"]["seeds"]
    assert any(h["doc_id"] == "lakeview" for h in hits)
    dense = _ok(client.post("/t/alice/retrieve", json={"query": "chemistry letter", "mode": "dense"}))["hits"]
    assert "explanation" not in dense[0] or dense[0]["explanation"] is None
    mail = _ok(client.post("/t/alice/get", json={"id": "mail-1"}))
    assert mail["metadata"] == {"source": "email", "date": "2019-05-01"} and mail["recorded_at"]
    update = _ok(client.post("/t/alice/update", json={"subject": "Alice Varga", "relation": "live in",
                                                      "object": "Eastport", "at": "2020-01-01"}))
    assert update["opened"]["object"] == "eastport" and update["document_id"].startswith("update/")
    history = _ok(client.post("/t/alice/history", json={"subject": "Alice Varga", "relation": "live in"}))
    assert [f["object"] for f in history["facts"]] == ["eastport"] and history["total"] == 1
    facts = _ok(client.post("/t/alice/facts", json={"subject": "Alice Varga", "limit": 1}))
    assert len(facts["facts"]) == 1 and facts["total"] >= 1
    stats = _ok(client.post("/t/alice/stats"))
    assert stats["tenant"] == "alice" and stats["documents"] == 8 and "path" not in stats
    _error(client.post("/t/alice/recall", json={"subject": "Alice Varga", "relation": "live in"}), "bank_not_fitted")
    report = _ok(client.post("/t/alice/forget", json={"ids": ["mail-1", update["document_id"]]}))
    assert report["documents"] == ["mail-1", update["document_id"]] and report["removed"]["documents"] == 2
    _error(client.post("/t/alice/get", json={"id": "mail-1"}), "unknown_document")
    hits = _ok(client.post("/t/alice/retrieve", json={"query": "Alice Varga wrote to Bob Mills", "top_k": 8}))["hits"]
    assert "mail-1" not in {h["doc_id"] for h in hits}
    entity = _ok(client.post("/t/alice/forget", json={"entity": "Brisk River"}))
    assert entity["stated_in"] == ["lakeview"]


def test_reads_of_a_missing_tenant_are_not_found_and_create_nothing(server, client):
    for op, body in (("retrieve", {"query": "x"}), ("get", {"id": "x"}), ("stats", {}), ("facts", {}),
                     ("history", {"subject": "a", "relation": "b"}), ("forget", {"ids": ["x"]})):
        _error(client.post(f"/t/ghost/{op}", json=body), "tenant_not_found")
    assert not (server.root / "ghost").exists()


def test_a_failed_first_write_leaves_no_tenant(server, client):
    _error(client.post("/t/newbie/ingest", json={"documents": [{"text": " \n "}]}), "invalid_document")
    _error(client.post("/t/newbie/update", json={"subject": "a", "relation": "b", "object": "c", "at": "soon"}),
           "invalid_query")
    assert not (server.root / "newbie").exists()


BAD_INPUT = [
    ("ingest", {"documents": []}, "invalid_request"),
    ("ingest", [{"text": "a list, not an object"}], "invalid_request"),
    ("ingest", {"documents": [{"text": "   "}]}, "invalid_document"),
    ("ingest", {"documents": [{"text": "fine"}, {"text": ""}]}, "invalid_request"),
    ("ingest", {"documents": [{"text": "Dated badly.", "valid_from": "the day after"}]}, "invalid_document"),
    ("ingest", {"documents": [{"text": "x", "metadata": "not an object"}]}, "invalid_request"),
    ("ingest", {"documents": [{"text": "x", "colour": "red"}]}, "invalid_request"),
    ("ingest", {"documents": [{"text": "x"}], "split": {"mode": "window", "window_tokens": 10,
                                                       "window_overlap": 10}}, "invalid_config"),
    ("retrieve", {"query": ""}, "invalid_request"),
    ("retrieve", {"query": "x", "top_k": 0}, "invalid_request"),
    ("retrieve", {"query": "x", "mode": "magic"}, "invalid_request"),
    ("retrieve", {"query": "x", "as_of": "not-a-date"}, "invalid_query"),
    ("retrieve", {"query": "x", "where": {"source": {"gt": 3}}}, "invalid_request"),
    ("retrieve", {"question": "x"}, "invalid_request"),
    ("get", {"id": "nope"}, "unknown_document"),
    ("forget", {"ids": ["alice", "nope"]}, "unknown_document"),
    ("forget", {"entity": "nobody at all"}, "unknown_entity"),
    ("forget", {"fact": {"subject": "Alice Varga", "relation": "paint", "object": "Harrow"}}, "unknown_entity"),
    ("forget", {}, "invalid_request"),
    ("forget", {"ids": ["alice"], "entity": "Lakeview"}, "invalid_request"),
    ("forget", {"ids": ["alice"], "cascade": True}, "invalid_request"),
    ("update", {"subject": "", "relation": "live in", "object": "X", "at": "2020"}, "invalid_request"),
    ("update", {"subject": "Alice Varga", "relation": "live in", "object": "X", "at": "someday"}, "invalid_query"),
    ("update", {"subject": "Alice Varga", "relation": "live in", "object": "!!!", "at": "2020"}, "invalid_query"),
    ("facts", {"as_of": "garbage"}, "invalid_query"),
    ("facts", {"subject": "nobody at all"}, "unknown_entity"),
    ("history", {"subject": "nobody at all", "relation": "x"}, "unknown_entity"),
    ("recall", {"subject": "Alice Varga", "relation": "bear in"}, "bank_not_fitted"),
    ("stats", {"unexpected": 1}, "invalid_request"),
]


def test_bad_input_gets_a_named_error_and_writes_nothing(server, client, embedder):
    _ok(client.post("/t/strict/ingest", json={"documents": BRIDGE_CORPUS}))
    before = tenant_dump(server.root, "strict", embedder)
    generation = _ok(client.post("/t/strict/stats"))["generation"]
    for op, body, code in BAD_INPUT:
        _error(client.post(f"/t/strict/{op}", json=body), code)
    _error(client.post("/t/strict/ingest", content=b'{"documents": [', headers={"content-type": "application/json"}),
           "invalid_request")
    _error(client.post("/t/strict/ingest", content=b"text=1", headers={"content-type": "text/plain"}),
           "invalid_request")
    _error(client.post("/t/strict/nonsense", json={}), "not_found")
    _error(client.get("/t/strict/stats"), "method_not_allowed")
    assert _ok(client.post("/t/strict/stats"))["generation"] == generation
    assert tenant_dump(server.root, "strict", embedder) == before


ESCAPES = [
    "/t/../stats", "/t/..%2f..%2fetc/stats", "/t/%2e%2e/stats", "/t/%2E%2E%2Fx/stats", "/t/a%2Fb/stats",
    "/t/a%5Cb/stats", "/t/%00/stats", "/t/a%00b/stats", "/t/%EF%BD%81lice/stats", "/t/%D0%B0lice/stats",
    "/t/ALICE/stats", "/t/con/stats", "/t/pg_catalog/stats", "/t/" + "a" * 49 + "/stats", "/t/%61lice/stats",
    "/t//stats", "/t/alice%2F..%2Fbob/stats", "/t/alice/../bob/stats", "/t/./stats", "/t/%252e%252e/stats",
    "/t/alice%20/stats", "/t/%C0%AE%C0%AE/stats", "/t/.alice/stats", "/t/alice;x/stats", "/t/alice?x=/../",
]


def _raw_post(url: str, path: str, headers: dict | None = None) -> tuple[int, dict]:
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request("POST", path, body=b"{}", headers={"Host": host, "Content-Type": "application/json",
                                                         **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_tenant_names_cannot_escape(server, token_server, tmp_path):
    _raw_post(server.url, "/t/alice/stats")  # alice exists after the end-to-end test, or is not found
    listing = sorted(p.name for p in server.root.iterdir())
    outside = sorted(p.name for p in server.root.parent.iterdir())
    for path in ESCAPES:
        status, body = _raw_post(server.url, path)
        assert status in (400, 404) and body["error"]["code"] in ("invalid_tenant", "not_found"), (path, body)
        # with a token for alice only, nothing reaches another tenant either
        status, body = _raw_post(token_server.url, path, {"Authorization": f"Bearer {ALICE_TOKEN}"})
        assert status in (400, 401, 403, 404), (path, body)
    assert sorted(p.name for p in server.root.iterdir()) == listing
    assert sorted(p.name for p in server.root.parent.iterdir()) == outside


def test_auth(token_server):
    with httpx.Client(base_url=token_server.url, timeout=120) as c:
        alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
        _ok(c.post("/t/alice/ingest", json={"documents": BRIDGE_CORPUS[:2]}, headers=alice))
        response = c.post("/t/alice/stats")
        _error(response, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        for header in (f"Bearer {BOB_TOKEN[:-1]}", f"Basic {ALICE_TOKEN}", f"Bearer {ALICE_TOKEN} x", "Bearer"):
            _error(c.post("/t/alice/stats", headers={"Authorization": header}), "unauthorized")
        _error(c.post("/t/bob/stats", headers=alice), "forbidden")
        _error(c.post("/t/alice/stats", headers={"Authorization": f"Bearer {BOB_TOKEN}"}), "forbidden")
        _error(c.post("/t/bob/stats", headers={"Authorization": f"Bearer {BOB_TOKEN}"}), "tenant_not_found")
        assert _ok(c.post("/t/alice/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}))["documents"] == 2
        _error(c.post("/t/alice/mcp", json={}), "unauthorized")
        _error(c.post("/t/bob/mcp", json={}, headers=alice), "forbidden")
        assert c.get("/health").json()["status"] == "ok" and c.get("/openapi.json").status_code == 200
        big = {"documents": [{"text": "x" * (70 * 1024)}]}
        _error(c.post("/t/alice/ingest", json=big, headers=alice), "payload_too_large")


def test_host_and_origin_checks(server, client):
    _error(client.post("/t/alice/stats", headers={"Host": "evil.example"}), "invalid_host")
    _error(client.get("/openapi.json", headers={"Host": "evil.example:80"}), "invalid_host")
    port = server.url.rsplit(":", 1)[1]
    _error(client.post("/t/alice/stats", headers={"Host": f"127.0.0.1:{int(port) + 1}"}), "invalid_host")
    _error(client.post("/t/alice/stats", headers={"Origin": "http://evil.example"}), "invalid_origin")
    assert client.post("/t/alice/stats", headers={"Host": f"localhost:{port}",
                                                  "Origin": f"http://localhost:{port}"}).status_code in (200, 404)


def test_openapi_schema(client):
    schema = _ok(client.get("/openapi.json"))
    assert schema["openapi"].startswith("3.")
    for name, op in OPERATIONS.items():
        post = schema["paths"][f"/t/{{tenant}}/{name}"]["post"]
        assert post["operationId"] == name and post["description"] == op.description
        assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(op.result.__name__)
        assert post["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
        tenant = next(p for p in post["parameters"] if p["name"] == "tenant")
        assert tenant["schema"]["maxLength"] == 48 and "pattern" in tenant["schema"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    retrieve = schema["components"]["schemas"]["RetrieveRequest"]
    assert {"query", "top_k", "mode", "as_of", "explain", "where"} <= set(retrieve["properties"])
    codes = {c for c, _ in STORE_ERRORS.values()} | set(SERVER_ERRORS)
    assert all(code in schema["info"]["description"] for code in codes)


WHERE_DOCS = [
    {"id": "e1", "text": "Alice Varga emailed about the Lakeview budget.", "metadata": {"source": "email"}},
    {"id": "c1", "text": "Alice Varga chatted about the Lakeview budget.", "metadata": {"source": "chat"}},
    {"id": "n1", "text": "A note on the Lakeview budget by Alice Varga.", "metadata": {"source": "note"}},
]


@pytest.mark.parametrize("mode", ["hipporag", "dense", "bm25"])
def test_where_filters_metadata(client, mode):
    _ok(client.post("/t/filtered/ingest", json={"documents": WHERE_DOCS}))
    query = {"query": "Lakeview budget", "top_k": 5, "mode": mode}
    hits = _ok(client.post("/t/filtered/retrieve", json={**query, "where": {"source": "email"}}))["hits"]
    assert [h["doc_id"] for h in hits] == ["e1"]
    hits = _ok(client.post("/t/filtered/retrieve", json={**query, "where": {"source": {"in": ["chat", "note"]}}}))
    assert {h["doc_id"] for h in hits["hits"]} == {"c1", "n1"}
    assert all(h["metadata"]["source"] in ("chat", "note") for h in hits["hits"])


def test_tenants_as_postgresql_schemas(tmp_path, embedder, pg_cluster):
    """With --database, each tenant is a schema of one PostgreSQL database: the same API,
    the same isolation, the same forgetting."""
    database = pg_cluster.conninfo()
    with BackgroundServer(ServerConfig(root=tmp_path, database=database, embedder=embedder)) as srv:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            _error(c.post("/t/nobody/retrieve", json={"query": "anything"}), "tenant_not_found")
            assert _ok(c.post("/t/pg-a/ingest", json={"documents": BRIDGE_CORPUS}))["documents"] == len(BRIDGE_CORPUS)
            _ok(c.post("/t/pg-b/ingest", json={"documents": [{"id": "only-b", "text": "Bruno lives in Oslo."}]}))
            hits = _ok(c.post("/t/pg-a/retrieve", json={"query": "Where does Bruno live?", "top_k": 10,
                                                        "mode": "dense"}))["hits"]
            assert "only-b" not in [h["doc_id"] for h in hits]
            _ok(c.post("/t/pg-a/forget", json={"ids": ["bob"]}))
            hits = _ok(c.post("/t/pg-a/retrieve", json={"query": "Where was Bob Mills born?", "top_k": 6,
                                                        "explain": True}))["hits"]
            assert "bob" not in [h["doc_id"] for h in hits]
            stats = _ok(c.post("/t/pg-a/stats"))
            assert stats["documents"] == len(BRIDGE_CORPUS) - 1 and "/tmp" not in json.dumps(stats)
