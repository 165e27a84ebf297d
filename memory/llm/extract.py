"""Entity and fact extraction by an LLM behind an OpenAI-compatible endpoint.

Pass it as ``MemoryStore(path, extractor=LLMExtractor(...))``; the store's extraction
cache is keyed by the extractor's name (model and endpoint) and the passage's
content, so a corpus is never extracted twice.
"""

from __future__ import annotations

import logging
from typing import Annotated, Sequence

from pydantic import BaseModel, WithJsonSchema

from ..documents import Document
from ..extract.base import Extraction
from .client import ChatClient, LLMConfig, LLMOutputError, reply_schema
from ..progress import progress

__all__ = ["LLMExtractor", "ExtractionReply", "EXTRACTION_SCHEMA"]

logger = logging.getLogger(__name__)

#: A triple as asked for (three strings); a reply's triples of another length are dropped.
_Triple = Annotated[list[str], WithJsonSchema({"type": "array", "items": {"type": "string"},
                                               "minItems": 3, "maxItems": 3})]


class ExtractionReply(BaseModel):
    """What the extraction prompt asks the model for."""

    entities: list[str]
    triples: list[_Triple]


EXTRACTION_SCHEMA = reply_schema(ExtractionReply)
_INSTRUCTIONS = (
    "Extract the named entities of the passage and the facts it states between them. "
    'Answer with JSON: {"entities": [names], "triples": [[subject, relation, object], ...]}. '
    "Use short relation phrases (e.g. \"born in\") and names exactly as written in the passage.")


class LLMExtractor:
    """An :class:`~memory.extract.Extractor` that asks a chat model, one passage per request.

    Parameters
    ----------
    config : LLMConfig, optional
        The endpoint (default: from the environment).
    client : ChatClient, optional
        A ready client (overrides ``config``).
    on_error : {"raise", "skip"}
        A malformed reply raises :class:`~memory.llm.client.LLMOutputError` (the
        ingest then writes nothing), or with ``"skip"`` gives that passage no facts.
    """

    def __init__(self, config: LLMConfig | None = None, client: ChatClient | None = None,
                 on_error: str = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        self.client = client or ChatClient(config)
        self.on_error = on_error
        self.name = f"llm:{self.client.name}:v1"

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        """One extraction per passage, in order."""
        out = []
        for doc in progress(docs, desc="llm extract", unit="passage", minimum=5):
            text = f"Title: {doc.title}\n\n{doc.text}" if doc.title else doc.text
            try:
                reply = self.client.complete_json(
                    [{"role": "system", "content": _INSTRUCTIONS}, {"role": "user", "content": text}],
                    ExtractionReply)
            except LLMOutputError as exc:
                if self.on_error == "raise":
                    raise LLMOutputError(f"passage {doc.id or doc.title!r}: {exc}") from None
                logger.warning("passage %r: %s; no facts kept", doc.id, exc)
                reply = ExtractionReply(entities=[], triples=[])
            out.append(Extraction.build(reply.entities, [t for t in reply.triples if len(t) == 3]))
        return out
