"""llama-index adapters over a :class:`memory.MemoryStore` (extra ``[llama-index]``).

- :class:`MemoryRetriever`: a ``BaseRetriever`` returning ``NodeWithScore`` from the
  store's retrieval (HippoRAG PPR by default), usable in ``RetrieverQueryEngine``.
- :class:`MemoryPropertyGraphStore`: a ``PropertyGraphStore`` over the store's graph, so
  that ``PropertyGraphIndex`` can read and write it. Entities are ``EntityNode``s named
  by the store's (normalised) entity names, passages are ``ChunkNode``s with the
  document id, facts are ``Relation``s. Writes go through the store's own paths:
  a chunk is ingested (and extracted) as a document; a relation is stored as a fact
  with its own source document ``lpg/<hash>``; ``delete`` is the store's ``forget``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.graph_stores.types import (
    ChunkNode,
    EntityNode,
    LabelledNode,
    PropertyGraphStore,
    Relation,
)
from llama_index.core.schema import BaseNode, NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from ..dump import dump_lines
from ..errors import UnknownEntityError
from ..extract import normalize_phrase, normalize_relation
from ..store import MemoryStore

__all__ = ["MemoryRetriever", "MemoryPropertyGraphStore"]

_ENTITY_LABEL = "entity"


class MemoryRetriever(BaseRetriever):
    """Retrieve passages from a :class:`memory.MemoryStore` as llama-index nodes.

    Parameters
    ----------
    store : MemoryStore
    top_k : int
        Passages per query.
    mode : str
        A retrieval mode of :meth:`memory.MemoryStore.retrieve`.
    as_of : date or str, optional
        Answer as of this date.
    explain : bool
        Put each hit's explanation (seeds and graph paths) in the node's metadata.
    """

    def __init__(self, store: MemoryStore, top_k: int = 5, mode: str = "hipporag", as_of: Any = None,
                 explain: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._memory = store
        self._top_k, self._mode, self._as_of, self._explain = top_k, mode, as_of, explain

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        hits = self._memory.retrieve(query_bundle.query_str, top_k=self._top_k, mode=self._mode,
                                     as_of=self._as_of, explain=self._explain)
        out = []
        for hit in hits:
            metadata: Dict[str, Any] = {"title": hit.title, "rank": hit.rank, "mode": hit.mode}
            if self._explain:
                metadata["explanation"] = hit.explain().to_dict()
            stored = self._memory.get(hit.doc_id)
            source = str(stored.metadata.get("source") or hit.doc_id.split("#")[0])
            node = TextNode(id_=hit.doc_id, text=hit.text, metadata=metadata,
                            excluded_llm_metadata_keys=["explanation", "rank", "mode"],
                            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=source)})
            out.append(NodeWithScore(node=node, score=hit.score))
        return out

    async def _aretrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        """:meth:`_retrieve` in a worker thread, behind the store's gate (:mod:`memory.aio`),
        so an async query engine's event loop is never blocked."""
        from ..aio import AsyncMemoryStore

        return await AsyncMemoryStore(self._memory).run(lambda store: self._retrieve(query_bundle))


def _relation_doc_id(subject: str, label: str, obj: str) -> str:
    digest = hashlib.sha256("\x1f".join((subject, label, obj)).encode()).hexdigest()[:20]
    return f"lpg/{digest}"


