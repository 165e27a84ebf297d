"""Request and result schemas of the server's operations (pydantic).

One model per operation input and output. The HTTP API takes and returns them as JSON
bodies (and publishes them in ``/openapi.json``); MCP tools use their JSON schemas as
input and output schemas, so both transports validate the same way. Request models
forbid unknown fields: a misspelt option is an error, not silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..retrieval import MODES

__all__ = [
    "DocumentIn", "SplitIn", "IngestRequest", "IngestResult",
    "RetrieveRequest", "RetrieveResult", "HitOut", "ExplanationOut", "InFilter",
    "GetRequest", "DocumentOut", "FactTriple", "ForgetRequest", "ForgetResult",
    "UpdateRequest", "UpdateResult", "FactRecordOut", "FactsRequest", "FactsResult",
    "HistoryRequest", "RecallRequest", "RecallResult", "StatsRequest", "StatsResult",
    "ErrorOut", "ErrorResponse", "MAX_DOCUMENTS", "MAX_TEXT",
]

MAX_DOCUMENTS = 1000
MAX_TEXT = 1_000_000
_ID = Field(min_length=1, max_length=512)
Scalar = Union[str, int, float, bool, None]
Date = Union[str, int]
_DATE_HELP = "ISO date (YYYY, YYYY-MM or YYYY-MM-DD) or a bare year"
Mode = Literal[tuple(MODES)]  # type: ignore[valid-type]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(_Request):
    """A passage to store."""

    text: str = Field(min_length=1, max_length=MAX_TEXT, description="The passage text (required).")
    id: str | None = Field(None, min_length=1, max_length=512,
                           description="Stable id; default: a hash of title and text. Re-ingesting an id "
                                       "with new content replaces the old passage.")
    title: str = Field("", max_length=2000, description="Optional title (indexed with the text).")
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="JSON object kept with the document; 'valid_from', "
                                                 "'valid_to' and 'date' give its validity. Usable in "
                                                 "retrieve's 'where' filters.")
    valid_from: Date | None = Field(None, description=f"Start of validity ({_DATE_HELP}); stored in metadata.")
    valid_to: Date | None = Field(None, description=f"End of validity ({_DATE_HELP}); stored in metadata.")
    date: Date | None = Field(None, description=f"The document's own date ({_DATE_HELP}); stored in metadata.")

    def as_document(self) -> dict[str, Any]:
        """The dict :meth:`memory.MemoryStore.ingest` takes (validity folded into metadata)."""
        metadata = dict(self.metadata)
        for key in ("valid_from", "valid_to", "date"):
            value = getattr(self, key)
            if value is not None:
                metadata[key] = value
        doc: dict[str, Any] = {"text": self.text, "title": self.title, "metadata": metadata}
        if self.id is not None:
            doc["id"] = self.id
        return doc


class SplitIn(_Request):
    """How to split each document into passages (``<id>#<n>``)."""

    mode: Literal["none", "paragraph", "window"] = Field(
        "none", description="'paragraph': at blank lines; 'window': fixed token windows; 'none': whole.")
    window_tokens: int = Field(200, ge=8, le=4096, description="Tokens per passage with mode 'window'.")
    window_overlap: int = Field(0, ge=0, le=2048, description="Tokens shared by consecutive windows.")


class IngestRequest(_Request):
    """Documents to add in one transaction (all or nothing)."""

    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS,
                                        description=f"1 to {MAX_DOCUMENTS} documents.")
    split: SplitIn | None = Field(None, description="Optional splitting into passages.")


class IngestResult(BaseModel):
    """What ingest stored."""

    ids: list[str] = Field(description="The documents' ids, in input order.")
    documents: int = Field(description="Documents (passages) in the tenant's store afterwards.")


class InFilter(_Request):
    """Matches when the metadata field equals any of the values."""

    in_: list[Scalar] = Field(alias="in", min_length=1, max_length=100)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetrieveRequest(_Request):
    """A question to rank the tenant's passages for."""

    query: str = Field(min_length=1, max_length=10_000, description="The question or search text.")
    top_k: int = Field(5, ge=1, le=100, description="Number of passages to return.")
    mode: Mode = Field("hipporag", description="'hipporag' (knowledge graph + Personalized PageRank, "
                                               "best for multi-hop questions), 'hipporag1', 'hybrid', "
                                               "'dense' (embeddings only), 'bm25' (keywords).")
    as_of: Date | None = Field(None, description=f"Answer as of this date ({_DATE_HELP}): only what held then.")
    explain: bool = Field(False, description="Add each hit's explanation: the graph seeds and paths that found it.")
    where: dict[str, Union[Scalar, InFilter]] | None = Field(
        None, description='Metadata filters applied before ranking: {"source": "email"} (equality) or '
                          '{"source": {"in": ["email", "chat"]}}; all must hold.')

    def where_dict(self) -> dict[str, Any] | None:
        """The filters as the library takes them."""
        if self.where is None:
            return None
        return {k: ({"in": v.in_} if isinstance(v, InFilter) else v) for k, v in self.where.items()}


