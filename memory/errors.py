"""Named exceptions raised by the public API.

Every error a caller can provoke with bad input is one of these, so that
``except MemoryStoreError`` catches all of them and nothing leaks as a
traceback from deep inside a dependency.
"""

from __future__ import annotations

__all__ = [
    "MemoryStoreError",
    "InvalidDocumentError",
    "NotAStoreError",
    "IncompatibleStoreError",
    "UnknownDocumentError",
    "UnknownEntityError",
    "ConfigError",
    "ExtractionError",
    "InvalidQueryError",
    "BankNotFittedError",
    "StorageError",
    "StoreBusyError",
    "ReadOnlyStoreError",
    "CorruptStoreError",
    "DiskFullError",
    "StoreClosedError",
    "StaleResultError",
    "DocumentTooLargeError",
    "InvalidFactError",
    "InputFileError",
]


class MemoryStoreError(Exception):
    """Base class of every error raised by :mod:`memory`."""


class InvalidDocumentError(MemoryStoreError, ValueError):
    """A document given to ``ingest`` is empty, not text, or malformed."""


class NotAStoreError(MemoryStoreError):
    """The path exists but does not hold a memory store."""


class IncompatibleStoreError(MemoryStoreError):
    """The store was written by an incompatible version or embedding model."""


class UnknownDocumentError(MemoryStoreError, KeyError):
    """No document with the given id is in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown document"


class UnknownEntityError(MemoryStoreError, KeyError):
    """No entity or fact with the given name is in the store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown entity"


class ConfigError(MemoryStoreError, ValueError):
    """A configuration value is invalid."""


class ExtractionError(MemoryStoreError):
    """An extractor could not produce entities and facts for a passage."""


class InvalidQueryError(MemoryStoreError, ValueError):
    """A query is empty or not text, or a retrieval argument is out of range."""


class BankNotFittedError(MemoryStoreError):
    """The memory bank is used before ``store.bank.fit()`` (or it has no facts to learn)."""


class StorageError(MemoryStoreError):
    """The database behind the store failed (the write, if any, was rolled back)."""


class StoreBusyError(StorageError):
    """Another writer held the store's write lock for longer than the store's ``timeout``."""


class ReadOnlyStoreError(StorageError):
    """A write was attempted on a store that can only be read (read-only files or directory)."""


class CorruptStoreError(StorageError):
    """The store's files are damaged; ``python -m memory check`` tells what it can."""


class DiskFullError(StorageError):
    """The disk is full; the write was rolled back and nothing was changed."""


class StoreClosedError(MemoryStoreError):
    """The store was used after ``close()``."""


class StaleResultError(MemoryStoreError):
    """A result from before a change was used after something it showed was removed
    (e.g. ``Hit.explain()`` after a forget): retrieve again, or pass ``explain=True``."""

class DocumentTooLargeError(InvalidDocumentError):
    """A passage, a field or a batch given to ``ingest`` is over its documented size limit.

    The message says how to split it (see :mod:`memory.documents` for the limits).
    """


class InvalidFactError(InvalidDocumentError):
    """The triples given with ``ingest(docs, facts=...)`` are malformed.

    The message names the document and the triple's position.
    """


class InputFileError(InvalidDocumentError):
    """An input file cannot be read as documents (not UTF-8, binary, not JSON, unreadable).

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        The line (JSONL) where the problem is, when there is one.
    """

    def __init__(self, message: str, path: object = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.line = line
