"""``MemoryPropertyGraphStore``: a llama-index ``PropertyGraphStore`` whose every write is a document."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from llama_index.core.graph_stores.types import (
    ChunkNode,
    EntityNode,
    LabelledNode,
    PropertyGraphStore,
    Relation,
    Triplet,
)
from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from ...documents import coerce_documents
from ...dump import dump_lines
from ...errors import InvalidFactError, UnknownDocumentError, UnknownEntityError
from ...extract import Extraction, normalize_phrase, normalize_relation
from ...ingest import write_documents
from ...store import MemoryStore
from .common import (
    ENTITY_LABEL,
    KIND_FIELD,
    NODE_PREFIX,
    RELATION_PREFIX,
    WHOLE,
    chunk_metadata,
    has_all,
    is_graph_document,
    loads,
    node_document_id,
    plain,
    ref_doc_of,
    relation_document_id,
    source_of,
)


__all__ = ["MemoryPropertyGraphStore"]

logger = logging.getLogger(__name__)


@dataclass
class _GraphDocuments:
    """The graph API's documents at one generation, parsed.

    ``entities`` maps an entity name to its node documents ``(id, label, properties)``
    in merge order (sourced ones by source id, then the direct upsert, which wins);
    ``relations`` maps a triple to its relation documents ``(id, properties)``;
    ``properties`` maps every graph document id to its properties.
    """

    entities: Dict[str, List[Tuple[str, str, Dict[str, Any]]]] = field(default_factory=dict)
    relations: Dict[Tuple[str, str, str], List[Tuple[str, Dict[str, Any]]]] = field(default_factory=dict)
    properties: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def node(self, name: str) -> Tuple[str, Dict[str, Any]]:
        """The entity's label and properties, merged over its node documents."""
        label, merged = ENTITY_LABEL, {}
        for _, node_label, properties in self.entities.get(name, []):
            label = node_label or label
            merged.update(properties)
        return label, copy.deepcopy(merged)

    def entities_with(self, wanted: Mapping[str, Any]) -> Set[str]:
        """Entities one of whose node documents carries every property in ``wanted``."""
        return {name for name, docs in self.entities.items() if any(has_all(p, wanted) for _, _, p in docs)}


