"""Shared helpers of the llama-index adapters: ids, metadata and labels of the graph API's documents."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Dict, Mapping, Optional

from llama_index.core.graph_stores.types import (
    TRIPLET_SOURCE_KEY,
)

from ...config import IngestConfig

logger = logging.getLogger(__name__)

ENTITY_LABEL = "entity"
#: The metadata field that marks the graph API's documents ("entity" or "relation").
KIND_FIELD = "lpg"
NODE_PREFIX = "lpg-node/"
RELATION_PREFIX = "lpg/"
#: What llama-index writes for a node without a source document.
NO_REF = "None"
#: Chunks and graph documents are stored whole, whatever the store's own splitting.
WHOLE = IngestConfig(split="none")


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def node_document_id(name: str, source: Optional[str] = None) -> str:
    """The node document of entity ``name`` (normalised), per source chunk."""
    return f"{NODE_PREFIX}{digest(name)}" + (f"/{digest(source)}" if source else "")


def relation_document_id(subject: str, relation: str, obj: str, source: Optional[str] = None) -> str:
    """The source document of a relation (normalised names), per source chunk."""
    return f"{RELATION_PREFIX}{digest(subject, relation, obj)}" + (f"/{digest(source)}" if source else "")


def is_graph_document(doc_id: str) -> bool:
    return doc_id.startswith((NODE_PREFIX, RELATION_PREFIX))


def plain(properties: Mapping[str, Any]) -> Dict[str, Any]:
    """Properties as JSON data (what a document's metadata can hold); other values become text."""
    return json.loads(json.dumps(dict(properties), default=str))


def loads(raw: str) -> Dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def has_all(properties: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(key in properties and properties[key] == value for key, value in wanted.items())


def source_of(properties: Mapping[str, Any]) -> Optional[str]:
    source = properties.get(TRIPLET_SOURCE_KEY)
    return source if isinstance(source, str) and source else None


def chunk_metadata(properties: Mapping[str, Any]) -> Dict[str, Any]:
    """A chunk's properties as document metadata, without llama-index's placeholder ids."""
    metadata = plain(properties)
    if "_node_content" in metadata:  # written by node_to_metadata_dict: drop its aliases of ref_doc_id
        ref = metadata.get("ref_doc_id")
        for key in ("document_id", "doc_id"):
            if metadata.get(key) in (ref, NO_REF):
                metadata.pop(key)
        if ref == NO_REF:
            metadata.pop("ref_doc_id")
    return metadata


def ref_doc_of(doc_id: str, metadata: Mapping[str, Any]) -> str:
    """The document a passage comes from: its llama ``ref_doc_id``, else its ``source`` field,
    else the id it was split from."""
    for key in ("ref_doc_id", "source"):
        if isinstance(metadata.get(key), str) and metadata[key]:
            return str(metadata[key])
    return doc_id.split("#")[0]
