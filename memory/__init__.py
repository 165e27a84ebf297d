"""An embeddable, HippoRAG-style knowledge store: ``from memory import MemoryStore``."""

from .config import (BankConfig, EmbeddingConfig, ExtractionConfig, GraphConfig, IngestConfig, RetrievalConfig,
                     StoreConfig, TemporalConfig)
from .documents import Document
from .errors import (
    ConfigError,
    ExtractionError,
    IncompatibleStoreError,
    InvalidDocumentError,
    InvalidQueryError,
    MemoryStoreError,
    NotAStoreError,
    UnknownDocumentError,
    UnknownEntityError,
)
from .explain import Explanation, Hit
from .forget import ForgetReport
from .store import MemoryStore, StoredDocument

__version__ = "0.1.0"

__all__ = [
    "BankConfig",
    "ConfigError",
    "Document",
    "EmbeddingConfig",
    "Explanation",
    "ExtractionConfig",
    "ExtractionError",
    "ForgetReport",
    "GraphConfig",
    "Hit",
    "IngestConfig",
    "TemporalConfig",
    "IncompatibleStoreError",
    "InvalidDocumentError",
    "InvalidQueryError",
    "MemoryStore",
    "MemoryStoreError",
    "NotAStoreError",
    "RetrievalConfig",
    "StoreConfig",
    "StoredDocument",
    "UnknownDocumentError",
    "UnknownEntityError",
]