class MemoryPropertyGraphStore(PropertyGraphStore):
    """A llama-index ``PropertyGraphStore`` backed by a :class:`memory.MemoryStore`.

    ``structured_query`` (Cypher) is not supported; ``vector_query`` embeds
    ``query.query_str`` with the store's own encoder and searches its entity index
    (the store cannot read vectors from another model).
    """

    supports_structured_queries: bool = False
    supports_vector_queries: bool = False

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _entity(name: str) -> EntityNode:
        return EntityNode(name=name, label=_ENTITY_LABEL)

    def get(self, properties: Optional[dict] = None, ids: Optional[List[str]] = None) -> List[LabelledNode]:
        """Entities (by name) and passages (by document id) with these ids; all entities
        when no ids are given. ``properties`` filters on a passage's metadata."""
        nodes: List[LabelledNode] = []
        if ids is None:
            with self.store.view() as view:
                names = sorted(view.storage.graph.all_entities().values())
            return [self._entity(n) for n in names] if not properties else []
        with self.store.view() as view:
            known = view.storage.graph.entity_keys([normalize_phrase(i) for i in ids])
        for node_id in ids:
            name = normalize_phrase(node_id)
            if name in known:
                nodes.append(self._entity(name))
            elif node_id in self.store:
                doc = self.store.get(node_id)
                if all(doc.metadata.get(k) == v for k, v in (properties or {}).items()):
                    nodes.append(ChunkNode(text=doc.text, id_=doc.id,
                                           properties={"title": doc.title, **doc.metadata}))
        return nodes

    def get_llama_nodes(self, node_ids: List[str]) -> List[BaseNode]:
        """The stored passages with these document ids, as ``TextNode``s."""
        return [TextNode(id_=doc.id, text=doc.text, metadata={"title": doc.title, **doc.metadata})
                for doc in (self.store.get(i) for i in node_ids if i in self.store)]

    def get_triplets(self, entity_names: Optional[List[str]] = None, relation_names: Optional[List[str]] = None,
                     properties: Optional[dict] = None, ids: Optional[List[str]] = None
                     ) -> List[Tuple[LabelledNode, Relation, LabelledNode]]:
        """Facts touching the named entities (or ids), optionally of the given relations."""
        names = {normalize_phrase(n) for n in (entity_names or []) + (ids or [])}
        relations = {normalize_relation(r) for r in relation_names or []}
        if not names and not relations:
            return []
        with self.store.view() as view:
            rows = view.storage.graph.triples(sorted(names) if names else None)
        return [self._triplet(row) for row in rows
                if (not names or row[0] in names or row[2] in names) and (not relations or row[1] in relations)
                and all(self._fact_properties(row).get(k) == v for k, v in (properties or {}).items())]

    @staticmethod
    def _fact_properties(row: Sequence[Any]) -> Dict[str, Any]:
        return {"valid_from": row[3], "valid_to": row[4], "support": row[5]}

    def _triplet(self, row: Sequence[Any]) -> Tuple[LabelledNode, Relation, LabelledNode]:
        subject, obj = self._entity(row[0]), self._entity(row[2])
        return (subject, Relation(label=row[1], source_id=subject.id, target_id=obj.id,
                                  properties=self._fact_properties(row)), obj)

    def get_rel_map(self, graph_nodes: List[LabelledNode], depth: int = 2, limit: int = 30,
                    ignore_rels: Optional[List[str]] = None) -> List[Tuple[LabelledNode, Relation, LabelledNode]]:
        """Facts reachable from the nodes within ``depth`` hops (breadth first, at most ``limit``)."""
        ignored = {normalize_relation(r) for r in ignore_rels or []}
        frontier = {normalize_phrase(n.id) for n in graph_nodes}
        seen_nodes, seen_facts = set(frontier), set()
        out: List[Tuple[LabelledNode, Relation, LabelledNode]] = []
        for _ in range(depth):
            next_frontier: set[str] = set()
            if not frontier:
                break
            with self.store.view() as view:
                rows = view.storage.graph.triples(sorted(frontier))
            for row in rows:
                if row[1] in ignored or row[:3] in seen_facts:
                    continue
                seen_facts.add(row[:3])
                out.append(self._triplet(row))
                if len(out) >= limit:
                    return out
                next_frontier |= {row[0], row[2]} - seen_nodes
            seen_nodes |= next_frontier
            frontier = next_frontier
        return out

    def structured_query(self, query: str, param_map: Optional[Dict[str, Any]] = None) -> Any:
        """Not supported: the store has no query language."""
        raise NotImplementedError("MemoryPropertyGraphStore does not run Cypher; use get_triplets or "
                                  "the store's retrieve()")

    def vector_query(self, query: VectorStoreQuery, **kwargs: Any) -> Tuple[List[LabelledNode], List[float]]:
        """The entities nearest to ``query.query_str`` by the store's own encoder."""
        if not query.query_str:
            return [], []
        vector = self.store.core.models.embedder.encode([query.query_str], "query")
        with self.store.view() as view:
            scores, ids = view.derived.vectors["entity"].search(vector, query.similarity_top_k)
            names = view.storage.graph.entity_names({int(i) for i in ids[0] if i >= 0})
        pairs = [(self._entity(names[int(i)]), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    # -- writes --------------------------------------------------------------------------

    def upsert_nodes(self, nodes: Sequence[LabelledNode]) -> None:
        """Ingest chunks as documents (one transaction); entities need a relation to be stored."""
        chunks = [n for n in nodes if isinstance(n, ChunkNode)]
        if chunks:
            # llama-index's own serialisation keys (_node_content, _node_type) are not kept
            self.store.ingest([{"id": c.id, "text": c.text,
                                "metadata": {k: v for k, v in c.properties.items() if not k.startswith("_node")}}
                               for c in chunks])

    def upsert_relations(self, relations: List[Relation]) -> None:
        """Store each relation between entities as a fact with its own source document (one
        transaction); relations that link passages are left to the store's own provenance."""
        docs, facts = [], []
        for relation in relations:
            subject, obj = relation.source_id, relation.target_id
            if subject in self.store or obj in self.store:
                continue  # chunk structure (SOURCE, NEXT, ...): the store tracks passages itself
            docs.append({"id": _relation_doc_id(normalize_phrase(subject), normalize_relation(relation.label),
                                                normalize_phrase(obj)),
                         "text": f"{subject} {relation.label} {obj}."})
            facts.append([(subject, relation.label, obj)])
        if docs:
            self.store.ingest(docs, facts=facts)

    def delete(self, entity_names: Optional[List[str]] = None, relation_names: Optional[List[str]] = None,
               properties: Optional[dict] = None, ids: Optional[List[str]] = None) -> None:
        """Forget: entities (with their facts), every fact of the named relations, and
        documents or entities by id. Unknown names are skipped."""
        for name in entity_names or []:
            self._forget_entity(name)
        relations = {normalize_relation(r) for r in relation_names or []}
        with self.store.view() as view:
            triples = view.storage.graph.triples() if relations else []
        for subject, relation, obj, *_ in triples:
            if relation in relations:
                self.store.forget_fact(subject, relation, obj)
        documents = [i for i in ids or [] if i in self.store]
        if documents:
            self.store.forget(ids=documents)
        for node_id in set(ids or []) - set(documents):
            self._forget_entity(node_id)

    def _forget_entity(self, name: str) -> None:
        try:
            self.store.forget_entity(name)
        except UnknownEntityError:
            pass

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """The store persists every write itself; this writes its canonical dump to ``persist_path``."""
        Path(persist_path).write_text("".join(line + "\n" for line in dump_lines(self.store)), encoding="utf-8")

    def get_schema(self, refresh: bool = False) -> str:
        """The relation labels in use."""
        with self.store.view() as view:
            return ", ".join(view.storage.graph.relations())
