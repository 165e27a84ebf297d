"""An embeddable, HippoRAG-style knowledge store: ``from memory import MemoryStore``."""

from .config import (BankConfig, EmbeddingConfig, ExtractionConfig, GraphConfig, IngestConfig, RetrievalConfig,
                     StoreConfig, TemporalConfig)
from .documents import Document
from .errors import (
    BankNotFittedError,
    ConfigError,
    CorruptStoreError,
    DiskFullError,
    DocumentTooLargeError,
    ExtractionError,
    IncompatibleStoreError,
    InputFileError,
    InvalidDocumentError,
    InvalidFactError,
    InvalidQueryError,
    MemoryStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
    StaleResultError,
    StorageError,
    StoreBusyError,
    StoreClosedError,
    UnknownDocumentError,
    UnknownEntityError,
)
from .errors import __all__ as _errors
from .timeexpr import InvalidDateError
from .explain import Explanation, Hit
from .forget import ForgetReport
from .store import MemoryStore, StoredDocument
from .temporal import FactRecord, UpdateReport

__version__ = "0.1.0"

__all__ = [
    "BankConfig",
    "Document",
    "EmbeddingConfig",
    "Explanation",
    "ExtractionConfig",
    "FactRecord",
    "ForgetReport",
    "GraphConfig",
    "Hit",
    "IngestConfig",
    "MemoryStore",
    "RetrievalConfig",
    "StoreConfig",
    "StoredDocument",
    "TemporalConfig",
    "UpdateReport",
    "InvalidDateError",
    *_errors,
]
