"""llama-index adapters (extra ``[llama-index]``); skipped when llama-index is not installed."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.graph_stores.types import ChunkNode, EntityNode, PropertyGraphStore, Relation  # noqa: E402
from llama_index.core.llms.mock import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402

from memory.integrations.llama_index import MemoryPropertyGraphStore, MemoryRetriever  # noqa: E402

from .conftest import BRIDGE_CORPUS  # noqa: E402


def test_classes_are_llama_index_types() -> None:
    assert BaseRetriever.__name__ in [c.__name__ for c in MemoryRetriever.__mro__]
    assert PropertyGraphStore.__name__ in [c.__name__ for c in MemoryPropertyGraphStore.__mro__]


def test_retriever_in_a_query_engine(make_store) -> None:
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    retriever = MemoryRetriever(store, top_k=2, explain=True)
    nodes = retriever.retrieve("In which country was Alice Varga born?")
    assert [n.node.node_id for n in nodes][:1] == ["alice"] and nodes[0].node.ref_doc_id == "alice"
    assert nodes[0].score > 0 and "seeds" in nodes[0].node.metadata["explanation"]
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query("In which country was Alice Varga born?")
    assert {n.node.node_id for n in response.source_nodes} == {n.node.node_id for n in nodes}


def test_property_graph_store_round_trip(make_store, tmp_path) -> None:
    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    chunk = ChunkNode(text="Alice Varga was born in Lakeview.", id_="alice")
    llama, index = EntityNode(name="Llama", label="ANIMAL"), EntityNode(name="Index", label="THING")
    graph.upsert_nodes([chunk, llama, index])
    graph.upsert_relations([Relation(label="HAS", source_id=llama.id, target_id=index.id)])
    assert [n.id for n in graph.get(ids=["alice"])] == ["alice"]
    triplets = graph.get_triplets(entity_names=["Llama"])
    assert [(s.name, r.label, o.name) for s, r, o in triplets] == [("llama", "has", "index")]
    assert triplets[0][1].properties["support"] == 1
    assert ("alice varga", "bear in", "lakeview") in {(s.name, r.label, o.name) for s, r, o in
                                                      graph.get_rel_map([EntityNode(name="Lakeview")], depth=1)}
    assert graph.get_llama_nodes(["alice"])[0].text == chunk.text
    graph.persist(str(tmp_path / "dump.jsonl"))
    assert "llama" in (tmp_path / "dump.jsonl").read_text()
    graph.delete(relation_names=["has"])  # -> forget_fact
    assert graph.get_triplets(entity_names=["Llama"]) == []
    graph.delete(ids=["alice"])  # -> forget
    assert "alice" not in store and graph.get(ids=["alice"]) == []
    with pytest.raises(NotImplementedError):
        graph.structured_query("MATCH (n) RETURN n")


def test_property_graph_index_builds_on_the_store(make_store) -> None:
    from llama_index.core import Document, PropertyGraphIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.indices.property_graph import ImplicitPathExtractor

    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    index = PropertyGraphIndex.from_documents(
        [Document(text="Alice Varga was born in Lakeview. Lakeview is a town in Norland.", id_="d1")],
        property_graph_store=graph, kg_extractors=[ImplicitPathExtractor()], llm=MockLLM(),
        embed_model=MockEmbedding(embed_dim=8), embed_kg_nodes=False)
    assert len(store) == 1  # the chunk, extracted by the store; chunk links are not facts
    triplets = index.property_graph_store.get_triplets(entity_names=["Lakeview"])
    assert ("alice varga", "bear in", "lakeview") in {(s.name, r.label, o.name) for s, r, o in triplets}
