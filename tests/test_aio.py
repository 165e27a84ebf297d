"""AsyncMemoryStore: the same verbs awaited, the event loop kept free, calls on one store gated;
the llama-index retriever's async path."""

from __future__ import annotations

import asyncio

import pytest

from memory import InvalidQueryError, UnknownDocumentError
from memory.aio import AsyncMemoryStore, gate_for
from memory.dump import canonical_dump

from .conftest import BRIDGE_CORPUS

QUESTION = "In which country was Alice Varga born?"


def test_verbs(make_store):
    async def main() -> None:
        store = AsyncMemoryStore(make_store())
        assert await store.ingest(BRIDGE_CORPUS) == [d["id"] for d in BRIDGE_CORPUS]
        hits = await store.retrieve(QUESTION, top_k=2, explain=True)
        assert hits[0].doc_id == "alice" and hits[0].explain().seeds
        plain = await store.retrieve(QUESTION, top_k=2)
        with pytest.raises(InvalidQueryError, match="explain=True"):
            plain[0].explain()
        assert (await store.get("lakeview")).title == "Lakeview" and await store.contains("bob")
        update = await store.update("Alice Varga", "live in", "Eastport", at="2020")
        assert [r.object for r in await store.history("Alice Varga", "live in")] == ["eastport"]
        assert await store.facts("Alice Varga", as_of="2021")
        assert (await store.forget(ids=[update.document_id])).documents == (update.document_id,)
        assert (await store.forget_fact("Alice Varga", "bear in", "Lakeview")).removed["facts"] == 1
        assert (await store.forget_entity("Brisk River")).stated_in == ("lakeview",)
        with pytest.raises(UnknownDocumentError):
            await store.forget("nope")
        assert (await store.stats())["documents"] == len(BRIDGE_CORPUS)
        await store.aclose()
    asyncio.run(main())


def test_the_event_loop_keeps_running_during_a_call(make_store, sample_corpus):
    async def main() -> int:
        store = AsyncMemoryStore(make_store())
        ticks = 0
        done = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)
        beat = asyncio.ensure_future(heartbeat())
        await asyncio.sleep(0)
        start = ticks
        await store.ingest(sample_corpus[:8])
        during = ticks - start
        done.set()
        await beat
        return during
    assert asyncio.run(main()) > 3  # a blocking call would have let the heartbeat tick at most once


def test_concurrent_calls_on_one_store_match_serial_ones(make_store):
    docs = [{"id": f"d{i}", "text": f"Person {i} was born in Town {i % 3}. Town {i % 3} is in Norland."}
            for i in range(8)]

    async def main(store: AsyncMemoryStore) -> None:
        writes = [store.ingest([d]) for d in docs]
        reads = [store.retrieve("Who was born in Town 1?", mode=m) for m in ("hipporag", "dense", "bm25") * 2]
        await asyncio.gather(*writes, *reads)
        await store.forget(ids=["d0", "d5"])

    concurrent = make_store("concurrent")
    asyncio.run(main(AsyncMemoryStore(concurrent)))
    serial = make_store("serial")
    serial.ingest([d for d in docs if d["id"] not in ("d0", "d5")])
    assert canonical_dump(concurrent) == canonical_dump(serial)


def test_wrappers_of_one_store_share_a_gate(make_store):
    store = make_store()
    assert AsyncMemoryStore(store).gate is AsyncMemoryStore(store).gate is gate_for(store)
    assert gate_for(make_store("other")) is not gate_for(store)


def test_llama_index_async_retrieve(make_store):
    pytest.importorskip("llama_index.core")
    from memory.integrations.llama_index import MemoryRetriever

    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    retriever = MemoryRetriever(store, top_k=2, explain=True)

    async def main() -> list:
        return await asyncio.gather(retriever.aretrieve(QUESTION), retriever.aretrieve("Where was Bob Mills born?"))
    alice, bob = asyncio.run(main())
    assert alice[0].node.node_id == "alice" and "explanation" in alice[0].node.metadata
    assert bob[0].node.node_id == "bob"
    assert [n.node.node_id for n in alice] == [n.node.node_id for n in retriever.retrieve(QUESTION)]
