"""``MemoryRetriever``: the store's retrieval as a llama-index ``BaseRetriever``."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from ...store import MemoryStore
from .common import KIND_FIELD, ref_doc_of


__all__ = ["MemoryRetriever"]

logger = logging.getLogger(__name__)


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
    where : dict, optional
        A metadata filter of :meth:`memory.MemoryStore.retrieve`. The node documents of
        :class:`MemoryPropertyGraphStore` (metadata ``lpg: "entity"``) are left out
        unless ``where`` names the ``lpg`` field itself.
    """

    def __init__(self, store: MemoryStore, top_k: int = 5, mode: str = "hipporag", as_of: Any = None,
                 explain: bool = False, where: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._memory = store
        self._top_k, self._mode, self._as_of, self._explain = top_k, mode, as_of, explain
        self._where = {KIND_FIELD: {"in": [None, "relation"]}, **(where or {})}

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        hits = self._memory.retrieve(query_bundle.query_str, top_k=self._top_k, mode=self._mode,
                                     as_of=self._as_of, where=self._where, explain=self._explain)
        out = []
        for hit in hits:
            metadata: Dict[str, Any] = {"title": hit.title, "rank": hit.rank, "mode": hit.mode}
            if self._explain:
                metadata["explanation"] = hit.explain().to_dict()
            source = ref_doc_of(hit.doc_id, self._memory.get(hit.doc_id).metadata)
            node = TextNode(id_=hit.doc_id, text=hit.text, metadata=metadata,
                            excluded_llm_metadata_keys=["explanation", "rank", "mode"],
                            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=source)})
            out.append(NodeWithScore(node=node, score=hit.score))
        return out

    async def _aretrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        """:meth:`_retrieve` in a worker thread, behind the store's gate (:mod:`memory.aio`),
        so an async query engine's event loop is never blocked."""
        from ...aio import AsyncMemoryStore

        return await AsyncMemoryStore(self._memory).run(lambda store: self._retrieve(query_bundle))
