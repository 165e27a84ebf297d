"""The models a store uses (encoder, extractor, query parser, cross-encoder), loaded on first use.

A store's saved configuration is data, never code: a value read from the store
may only name a model this library knows how to load (its default encoders and
supported spaCy pipelines, found through their installed packages). A caller who
wants anything else passes it in code: a ``config`` given to
:class:`memory.MemoryStore`, or ready ``embedder=`` / ``extractor=`` objects.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from .config import StoreConfig
from .embed import BGE_SMALL, MINILM, Embedder, load_embedder
from .errors import ConfigError, IncompatibleStoreError
from .extract import Extractor, SpacyExtractor
from .extract.spacy_extractor import SUPPORTED_PIPELINES
from .rerank import CrossEncoder

__all__ = ["Models", "refused_config_values", "SUPPORTED_ENCODERS", "TEXT_KINDS"]

#: Encoder names a stored configuration may name.
SUPPORTED_ENCODERS = (BGE_SMALL, f"BAAI/{BGE_SMALL}", MINILM, f"sentence-transformers/{MINILM}")
#: How each stored kind of text is encoded.
TEXT_KINDS = {"document": "passage", "entity": "entity", "fact": "fact"}

# Models named by configuration are loaded once per process and shared by every store
# (the ONNX sessions are safe to call from many threads; spaCy pipelines are used under
# one lock per pipeline object, wherever it came from).
_SHARED: dict[tuple[str, str], Any] = {}
_SHARED_LOCK = threading.Lock()
_PIPELINE_LOCKS: "weakref.WeakKeyDictionary[Any, threading.Lock]" = weakref.WeakKeyDictionary()


def _shared(kind: str, name: str, load: Callable[[], Any]) -> Any:
    with _SHARED_LOCK:
        if (kind, name) not in _SHARED:
            _SHARED[(kind, name)] = load()
        return _SHARED[(kind, name)]


def pipeline_lock(pipeline: Any) -> threading.Lock:
    """The lock every user of one spaCy pipeline object takes around it."""
    with _SHARED_LOCK:
        lock = _PIPELINE_LOCKS.get(pipeline)
        if lock is None:
            lock = _PIPELINE_LOCKS[pipeline] = threading.Lock()
        return lock


def refused_config_values(stored: dict[str, Any]) -> list[str]:
    """What in a stored configuration this library refuses to load (empty when all is known).

    >>> refused_config_values({"extraction": {"spacy_model": "payload"}})
    ["extraction.spacy_model 'payload' is not a supported spaCy pipeline"]
    """
    problems = []
    model = (stored.get("embedding") or {}).get("model")
    if model is not None and model not in SUPPORTED_ENCODERS:
        problems.append(f"embedding.model {model!r} is not a supported encoder")
    pipeline = (stored.get("extraction") or {}).get("spacy_model")
    if pipeline is not None and pipeline not in SUPPORTED_PIPELINES:
        problems.append(f"extraction.spacy_model {pipeline!r} is not a supported spaCy pipeline")
    return problems


class Models:
    """Lazily loaded models of one store, shared by its threads.

    Parameters
    ----------
    config : StoreConfig
        The store's configuration.
    trusted : bool
        Whether ``config`` came from the caller (in code); otherwise it was read
        from the store and may only name supported models.
    stored_encoder : str or None
        The encoder name the store's vectors come from.
    embedder, extractor : optional
        Ready objects passed by the caller.
    """

    def __init__(self, config: StoreConfig, trusted: bool, stored_encoder: str | None,
                 embedder: Embedder | None = None, extractor: Extractor | None = None) -> None:
        self.config = config
        self.trusted = trusted
        self.stored_encoder = stored_encoder
        self._embedder = embedder
        self._extractor = extractor
        self._parser: SpacyExtractor | None = extractor if isinstance(extractor, SpacyExtractor) else None
        self._cross_encoder: CrossEncoder | None = None
        self._lock = threading.RLock()

    def _refuse(self, section: str) -> None:
        if self.trusted:
            return
        problems = [p for p in refused_config_values(self.config.to_dict()) if p.startswith(section)]
        if problems:
            raise ConfigError("; ".join(problems) + ": the store's saved configuration names something this "
                              "library does not load; pass it in code (MemoryStore(path, config=...) or "
                              "embedder=/extractor=)")

    @property
    def loaded_embedder(self) -> Embedder | None:
        """The encoder if it is loaded already (reads do not load it)."""
        return self._embedder

    @property
    def embedder(self) -> Embedder:
        """The encoder (loaded on first use); its name must match the store's vectors."""
        with self._lock:
            if self._embedder is None:
                self._refuse("embedding")
                config = self.config.embedding
                self._embedder = _shared("embedder", config.model, lambda: load_embedder(config))
            embedder = self._embedder
        if self.stored_encoder is not None and self.stored_encoder != embedder.name:
            raise IncompatibleStoreError(f"store vectors come from {self.stored_encoder!r}, not {embedder.name!r}")
        return embedder

    def encode(self, kind: str, texts: Sequence[str]) -> np.ndarray:
        """Vectors of stored texts of ``kind`` ("document", "entity", "fact")."""
        return self.embedder.encode(list(texts), TEXT_KINDS[kind])  # type: ignore[arg-type]

    @property
    def extractor(self) -> Extractor:
        """The extractor used by ingest (the configured spaCy pipeline unless one was passed)."""
        with self._lock:
            if self._extractor is None:
                self._extractor = self.parser
            return self._extractor

    @property
    def parser(self) -> SpacyExtractor:
        """The spaCy pipeline that finds a query's named phrases."""
        with self._lock:
            if self._parser is None:
                self._refuse("extraction")
                pipeline = self.config.extraction.spacy_model
                self._parser = _shared("spacy", pipeline, lambda: SpacyExtractor(pipeline))
            return self._parser

    def query_phrases(self, text: str, named: bool) -> list[str]:
        """The query's phrases to link (serialised: one parse at a time)."""
        parser = self.parser
        with pipeline_lock(parser):
            return parser.query_phrases(text, named)

    def extract(self, extractor: Extractor, docs: Sequence[Any]) -> list:
        """Run an extractor (serialised for the shared spaCy pipeline)."""
        if isinstance(extractor, SpacyExtractor):
            with pipeline_lock(extractor):
                return extractor.extract(docs)
        return extractor.extract(docs)

    @property
    def cross_encoder(self) -> CrossEncoder:
        """The ms-marco cross-encoder (loaded on first use)."""
        with self._lock:
            if self._cross_encoder is None:
                self._cross_encoder = _shared("cross-encoder", "ms-marco-minilm", CrossEncoder)
            return self._cross_encoder