class ExplanationOut(BaseModel):
    """Why a passage was retrieved."""

    mode: str
    summary: str = Field(description="One line on how the score arose.")
    seeds: list[dict[str, Any]] = Field(description="Graph nodes the walk restarted at: kind, name, weight, reason.")
    paths: list[dict[str, Any]] = Field(description="Strongest walks from seeds to the passage: nodes, edges, strength.")


class HitOut(BaseModel):
    """A retrieved passage."""

    rank: int
    doc_id: str
    score: float
    title: str
    text: str
    mode: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    explanation: ExplanationOut | None = None


class RetrieveResult(BaseModel):
    """Ranked passages, best first."""

    hits: list[HitOut]


class GetRequest(_Request):
    """A document id."""

    id: str = Field(min_length=1, max_length=512, description="The document (or passage) id.")


class DocumentOut(BaseModel):
    """A stored document."""

    id: str
    title: str
    text: str
    metadata: dict[str, Any]
    recorded_at: str = Field(description="When the store recorded it (UTC, ISO).")


class FactTriple(_Request):
    """A (subject, relation, object) fact."""

    subject: str = Field(min_length=1, max_length=1000)
    relation: str = Field(min_length=1, max_length=1000)
    object: str = Field(min_length=1, max_length=1000)


class ForgetRequest(_Request):
    """What to forget: documents, an entity, or a fact (exactly one)."""

    ids: list[str] | None = Field(None, min_length=1, max_length=MAX_DOCUMENTS,
                                  description="Document ids, forgotten together with everything only they support.")
    entity: str | None = Field(None, min_length=1, max_length=1000,
                               description="An entity name: its node, facts, mentions and synonymy edges.")
    cascade: bool = Field(False, description="With 'entity': also forget every passage that mentions it.")
    fact: FactTriple | None = Field(None, description="One fact, wherever it came from (the passages stay).")

    @model_validator(mode="after")
    def _one_target(self) -> "ForgetRequest":
        given = [k for k in ("ids", "entity", "fact") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'ids', 'entity' or 'fact'")
        if self.cascade and self.entity is None:
            raise ValueError("'cascade' applies only to 'entity'")
        return self


class ForgetResult(BaseModel):
    """What a forget removed, kept and recomputed."""

    documents: list[str]
    removed: dict[str, int]
    kept: dict[str, int]
    recomputed: dict[str, int]
    extraction_cache_purged: int
    stated_in: list[str] = Field(description="Passages that stay although their text still states what was forgotten.")


class FactRecordOut(BaseModel):
    """A fact with its validity (valid_to exclusive; null is open) and provenance."""

    subject: str
    relation: str
    object: str
    valid_from: str | None
    valid_to: str | None
    recorded_at: str | None
    retracted_at: str | None
    sources: list[str]


class UpdateRequest(_Request):
    """Rewrite a fact from a date on, keeping history."""

    subject: str = Field(min_length=1, max_length=1000, description="Entity name.")
    relation: str = Field(min_length=1, max_length=1000, description="Relation label, e.g. 'lives in'.")
    object: str = Field(min_length=1, max_length=1000, description="The new value.")
    at: Date = Field(description=f"When the new value starts ({_DATE_HELP}).")


class UpdateResult(BaseModel):
    """The update's source document, the values it closed and the one it opened."""

    document_id: str = Field(description="Forget this id to undo the update.")
    closed: list[FactRecordOut]
    opened: FactRecordOut


class FactsRequest(_Request):
    """Which facts to list."""

    subject: str | None = Field(None, min_length=1, max_length=1000, description="Only this entity's facts.")
    relation: str | None = Field(None, min_length=1, max_length=1000, description="Only this relation.")
    as_of: Date | None = Field(None, description=f"The date ({_DATE_HELP}); default today.")
    limit: int = Field(100, ge=1, le=1000, description="At most this many facts.")


class FactsResult(BaseModel):
    """Facts, and how many there were before the limit."""

    facts: list[FactRecordOut]
    total: int


class HistoryRequest(_Request):
    """A (subject, relation) timeline."""

    subject: str = Field(min_length=1, max_length=1000, description="Entity name.")
    relation: str = Field(min_length=1, max_length=1000, description="Relation label.")


class RecallRequest(_Request):
    """A closed-book question to the parametric memory bank."""

    subject: str = Field(min_length=1, max_length=1000, description="Entity name.")
    relation: str = Field(min_length=1, max_length=1000, description="Relation label.")
    as_of: Date | None = Field(None, description=f"The date ({_DATE_HELP}).")


class RecallResult(BaseModel):
    """The bank's answer."""

    answer: str | None = Field(description="The answer; null when the bank abstains (see reason).")
    confidence: float
    blocks: list[str]
    alternatives: list[list[Any]] = Field(description="[entity, probability] of the answering block's best answers.")
    reason: str = Field("", description="Why the bank abstained (empty when it answered).")


class StatsRequest(_Request):
    """No arguments."""


class StatsResult(BaseModel):
    """Counts and size of the tenant's store."""

    model_config = ConfigDict(extra="allow")
    tenant: str
    documents: int
    entities: int
    facts: int
    edges: dict[str, int]
    bytes_on_disk: int
    generation: int


class ErrorOut(BaseModel):
    """An error: ``code`` is stable (see the error table), ``message`` is for people."""

    code: str
    message: str
    status: int
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every error body."""

    error: ErrorOut
