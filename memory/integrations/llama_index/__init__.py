"""llama-index adapters over a :class:`memory.MemoryStore` (extra ``[llama-index]``).

- :class:`MemoryRetriever`: a ``BaseRetriever`` returning ``NodeWithScore`` from the
  store's retrieval (HippoRAG PPR by default), usable in ``RetrieverQueryEngine``.
- :class:`MemoryPropertyGraphStore`: a ``PropertyGraphStore`` over the store's graph, so
  that ``PropertyGraphIndex`` can read and write it.

The store's data model stays the truth: everything the graph API adds is a document
with provenance, so forgetting stays exact. Entities are ``EntityNode``s named by the
store's (normalised) entity names; passages are ``ChunkNode``s; facts are ``Relation``s.

- A chunk (``upsert_nodes`` / ``upsert_llama_nodes``) is ingested and extracted as a
  document with its id; its metadata keeps llama-index's serialisation of the node
  (``_node_content``) and its ``ref_doc_id``, so ``get_llama_nodes`` gives the node back
  and ``delete_llama_nodes(ref_doc_ids=...)`` finds it.
- An entity node is a *node document* ``lpg-node/<hash>`` that mentions the entity and
  holds its label and properties in its metadata (``{"lpg": "entity", "name", "label",
  "properties"}``); a node extracted from a chunk (``triplet_source_id``) gets a node
  document of its own, ``lpg-node/<hash>/<hash of the chunk id>``.
- A relation between entities is a fact with its own source document ``lpg/<hash>`` (or
  ``lpg/<hash>/<hash of the chunk id>``), whose metadata holds the relation's properties
  (``{"lpg": "relation", "subject", "relation", "object", "properties"}``).
- Deleting forgets documents: a chunk takes with it the node and relation documents
  derived from it; an entity takes its node documents and the relation documents naming
  it, then the store's ``forget_entity`` removes what passages still say of it.
"""

from .graph_store import MemoryPropertyGraphStore
from .retriever import MemoryRetriever

__all__ = ["MemoryRetriever", "MemoryPropertyGraphStore"]
