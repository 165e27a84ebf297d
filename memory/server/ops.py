"""The server's operations: one table, shared by the HTTP API and the MCP tools.

Each :class:`Operation` names its request and result schema, whether it writes (and
may create the tenant), a description written for an agent, and a function that runs
it on an open store in a worker thread and returns JSON-ready data. Transports only
validate input, pick the tenant and call :func:`call`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel

from ..config import IngestConfig
from ..store import MemoryStore
from . import schemas as s
from .errors import ServerError
from .tenants import TenantRegistry

__all__ = ["Operation", "OPERATIONS", "call", "library_supports_where"]


@dataclass(frozen=True)
class Operation:
    """One verb of the server.

    Attributes
    ----------
    name : str
        The HTTP route's last segment and the MCP tool's name.
    title, description : str
        For people and agents (MCP tool description, OpenAPI summary and description).
    request, result : type of BaseModel
        Input and output schemas.
    write : bool
        Changes the store (held as the tenant gate's writer).
    creates : bool
        Creates the tenant's store on its first use.
    destructive, idempotent : bool
        MCP tool annotations.
    run : callable
        ``run(store, request, tenant) -> dict`` in a worker thread.
    """

    name: str
    title: str
    description: str
    request: type[BaseModel]
    result: type[BaseModel]
    write: bool
    creates: bool
    destructive: bool
    idempotent: bool
    run: Callable[[MemoryStore, Any, str], dict[str, Any]]


def library_supports_where() -> bool:
    """Whether this library's ``MemoryStore.retrieve`` takes ``where=`` metadata filters."""
    return "where" in inspect.signature(MemoryStore.retrieve).parameters


def _ingest(store: MemoryStore, req: s.IngestRequest, tenant: str) -> dict[str, Any]:
    split = None
    if req.split is not None:
        split = IngestConfig(split=req.split.mode, window_tokens=req.split.window_tokens,
                             window_overlap=req.split.window_overlap)
    ids = store.ingest([d.as_document() for d in req.documents], split=split)
    return {"ids": ids, "documents": len(store)}


def _retrieve(store: MemoryStore, req: s.RetrieveRequest, tenant: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    where = req.where_dict()
    if where is not None:
        if not library_supports_where():
            raise ServerError("not_supported", "this server's memory library has no metadata filters (where)")
        kwargs["where"] = where
    hits = store.retrieve(req.query, top_k=req.top_k, mode=req.mode, as_of=req.as_of, **kwargs)
    out = []
    for hit in hits:
        item = hit.to_dict(explain=req.explain)
        item["metadata"] = store.get(hit.doc_id).metadata
        out.append(item)
    return {"hits": out}


def _get(store: MemoryStore, req: s.GetRequest, tenant: str) -> dict[str, Any]:
    doc = store.get(req.id)
    return {"id": doc.id, "title": doc.title, "text": doc.text, "metadata": doc.metadata,
            "recorded_at": doc.recorded_at}


def _forget(store: MemoryStore, req: s.ForgetRequest, tenant: str) -> dict[str, Any]:
    if req.entity is not None:
        report = store.forget_entity(req.entity, cascade=req.cascade)
    elif req.fact is not None:
        report = store.forget_fact(req.fact.subject, req.fact.relation, req.fact.object)
    else:
        report = store.forget(ids=req.ids)
    return report.to_dict()


def _update(store: MemoryStore, req: s.UpdateRequest, tenant: str) -> dict[str, Any]:
    report = store.update(req.subject, req.relation, req.object, at=req.at)
    return {"document_id": report.document_id, "closed": [r.to_dict() for r in report.closed],
            "opened": report.opened.to_dict()}


def _facts(store: MemoryStore, req: s.FactsRequest, tenant: str) -> dict[str, Any]:
    records = store.facts(req.subject, req.relation, as_of=req.as_of)
    return {"facts": [r.to_dict() for r in records[:req.limit]], "total": len(records)}


def _history(store: MemoryStore, req: s.HistoryRequest, tenant: str) -> dict[str, Any]:
    records = store.history(req.subject, req.relation)
    return {"facts": [r.to_dict() for r in records], "total": len(records)}


def _recall(store: MemoryStore, req: s.RecallRequest, tenant: str) -> dict[str, Any]:
    return store.recall(req.subject, req.relation, as_of=req.as_of).to_dict()


def _stats(store: MemoryStore, req: s.StatsRequest, tenant: str) -> dict[str, Any]:
    stats = store.stats()
    stats.pop("path", None)  # a server path is none of the client's business
    return {"tenant": tenant, **stats}


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("ingest", "Store passages",
              "Store documents (passages of text) in this memory, in one transaction: all or nothing. "
              "Entities and (subject, relation, object) facts are extracted offline and linked into a "
              "knowledge graph. Give each document a stable 'id' to update or forget it later; "
              "'metadata' is kept and can be filtered on in retrieve; 'valid_from'/'valid_to'/'date' "
              "say when it holds. Re-sending an id with the same content changes nothing; with new "
              "content it replaces the old passage. Creates the memory on first use.",
              s.IngestRequest, s.IngestResult, write=True, creates=True, destructive=False,
              idempotent=True, run=_ingest),
    Operation("retrieve", "Search memory",
              "Find the stored passages that answer a question, best first. The default mode "
              "'hipporag' follows the knowledge graph (Personalized PageRank), so it finds passages "
              "that answer multi-hop questions even when they do not share words with the question. "
              "Set 'explain' to see which entities and graph paths led to each passage, 'as_of' to "
              "ask about a past date, and 'where' to filter on metadata.",
              s.RetrieveRequest, s.RetrieveResult, write=False, creates=False, destructive=False,
              idempotent=True, run=_retrieve),
    Operation("get", "Read a passage",
              "Return one stored document (text, title, metadata, when it was recorded) by its id.",
              s.GetRequest, s.DocumentOut, write=False, creates=False, destructive=False,
              idempotent=True, run=_get),
    Operation("forget", "Forget",
              "Permanently forget, in one transaction, exactly one of: documents by id ('ids', with "
              "every fact and entity only they supported); an entity ('entity', with its facts and "
              "mentions; 'cascade' also forgets every passage mentioning it); or one fact ('fact'). "
              "Forgotten knowledge is not returned again and does not come back when passages are "
              "re-indexed. Returns what was removed, kept (still supported elsewhere) and recomputed.",
              s.ForgetRequest, s.ForgetResult, write=True, creates=False, destructive=True,
              idempotent=False, run=_forget),
    Operation("update", "Rewrite a fact over time",
              "Record that (subject, relation) has a new value from date 'at' on: the current value "
              "is closed at that date and kept as history. Forget the returned 'document_id' to "
              "undo it. Creates the memory on first use.",
              s.UpdateRequest, s.UpdateResult, write=True, creates=True, destructive=False,
              idempotent=True, run=_update),
    Operation("facts", "List facts",
              "List the (subject, relation, object) facts that hold at a date (default today), "
              "optionally of one subject and/or relation, with their validity and source passages.",
              s.FactsRequest, s.FactsResult, write=False, creates=False, destructive=False,
              idempotent=True, run=_facts),
    Operation("history", "Fact timeline",
              "Every value (subject, relation) has had, oldest first, with when each held (valid "
              "time) and when the memory learned it (store time).",
              s.HistoryRequest, s.FactsResult, write=False, creates=False, destructive=False,
              idempotent=True, run=_history),
    Operation("recall", "Closed-book recall",
              "Answer (subject, relation) from the memory's parametric memory bank without reading "
              "passages: the predicted object, a confidence and the alternatives. Needs a fitted bank "
              "(error 'bank_not_fitted' otherwise).",
              s.RecallRequest, s.RecallResult, write=False, creates=False, destructive=False,
              idempotent=True, run=_recall),
    Operation("stats", "Memory statistics",
              "Counts of documents, entities, facts and graph edges, and bytes on disk.",
              s.StatsRequest, s.StatsResult, write=False, creates=False, destructive=False,
              idempotent=True, run=_stats),
)}


async def call(registry: TenantRegistry, tenant: str, op: Operation, request: BaseModel) -> dict[str, Any]:
    """Run ``op`` with a validated ``request`` on ``tenant``; errors raise :class:`ServerError`."""
    return await registry.run(tenant, lambda store: op.run(store, request, tenant),
                              write=op.write, create=op.creates)
