"""llama-index adapters (extra ``[llama-index]``); skipped when llama-index is not installed.

The ``test_contract_*`` cases run the contract of llama-index-core's own property-graph-store
tests (``tests/graph_stores/test_simple_lpg.py``) through the base ``PropertyGraphStore``
API, adapted to the store: entity names are normalised, relations carry the fact's
support and validity besides their own properties, and ``get_triplets()`` without a
filter returns nothing, as llama-index's own store does.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.graph_stores.types import (  # noqa: E402
    KG_NODES_KEY,
    KG_RELATIONS_KEY,
    TRIPLET_SOURCE_KEY,
    ChunkNode,
    EntityNode,
    PropertyGraphStore,
    Relation,
)
from llama_index.core.llms.mock import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.schema import (  # noqa: E402
    BaseNode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
    TransformComponent,
)

from memory import InvalidFactError, MemoryStore  # noqa: E402
from memory.check import check_store  # noqa: E402
from memory.dump import canonical_dump  # noqa: E402
from memory.integrations.llama_index import MemoryPropertyGraphStore, MemoryRetriever  # noqa: E402

from .conftest import BOTH_BACKENDS, BRIDGE_CORPUS  # noqa: E402

BACKENDS = BOTH_BACKENDS


def _names(triplets: Sequence[Any]) -> set[tuple[str, str, str]]:
    return {(s.name, r.label, o.name) for s, r, o in triplets}


def _chunks(graph: MemoryPropertyGraphStore) -> list[str]:
    return sorted(n.id for n in graph.get() if isinstance(n, ChunkNode))


def _dump_text(store: MemoryStore) -> str:
    return json.dumps(canonical_dump(store), ensure_ascii=False).lower()


class TableExtractor(TransformComponent):
    """A kg extractor without an LLM: each chunk's triples come from a table keyed by node id.
    Like llama-index's path extractors, entities and relations carry the chunk's metadata."""

    table: Dict[str, List[List[str]]] = {}

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        for node in nodes:
            entities, relations = [], []
            for subject, label, obj in self.table.get(node.node_id, []):
                s = EntityNode(name=subject, properties=dict(node.metadata))
                o = EntityNode(name=obj, properties=dict(node.metadata))
                entities += [s, o]
                relations.append(Relation(label=label, source_id=s.id, target_id=o.id, properties=dict(node.metadata)))
            node.metadata[KG_NODES_KEY] = node.metadata.get(KG_NODES_KEY, []) + entities
            node.metadata[KG_RELATIONS_KEY] = node.metadata.get(KG_RELATIONS_KEY, []) + relations
        return nodes


def _index(graph: MemoryPropertyGraphStore, nodes: List[TextNode], table: Dict[str, List[List[str]]]) -> Any:
    from llama_index.core import PropertyGraphIndex
    from llama_index.core.embeddings import MockEmbedding

    return PropertyGraphIndex(nodes=nodes, property_graph_store=graph, kg_extractors=[TableExtractor(table=table)],
                              llm=MockLLM(), embed_model=MockEmbedding(embed_dim=8), embed_kg_nodes=False)


def test_classes_are_llama_index_types() -> None:
    assert BaseRetriever.__name__ in [c.__name__ for c in MemoryRetriever.__mro__]
    assert PropertyGraphStore.__name__ in [c.__name__ for c in MemoryPropertyGraphStore.__mro__]


# -- the contract of llama-index's property-graph-store tests --------------------------------------

def _triplet_store(make_store) -> tuple[MemoryPropertyGraphStore, EntityNode, Relation, EntityNode]:
    graph = MemoryPropertyGraphStore(make_store())
    e1, e2 = EntityNode(name="e1"), EntityNode(name="e2", properties={"key": "value"})
    r = Relation(label="r", source_id=e1.id, target_id=e2.id)
    graph.upsert_nodes([e1, e2])
    graph.upsert_relations([r])
    return graph, e1, r, e2


def test_contract_add(make_store) -> None:
    graph, e1, r, e2 = _triplet_store(make_store)
    assert _names(graph.get_triplets(ids=[e1.id, e2.id])) == {("e1", "r", "e2")}
    assert len(graph.get_triplets(ids=[e1.id, e2.id])) == 1


def test_contract_delete(make_store) -> None:
    graph, e1, r, e2 = _triplet_store(make_store)
    graph.delete(ids=[e1.id])
    assert graph.get_triplets(entity_names=["e1", "e2"]) == []
    assert graph.get(ids=["e1"]) == [] and graph.get(ids=["e2"]) == [e2]  # the other end stays


def test_contract_get(make_store) -> None:
    graph, e1, r, e2 = _triplet_store(make_store)
    assert graph.get_triplets() == []
    for found in (graph.get_triplets(entity_names=["e1"]), graph.get_triplets(entity_names=["e2"]),
                  graph.get_triplets(relation_names=["r"]), graph.get_triplets(properties={"key": "value"})):
        assert len(found) == 1
        subject, relation, obj = found[0]
        assert (subject, obj) == (e1, e2)  # names, labels and properties as upserted
        assert (relation.label, relation.source_id, relation.target_id) == (r.label, r.source_id, r.target_id)
        assert relation.properties["support"] == 1


def test_contract_add_node(make_store) -> None:
    graph = MemoryPropertyGraphStore(make_store())
    graph.upsert_llama_nodes([TextNode(id_="n1", text="n1"), TextNode(id_="n2", text="n2")])
    assert _chunks(graph) == ["n1", "n2"]


def test_contract_delete_node_by_node_ids(make_store) -> None:
    graph = MemoryPropertyGraphStore(make_store())
    graph.upsert_llama_nodes([TextNode(id_="n1", text="n1"), TextNode(id_="n2", text="n2")])
    graph.delete_llama_nodes(node_ids=["n1"])
    assert _chunks(graph) == ["n2"]


def test_contract_delete_node_by_ref_doc_ids(make_store) -> None:
    def sourced(ref: str) -> TextNode:
        return TextNode(id_="n1", text="n1", relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=ref)})

    graph = MemoryPropertyGraphStore(make_store("first"))
    graph.upsert_llama_nodes([sourced("n2"), TextNode(id_="n2", text="n2")])
    graph.delete_llama_nodes(ref_doc_ids=["n2"])  # n1 comes from n2, and n2 is the document itself
    assert _chunks(graph) == []

    graph = MemoryPropertyGraphStore(make_store("second"))
    graph.upsert_llama_nodes([sourced("n3"), TextNode(id_="n2", text="n2")])
    graph.delete_llama_nodes(ref_doc_ids=["n3"])
    assert _chunks(graph) == ["n2"]


def test_contract_get_nodes(make_store) -> None:
    graph = MemoryPropertyGraphStore(make_store())
    n1 = TextNode(id_="n1", text="n1", metadata={"topic": "a"},
                  relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="d1")})
    n2 = TextNode(id_="n2", text="n2")
    graph.upsert_llama_nodes([n1, n2])
    assert graph.get_llama_nodes(["n1", "n2"]) == [n1, n2]
    assert graph.get_llama_nodes(["n2", "missing"]) == [n2]


# -- properties, deletes and the rel map ------------------------------------------------------------

def test_entity_and_relation_properties_are_kept_and_searchable(make_store) -> None:
    graph = MemoryPropertyGraphStore(make_store())
    ada = EntityNode(name="Ada Lovelace", label="PERSON", properties={"born": 1815, "field": "maths"})
    engine = EntityNode(name="Analytical Engine", label="MACHINE", properties={"field": "computing"})
    graph.upsert_nodes([ada, engine, ChunkNode(text="Notes on the engine.", id_="notes", properties={"lang": "en"})])
    graph.upsert_relations([Relation(label="WROTE ABOUT", source_id=ada.id, target_id=engine.id,
                                     properties={"year": 1843})])
    [person] = graph.get(ids=["Ada Lovelace"])  # any spelling of the name finds the normalised entity
    assert (person.name, person.label, person.properties) == ("ada lovelace", "PERSON", ada.properties)
    assert [n.id for n in graph.get(properties={"field": "maths"})] == ["ada lovelace"]
    assert [n.id for n in graph.get(properties={"lang": "en"})] == ["notes"]
    assert graph.get(properties={"field": "maths", "born": 1900}) == []  # every property must match
    by_relation = graph.get_triplets(properties={"year": 1843})
    assert _names(by_relation) == {("ada lovelace", "wrote about", "analytical engine")}
    assert by_relation[0][1].properties["year"] == 1843 and by_relation[0][2].label == "MACHINE"
    assert _names(graph.get_triplets(properties={"field": "computing"})) == _names(by_relation)  # via the object
    assert graph.get_triplets(properties={"field": "physics"}) == []
    assert graph.get_triplets(entity_names=["ada lovelace"], relation_names=["unrelated"]) == []
    # an upsert replaces the node's label and properties
    graph.upsert_nodes([EntityNode(name="Ada Lovelace", label="WRITER", properties={"born": 1815})])
    assert [(n.label, n.properties) for n in graph.get(ids=["ada lovelace"])] == [("WRITER", {"born": 1815})]
    assert graph.get(properties={"field": "maths"}) == []


def test_delete_by_relation_names_entity_names_and_properties(make_store) -> None:
    store = make_store()
    store.ingest([{"id": "bio", "text": "Alice Varga was born in Lakeview."}])
    graph = MemoryPropertyGraphStore(store)
    stated = graph.get_triplets(entity_names=["Alice Varga"])
    born = next(r.label for s, r, o in stated if o.name == "lakeview")
    alice, lakeview = EntityNode(name="Alice Varga"), EntityNode(name="Lakeview")
    tom = EntityNode(name="Tom Reed", properties={"team": "red"})
    graph.upsert_nodes([alice, lakeview, tom])
    graph.upsert_relations([Relation(label=born, source_id=alice.id, target_id=lakeview.id),
                            Relation(label="knows", source_id=tom.id, target_id=alice.id, properties={"since": 2001}),
                            Relation(label="visited", source_id=tom.id, target_id=lakeview.id)])
    assert [r.properties["support"] for _, r, _ in graph.get_triplets(relation_names=[born])] == [2]
    graph.delete(relation_names=[born])  # stated by the passage and by the graph API: both go
    assert graph.get_triplets(relation_names=[born]) == []
    assert "bio" in store and graph.get(ids=["alice varga", "lakeview"]) != []  # nodes stay
    graph.delete(properties={"since": 2001})  # the relation carrying it
    assert graph.get_triplets(relation_names=["knows"]) == []
    assert _names(graph.get_triplets(entity_names=["tom reed"])) == {("tom reed", "visited", "lakeview")}
    graph.delete(properties={"team": "red"})  # the node carrying it, with its relations
    assert graph.get(ids=["tom reed"]) == [] and graph.get_triplets(entity_names=["tom reed"]) == []
    graph.delete(entity_names=["Lakeview"])  # an entity passages mention: forget_entity, passages stay
    assert graph.get(ids=["lakeview"]) == [] and "bio" in store
    graph.delete(entity_names=["nobody"], ids=["missing"])  # unknown: nothing happens
    assert check_store(store) == []


def test_get_rel_map(make_store) -> None:
    graph = MemoryPropertyGraphStore(make_store())
    chain = [EntityNode(name=n) for n in ("Aa", "Bb", "Cc", "Dd")]
    graph.upsert_nodes(chain)
    graph.upsert_relations([Relation(label="next", source_id=a.id, target_id=b.id) for a, b in zip(chain, chain[1:])]
                           + [Relation(label="skip", source_id="aa", target_id="cc")])
    assert _names(graph.get_rel_map([chain[0]], depth=1)) == {("aa", "next", "bb"), ("aa", "skip", "cc")}
    assert _names(graph.get_rel_map([chain[0]], depth=2)) == {
        ("aa", "next", "bb"), ("aa", "skip", "cc"), ("bb", "next", "cc"), ("cc", "next", "dd")}
    assert _names(graph.get_rel_map([chain[0]], depth=3, ignore_rels=["SKIP"])) == {
        ("aa", "next", "bb"), ("bb", "next", "cc"), ("cc", "next", "dd")}
    assert len(graph.get_rel_map([chain[0]], depth=3, limit=2)) == 2


def test_bad_nodes_and_relations(make_store) -> None:
    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    with pytest.raises(InvalidFactError):
        graph.upsert_nodes([EntityNode(name="Fine"), EntityNode(name="!!!")])
    assert len(store) == 0  # nothing written
    with pytest.raises(InvalidFactError):
        graph.upsert_relations([Relation(label="r", source_id="fine", target_id="?")])
    graph.upsert_relations([Relation(label="is", source_id="Self", target_id="self")])  # a loop: skipped
    assert len(store) == 0 and graph.get_triplets(entity_names=["self"]) == []


# -- forgetting through the adapter ----------------------------------------------------------------

def test_forgetting_through_the_adapter_leaves_nothing(make_store) -> None:
    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    graph.upsert_llama_nodes([TextNode(id_="keep", text="Harrow is a town in London.")])
    vexor, quill = EntityNode(name="Vexorblind", properties={"code": "Kravantic"}), EntityNode(name="Harrow")
    graph.upsert_nodes([vexor, quill, ChunkNode(text="Zelmodrac wrote it.", id_="zel", properties={"x": "Plimsk"})])
    graph.upsert_relations([Relation(label="orbits", source_id=vexor.id, target_id=quill.id,
                                     properties={"note": "Thrandolix"})])
    assert "vexorblind" in _dump_text(store)
    graph.delete(entity_names=["Vexorblind"])
    graph.delete(ids=["zel"])
    text = _dump_text(store)
    for canary in ("vexorblind", "kravantic", "thrandolix", "orbits", "zelmodrac", "plimsk"):
        assert canary not in text
    assert graph.get(ids=["harrow"]) != [] and "keep" in store
    assert check_store(store) == []


def test_delete_llama_nodes_is_exact(make_store) -> None:
    """Index A and B, delete B's nodes == index A alone (the store's forgetting contract)."""
    a1 = TextNode(id_="a1", text="Quorblax Mining is based in Velmora.", metadata={"topic": "mining"},
                  relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="A")})
    b1 = TextNode(id_="b1", text="Zentrik Foods is owned by Quorblax Mining.", metadata={"topic": "food"},
                  relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="B")})
    table = {"a1": [["Quorblax Mining", "based in", "Velmora"]],
             "b1": [["Zentrik Foods", "owned by", "Quorblax Mining"], ["Zentrik Foods", "based in", "Velmora"]]}
    both = MemoryPropertyGraphStore(make_store("both"))
    _index(both, [a1.model_copy(deep=True), b1.model_copy(deep=True)], table)
    found = both.get_triplets(properties={TRIPLET_SOURCE_KEY: "b1"})
    assert ("zentrik foods", "owned by", "quorblax mining") in _names(found)
    assert {r.properties["topic"] for _, r, _ in found if r.properties.get(TRIPLET_SOURCE_KEY) == "b1"} == {"food"}
    assert [n.text for n in both.get_llama_nodes(["a1", "b1"])] == [a1.text, b1.text]
    both.delete_llama_nodes(ref_doc_ids=["B"])
    alone = MemoryPropertyGraphStore(make_store("alone"))
    _index(alone, [a1.model_copy(deep=True)], table)
    assert canonical_dump(both.store) == canonical_dump(alone.store)
    assert "zentrik" not in _dump_text(both.store) and check_store(both.store) == []
    assert _names(both.get_triplets(entity_names=["velmora"])) >= {("quorblax mining", "based in", "velmora")}


# -- the retriever and PropertyGraphIndex -----------------------------------------------------------

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


def test_retriever_leaves_out_node_documents(make_store) -> None:
    store = make_store()
    store.ingest(BRIDGE_CORPUS)
    graph = MemoryPropertyGraphStore(store)
    graph.upsert_nodes([EntityNode(name="Lakeview", label="PLACE"), EntityNode(name="Norland", label="PLACE")])
    assert any(h.doc_id.startswith("lpg-node/") for h in store.retrieve("Lakeview", top_k=3, mode="dense"))
    for mode in ("dense", "hipporag"):
        ids = [n.node.node_id for n in MemoryRetriever(store, top_k=3, mode=mode).retrieve("Lakeview")]
        assert ids and not any(i.startswith("lpg-node/") for i in ids)
    graph.upsert_llama_nodes([TextNode(id_="c1", text="Lakeview has a harbour.",
                                       relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="guide")})])
    hits = MemoryRetriever(store, top_k=2, mode="bm25", where={"ref_doc_id": "guide"}).retrieve("Lakeview harbour")
    assert [(n.node.node_id, n.node.ref_doc_id) for n in hits] == [("c1", "guide")]


def test_property_graph_store_round_trip(make_store, tmp_path) -> None:
    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    chunk = ChunkNode(text="Alice Varga was born in Lakeview.", id_="alice")
    llama, index = EntityNode(name="Llama", label="ANIMAL"), EntityNode(name="Index", label="THING")
    graph.upsert_nodes([chunk, llama, index])
    graph.upsert_relations([Relation(label="HAS", source_id=llama.id, target_id=index.id)])
    assert [n.id for n in graph.get(ids=["alice"])] == ["alice"]
    triplets = graph.get_triplets(entity_names=["Llama"])
    assert [(s.name, s.label, r.label, o.name) for s, r, o in triplets] == [("llama", "ANIMAL", "has", "index")]
    assert triplets[0][1].properties["support"] == 1
    assert ("alice varga", "bear in", "lakeview") in _names(graph.get_rel_map([EntityNode(name="Lakeview")], depth=1))
    assert graph.get_llama_nodes(["alice"])[0].text == chunk.text
    graph.persist(str(tmp_path / "dump.jsonl"))
    assert "llama" in (tmp_path / "dump.jsonl").read_text()
    graph.delete(relation_names=["has"])
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
    assert ("alice varga", "bear in", "lakeview") in _names(triplets)
    graph.delete_llama_nodes(ref_doc_ids=["d1"])
    assert len(store) == 0 and check_store(store) == []


def test_property_graph_index_with_extracted_entities(make_store) -> None:
    store = make_store()
    graph = MemoryPropertyGraphStore(store)
    node = TextNode(id_="c1", text="Mira Solberg founded Tidewater Labs.", metadata={"year": 2011})
    index = _index(graph, [node.model_copy(deep=True)], {"c1": [["Mira Solberg", "founded", "Tidewater Labs"]]})
    [(subject, relation, obj)] = graph.get_triplets(relation_names=["founded"], properties={TRIPLET_SOURCE_KEY: "c1"})
    assert subject.properties == {"year": 2011, TRIPLET_SOURCE_KEY: "c1"} and relation.properties["year"] == 2011
    count = len(store)
    index.insert_nodes([node.model_copy(deep=True)])  # the same node again: a no-op
    assert len(store) == count and graph.get_llama_nodes(["c1"]) == [node]
    graph.delete(ids=["c1"])  # the chunk, with the node and relation documents derived from it
    assert len(store) == 0 and graph.get(ids=["mira solberg"]) == [] and check_store(store) == []