class MemoryPropertyGraphStore(PropertyGraphStore):
    """A llama-index ``PropertyGraphStore`` backed by a :class:`memory.MemoryStore`.

    ``structured_query`` (Cypher) is not supported; ``vector_query`` embeds
    ``query.query_str`` with the store's own encoder and searches its entity index
    (the store cannot read vectors from another model). Property filters match when
    a node or relation carries every given property (``properties`` of an entity are
    those of its node documents, merged).

    Parameters
    ----------
    store : MemoryStore
        The store that holds everything (the adapter keeps only a parsed cache of its
        graph documents, valid for one store generation).

    Examples
    --------
    >>> graph = MemoryPropertyGraphStore(store)  # doctest: +SKIP
    >>> graph.upsert_nodes([EntityNode(name="Llama", properties={"kind": "animal"})])  # doctest: +SKIP
    >>> graph.get(properties={"kind": "animal"})  # doctest: +SKIP
    [EntityNode(label='entity', embedding=None, properties={'kind': 'animal'}, name='llama')]
    """

    supports_structured_queries: bool = False
    supports_vector_queries: bool = False

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._cache: Optional[Tuple[int, _GraphDocuments]] = None

    @property
    def client(self) -> MemoryStore:
        """The :class:`memory.MemoryStore` underneath."""
        return self.store

    # -- reading the graph documents ---------------------------------------------------------------

    def _graph(self, view: Any) -> _GraphDocuments:
        """The graph documents at the view's generation (parsed once per generation)."""
        cached = self._cache
        if cached is not None and cached[0] == view.generation:
            return cached[1]
        graph = _GraphDocuments()
        sourced: Dict[str, List[Tuple[Tuple[int, str, str], Tuple[str, str, Dict[str, Any]]]]] = {}
        for doc_id, raw in view.storage.documents.with_id_prefix(NODE_PREFIX):
            metadata = loads(raw)
            properties = metadata.get("properties") if isinstance(metadata.get("properties"), dict) else {}
            graph.properties[doc_id] = properties
            if metadata.get(KIND_FIELD) == "entity" and isinstance(metadata.get("name"), str):
                source = source_of(properties)
                order = (0, source, doc_id) if source else (1, "", doc_id)
                sourced.setdefault(metadata["name"], []).append(
                    (order, (doc_id, str(metadata.get("label") or ENTITY_LABEL), properties)))
        graph.entities = {name: [doc for _, doc in sorted(docs, key=lambda d: d[0])] for name, docs in sourced.items()}
        for doc_id, raw in view.storage.documents.with_id_prefix(RELATION_PREFIX):
            metadata = loads(raw)  # documents of older versions have no metadata: plain facts
            properties = metadata.get("properties") if isinstance(metadata.get("properties"), dict) else {}
            graph.properties[doc_id] = properties
            triple = tuple(metadata.get(k) for k in ("subject", "relation", "object"))
            if metadata.get(KIND_FIELD) == "relation" and all(isinstance(t, str) for t in triple):
                graph.relations.setdefault(triple, []).append((doc_id, properties))  # type: ignore[arg-type]
        self._cache = (view.generation, graph)
        return graph

    def _entity(self, name: str, graph: _GraphDocuments) -> EntityNode:
        label, properties = graph.node(name)
        return EntityNode(name=name, label=label, properties=properties)

    @staticmethod
    def _chunk(doc_id: str, title: str, text: str, raw: str) -> ChunkNode:
        metadata = loads(raw)
        properties = {"title": title, **metadata} if title and "_node_content" not in metadata else metadata
        return ChunkNode(text=text, id_=doc_id, properties=properties)

    @staticmethod
    def _llama_node(doc_id: str, title: str, text: str, raw: str) -> BaseNode:
        metadata = loads(raw)
        if "_node_content" in metadata:
            try:
                return metadata_dict_to_node(metadata, text=text)
            except (ValueError, TypeError) as exc:
                logger.warning("document %s: llama-index node data not readable (%s); returned as text", doc_id, exc)
        own = {k: v for k, v in metadata.items() if not k.startswith("_node")}
        return TextNode(id_=doc_id, text=text, metadata={"title": title, **own},
                        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=ref_doc_of(doc_id, own))})

    # -- reads -------------------------------------------------------------------------------------

    def get(self, properties: Optional[dict] = None, ids: Optional[List[str]] = None) -> List[LabelledNode]:
        """Nodes with these ids (entity names or document ids) and all these properties.

        With neither, every entity and every passage. Entities come as ``EntityNode``s
        with the label and properties of their node documents, passages as
        ``ChunkNode``s whose properties are the document's metadata (and title).
        """
        wanted = dict(properties or {})
        with self.store.view() as view:
            graph, documents = self._graph(view), view.storage.documents
            if ids is None:
                names = sorted(view.storage.graph.all_entities().values())
                if wanted:
                    carrying = graph.entities_with(wanted)
                    names = [n for n in names if n in carrying]
                    rest = {k: v for k, v in wanted.items() if k != "title"}
                    keys = [k for k, raw in documents.all_metadata() if has_all(loads(raw), rest)]
                else:
                    keys = documents.all_keys()
                rows = sorted(documents.by_key(keys).values())
                entities = [self._entity(n, graph) for n in names]
                chunks = [self._chunk(*row) for row in rows if not is_graph_document(row[0])]
                nodes: List[LabelledNode] = [*entities, *chunks]
            else:
                asked = list(dict.fromkeys(i for i in ids if isinstance(i, str)))
                stored = documents.keys_of(asked)
                rows = documents.by_key(stored.values())
                known = view.storage.graph.entity_keys(normalize_phrase(i) for i in asked)
                nodes, seen = [], set()
                for node_id in asked:
                    if node_id in stored and not is_graph_document(node_id):
                        nodes.append(self._chunk(*rows[stored[node_id]]))
                    name = normalize_phrase(node_id)
                    if name in known and name not in seen:
                        seen.add(name)
                        nodes.append(self._entity(name, graph))
        if wanted:
            matching = graph.entities_with(wanted)
            nodes = [n for n in nodes if (n.name in matching if isinstance(n, EntityNode)
                                          else has_all(n.properties, wanted))]
        return nodes

    def get_llama_nodes(self, node_ids: List[str]) -> List[BaseNode]:
        """The stored passages with these ids, as the llama-index nodes they were upserted as
        (passages ingested otherwise come as ``TextNode``s with their metadata and title)."""
        asked = list(dict.fromkeys(i for i in node_ids if isinstance(i, str) and not is_graph_document(i)))
        with self.store.view() as view:
            stored = view.storage.documents.keys_of(asked)
            rows = view.storage.documents.by_key(stored.values())
        return [self._llama_node(*rows[stored[i]]) for i in asked if i in stored]

    def get_triplets(self, entity_names: Optional[List[str]] = None, relation_names: Optional[List[str]] = None,
                     properties: Optional[dict] = None, ids: Optional[List[str]] = None) -> List[Triplet]:
        """Triplets matching every given filter; none without a filter.

        ``entity_names`` / ``ids``: the subject or the object is one of them;
        ``relation_names``: the relation is one of them; ``properties``: the subject, the
        relation or the object carries all of them. A fact the graph API stated comes
        once per relation document (each with its properties), other facts once; a
        relation's properties also hold the fact's ``valid_from``, ``valid_to`` and
        ``support`` (its number of source documents).
        """
        with self.store.view() as view:
            return self._select(view, entity_names, relation_names, properties, ids)

    def _select(self, view: Any, entity_names: Optional[List[str]], relation_names: Optional[List[str]],
                properties: Optional[dict], ids: Optional[List[str]]) -> List[Triplet]:
        """The triplets matching every given filter, read in ``view``."""
        graph = self._graph(view)
        groups = [{normalize_phrase(n) for n in group if isinstance(n, str)} for group in (entity_names, ids) if group]
        relations = {normalize_relation(r) for r in relation_names or [] if isinstance(r, str)}
        wanted = dict(properties or {})
        if groups:
            names: Optional[Set[str]] = set().union(*groups)
        elif wanted:
            names = graph.entities_with(wanted) | {
                name for (s, _, o), docs in graph.relations.items() if any(has_all(p, wanted) for _, p in docs)
                for name in (s, o)}
        elif relations:
            names = None  # every fact, filtered by relation below
        else:
            return []
        if names is not None and not names:
            return []
        rows = view.storage.graph.triples(sorted(names) if names is not None else None)
        carrying = graph.entities_with(wanted) if wanted else set()
        out = []
        for triplet in self._triplets(rows, graph):
            subject, relation, obj = triplet
            ends = {subject.name, obj.name}  # type: ignore[attr-defined]
            if any(not ends & g for g in groups):
                continue
            if relations and relation.label not in relations:
                continue
            if wanted and not (has_all(relation.properties, wanted) or ends & carrying):
                continue
            out.append(triplet)
        return out

    def _triplets(self, rows: Iterable[Sequence[Any]], graph: _GraphDocuments) -> List[Triplet]:
        """Fact rows of ``triples()`` as triplets: one per relation document of the fact, else one."""
        out: List[Triplet] = []
        for subject_name, relation, object_name, valid_from, valid_to, support in rows:
            subject, obj = self._entity(subject_name, graph), self._entity(object_name, graph)
            facts = {"valid_from": valid_from, "valid_to": valid_to, "support": support}
            stated = (graph.relations.get((subject_name, relation, object_name), [])
                      if valid_from is None and valid_to is None else [])
            for _, properties in stated or [("", {})]:
                edge = Relation(label=relation, source_id=subject.id, target_id=obj.id,
                                properties={**facts, **copy.deepcopy(properties)})
                out.append((subject, edge, obj))
        return out

    def get_rel_map(self, graph_nodes: List[LabelledNode], depth: int = 2, limit: int = 30,
                    ignore_rels: Optional[List[str]] = None) -> List[Triplet]:
        """Triplets reachable from the entity nodes within ``depth`` hops (breadth first,
        either direction, at most ``limit``), skipping the ``ignore_rels`` relations."""
        ignored = {normalize_relation(r) for r in ignore_rels or []}
        frontier = {normalize_phrase(n.id) for n in graph_nodes if not isinstance(n, ChunkNode)} - {""}
        seen_nodes, seen_rows = set(frontier), set()
        out: List[Triplet] = []
        with self.store.view() as view:
            graph = self._graph(view)
            for _ in range(depth):
                if not frontier:
                    break
                next_frontier: Set[str] = set()
                for row in view.storage.graph.triples(sorted(frontier)):
                    if row[1] in ignored or row in seen_rows:
                        continue
                    seen_rows.add(row)
                    for triplet in self._triplets([row], graph):
                        out.append(triplet)
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
            graph = self._graph(view)
        pairs = [(self._entity(names[int(i)], graph), float(s)) for s, i in zip(scores[0], ids[0])
                 if i >= 0 and int(i) in names]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    # -- writes ------------------------------------------------------------------------------------

    def upsert_nodes(self, nodes: Sequence[LabelledNode]) -> None:
        """Chunks are ingested (and extracted) as documents, in one transaction; entity nodes
        become node documents holding their label and properties, in another.

        Raises
        ------
        InvalidDocumentError
            A chunk the store refuses (see :meth:`memory.MemoryStore.ingest`); an entity
            name without letters or digits is an ``InvalidFactError``. Nothing is written.
        """
        chunks = [n for n in nodes if isinstance(n, ChunkNode)]
        entities: Dict[str, Dict[str, Any]] = {}
        for node in nodes:
            if isinstance(node, ChunkNode):
                continue
            raw = node.name if isinstance(node, EntityNode) else str(node.id)
            name = normalize_phrase(raw) if isinstance(raw, str) else ""
            if not name:
                raise InvalidFactError(f"entity node {raw!r}: the name has no letters or digits")
            properties = plain(node.properties)
            doc_id = node_document_id(name, source_of(properties))
            entities[doc_id] = {"id": doc_id, "text": raw, "metadata": {
                KIND_FIELD: "entity", "name": name, "label": str(node.label), "properties": properties}}
        documents = coerce_documents(list(entities.values())) if entities else []
        if chunks:
            self.store.ingest([{"id": c.id, "text": c.text, "metadata": chunk_metadata(c.properties)}
                               for c in chunks], split=WHOLE)
        if documents:
            stated = [Extraction.build([d.metadata["name"]], []) for d in documents]
            write_documents(self.store.core, "ingest", documents, stated)

    def upsert_relations(self, relations: List[Relation]) -> None:
        """Store each relation between entities as a fact with its own source document
        (one transaction) holding the relation's properties.

        Relations that link passages (``SOURCE``, ``NEXT``, ...) are left to the store's own
        provenance; a relation from an entity to itself, which the store cannot hold, is
        skipped with a warning.

        Raises
        ------
        InvalidFactError
            A name or label without letters or digits; nothing is written.
        """
        ends = {end for r in relations for end in (r.source_id, r.target_id)}
        with self.store.view() as view:
            passages = set(view.storage.documents.keys_of(ends))
        documents: Dict[str, Tuple[Dict[str, Any], List[Tuple[str, str, str]]]] = {}
        for relation in relations:
            subject, obj = relation.source_id, relation.target_id
            if subject in passages or obj in passages:
                continue  # chunk structure: the store tracks passages itself
            names = (normalize_phrase(subject), normalize_relation(relation.label), normalize_phrase(obj))
            if names[0] and names[0] == names[2]:
                logger.warning("relation %r from an entity to itself: not stored", relation.label)
                continue
            properties = plain(relation.properties)
            doc_id = relation_document_id(*names, source_of(properties))
            metadata = {KIND_FIELD: "relation", "subject": names[0], "relation": names[1], "object": names[2],
                        "properties": properties}
            documents[doc_id] = ({"id": doc_id, "text": f"{subject} {relation.label} {obj}.", "metadata": metadata},
                                 [(subject, relation.label, obj)])
        if documents:
            self.store.ingest([d for d, _ in documents.values()], split=WHOLE,
                              facts=[f for _, f in documents.values()])

    def delete(self, entity_names: Optional[List[str]] = None, relation_names: Optional[List[str]] = None,
               properties: Optional[dict] = None, ids: Optional[List[str]] = None) -> None:
        """Forget what matches every given filter; unknown names and ids are skipped.

        - With ``relation_names``: the matching triplets (as :meth:`get_triplets` finds
          them) are forgotten as facts: their relation documents, then ``forget_fact``
          for what passages still state. Nodes stay.
        - Otherwise the nodes named by ``entity_names`` and ``ids`` (restricted to those
          with ``properties``), or, with ``properties`` alone, every node and relation
          document carrying them. A passage is forgotten with the graph documents derived
          from it; an entity with its node documents and the relation documents naming
          it, then ``forget_entity`` if passages still mention it.
        """
        if relation_names:
            with self.store.view() as view:
                found = self._select(view, entity_names, relation_names, properties, ids)
            self._forget_facts({(s.name, r.label, o.name) for s, r, o in found})  # type: ignore[attr-defined]
            return
        wanted = dict(properties or {})
        with self.store.view() as view:
            graph, documents = self._graph(view), view.storage.documents
            if entity_names or ids:
                asked = [n for n in (entity_names or []) + (ids or []) if isinstance(n, str)]
                names = {normalize_phrase(n) for n in asked} - {""}
                names = set(view.storage.graph.entity_keys(names)) | (names & set(graph.entities))
                stored = documents.keys_of(i for i in ids or [] if isinstance(i, str))
                if wanted:
                    names &= graph.entities_with(wanted)
                    rows = documents.by_key(stored.values())
                    stored = {i: k for i, k in stored.items() if has_all(self._chunk(*rows[k]).properties, wanted)}
                doomed = set(stored)
            elif wanted:
                names = graph.entities_with(wanted)
                doomed = {d for d, p in graph.properties.items()
                          if d.startswith(RELATION_PREFIX) and has_all(p, wanted)}
                rest = {k: v for k, v in wanted.items() if k != "title"}
                keys = [k for k, raw in documents.all_metadata() if has_all(loads(raw), rest)]
                doomed |= {row[0] for row in documents.by_key(keys).values()
                           if not is_graph_document(row[0]) and has_all(self._chunk(*row).properties, wanted)}
            else:
                return
        self._forget(doomed, names)

    def delete_llama_nodes(self, node_ids: Optional[List[str]] = None, ref_doc_ids: Optional[List[str]] = None) -> None:
        """Forget llama-index nodes: the passages with these ids, those whose source
        (``ref_doc_id``, or the document a passage was split from) is one of
        ``ref_doc_ids``, and the node and relation documents derived from any of them
        (``triplet_source_id``), in one transaction. Entities and facts other documents
        still support stay."""
        asked = [i for i in node_ids or [] if isinstance(i, str)]
        refs = sorted({i for i in ref_doc_ids or [] if isinstance(i, str)})
        with self.store.view() as view:
            documents = view.storage.documents
            doomed = set(documents.keys_of(asked + refs))
            for ref in refs:
                doomed |= {doc_id for _, doc_id in documents.passages_of(ref)}
            if refs:
                keys = [k for k, raw in documents.all_metadata() if loads(raw).get("ref_doc_id") in refs]
                doomed |= set(documents.ids(keys).values())
        self._forget(doomed, set(), sources=set(asked))

    def _forget(self, documents: Set[str], names: Set[str], sources: Optional[Set[str]] = None) -> None:
        """Forget documents with the graph documents derived from them (from them or from the
        ``sources`` chunk ids), and entities (see :meth:`delete`)."""
        with self.store.view() as view:
            graph, storage = self._graph(view), view.storage
            derived_from = set(sources or ()) | {d for d in documents if not is_graph_document(d)}
            doomed = set(documents) | {d for d, p in graph.properties.items() if source_of(p) in derived_from}
            doomed |= {doc_id for name in names for doc_id, _, _ in graph.entities.get(name, [])}
            facts = [f for key in storage.graph.entity_keys(names).values() for f in storage.graph.facts_naming(key)]
            doomed |= {d for _, d in storage.graph.fact_sources_by_id(facts) if d.startswith(RELATION_PREFIX)}
        self._forget_documents(doomed)
        if names:
            with self.store.view() as view:
                left = sorted(view.storage.graph.entity_keys(names))
            for name in left:
                try:
                    self.store.forget_entity(name)
                except UnknownEntityError:
                    pass  # forgotten meanwhile by another writer

    def _forget_documents(self, doc_ids: Set[str]) -> None:
        """``forget`` the stored ones among ``doc_ids`` in one transaction (once more if another
        writer forgot one of them in between)."""
        for attempt in range(2):
            with self.store.view() as view:
                stored = sorted(view.storage.documents.keys_of(doc_ids))
            if not stored:
                return
            try:
                self.store.forget(ids=stored)
                return
            except UnknownDocumentError:
                if attempt:
                    raise

    def _forget_facts(self, triples: Set[Tuple[str, str, str]]) -> None:
        """Forget facts: the relation documents stating them, then ``forget_fact`` for the rest."""
        if not triples:
            return
        with self.store.view() as view:
            graph = view.storage.graph
            facts = [f for triple in sorted(triples) for f in graph.facts_named(*triple)]
            doomed = {d for _, d in graph.fact_sources_by_id(facts) if d.startswith(RELATION_PREFIX)}
        self._forget_documents(doomed)
        with self.store.view() as view:
            left = [t for t in sorted(triples) if view.storage.graph.facts_named(*t)]
        for triple in left:
            try:
                self.store.forget_fact(*triple)
            except UnknownEntityError:
                pass

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """The store persists every write itself; this writes its canonical dump to ``persist_path``."""
        Path(persist_path).write_text("".join(line + "\n" for line in dump_lines(self.store)), encoding="utf-8")

    def get_schema(self, refresh: bool = False) -> str:
        """The relation labels in use."""
        with self.store.view() as view:
            return ", ".join(view.storage.graph.relations())
