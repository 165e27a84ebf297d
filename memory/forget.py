"""Forgetting: documents, entities and facts, with everything derived only from them.

Every verb is one write (see :mod:`memory.core`): all its work runs under the
write lock, against the state as it is then, so a forget never acts on a stale
view. What it removes is deleted from the rows, the vectors (the snapshot on disk
is rewritten before the call returns), the graph, the synonym lists (recomputed
where they held a removed entity), the extraction cache and the memory bank
(blocks that learned it are masked at once and retrained). Forgotten entities and
facts are remembered only as SHA-256 digests, so they do not come back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from .documents import check_argument, content_hash
from .errors import InvalidQueryError, UnknownDocumentError, UnknownEntityError
from .extract.base import normalize_phrase, normalize_relation
from .indexing import Indexer, WriteReport, suppression_digest

if TYPE_CHECKING:
    from .core import StoreCore

__all__ = ["ForgetReport", "forget_documents", "forget_entity", "forget_fact", "forget_targets"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgetReport:
    """The outcome of one forget (one transaction).

    Attributes
    ----------
    documents : tuple of str
        The forgotten document ids.
    removed : dict
        ``documents``, ``facts`` and ``entities`` deleted because no other
        document supported them.
    kept : dict
        ``facts`` and ``entities`` that lost a supporting document but stay,
        with a decremented weight, because other documents still yield them.
    recomputed : dict
        ``synonym_lists`` recomputed because they held a removed entity, and
        ``bank_blocks`` of the memory bank retrained or removed because their
        training facts changed.
    extraction_cache_purged : int
        Cached extractions deleted.
    stated_in : tuple of str
        For ``forget_fact`` and ``forget_entity`` without cascade: the documents
        that stay although their text still states what was forgotten (forget
        them too if it must go from the text as well).
    generation : int
        The store generation the forget committed.
    """

    documents: tuple[str, ...]
    removed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    recomputed: dict[str, int] = field(default_factory=dict)
    extraction_cache_purged: int = 0
    stated_in: tuple[str, ...] = ()
    generation: int = 0

    @classmethod
    def from_write(cls, documents: Sequence[str], report: WriteReport, generation: int,
                   stated_in: Sequence[str] = ()) -> "ForgetReport":
        """Summarise a forget's write report."""
        return cls(
            documents=tuple(documents),
            removed={"documents": report.documents_removed, "facts": report.facts_removed,
                     "entities": report.entities_removed},
            kept={"facts": report.facts_kept, "entities": report.entities_kept},
            recomputed={"synonym_lists": report.synonym_lists_recomputed,
                        "bank_blocks": report.bank_blocks_retrained},
            extraction_cache_purged=report.extraction_cache_purged,
            stated_in=tuple(sorted(stated_in)),
            generation=generation,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"documents": list(self.documents), "removed": dict(self.removed), "kept": dict(self.kept),
                "recomputed": dict(self.recomputed), "extraction_cache_purged": self.extraction_cache_purged,
                "stated_in": list(self.stated_in), "generation": self.generation}


def forget_targets(doc_id: Any, ids: Any) -> list[str]:
    """The distinct ids to forget, from ``forget(doc_id)`` or ``forget(ids=[...])``.

    Raises
    ------
    InvalidQueryError
        When neither or both are given, or an id is not a non-empty string.

    >>> forget_targets(None, ["a", "b", "a"])
    ['a', 'b']
    """
    if (doc_id is None) == (ids is None):
        raise InvalidQueryError("forget needs a document id or ids=[...], not both")
    targets = [doc_id] if doc_id is not None else ids
    if isinstance(targets, str) or not isinstance(targets, (list, tuple, set, frozenset)):
        raise InvalidQueryError("ids must be a list of document ids")
    if not targets:
        raise InvalidQueryError("ids is empty")
    for target in targets:
        if not isinstance(target, str) or not target:
            raise InvalidQueryError(f"a document id must be a non-empty string, not {target!r}")
        check_argument(target, "a document id")
    return list(dict.fromkeys(sorted(targets) if isinstance(targets, (set, frozenset)) else targets))


def _remove_documents(indexer: Indexer, keys: Sequence[int]) -> None:
    storage = indexer.storage
    extraction_keys = storage.documents.extraction_keys(keys)
    for key in keys:
        indexer.remove_document(key)
    indexer.update_synonymy()
    indexer.purge_unused_extractions(extraction_keys)


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidQueryError(f"{name} must be True or False")


def _purged(core: "StoreCore", purge: bool) -> None:
    if purge:
        core.storage.purge()


def forget_documents(core: "StoreCore", doc_id: Any = None, ids: Any = None, purge: bool = False) -> ForgetReport:
    """Forget documents (or split documents' passages) in one write; see :meth:`MemoryStore.forget`."""
    targets = forget_targets(doc_id, ids)
    _flag("purge", purge)

    def body(indexer: Indexer) -> None:
        storage = indexer.storage
        keys: dict[int, None] = {}
        unknown = []
        known = storage.documents.keys_of(targets)
        for target in targets:
            passages = [] if target in known else storage.documents.passages_of(target)
            if target not in known and not passages:
                unknown.append(target)
            keys.update(dict.fromkeys([known[target]] if target in known else [k for k, _ in passages]))
        if unknown:
            raise UnknownDocumentError(f"no document with id {', '.join(map(repr, unknown))}; nothing was forgotten")
        _remove_documents(indexer, list(keys))

    outcome = core.write("forget", content_hash(*sorted(targets)), body)
    _purged(core, purge)
    result = ForgetReport.from_write(targets, outcome.report, outcome.generation)
    logger.info("forget: %s", result.to_dict())
    return result


def _entity_key(indexer: Indexer, name: Any) -> int:
    check_argument(name, "an entity name")
    key = indexer.storage.graph.entity_key(normalize_phrase(name))
    if key is None:
        raise UnknownEntityError(f"no entity named {name!r}; nothing was forgotten")
    return key


def forget_entity(core: "StoreCore", name: str, cascade: bool = False, purge: bool = False) -> ForgetReport:
    """Forget an entity (and with ``cascade`` every passage mentioning it); see :meth:`MemoryStore.forget_entity`."""
    _flag("cascade", cascade)
    _flag("purge", purge)
    check_argument(name, "an entity name")
    mentioning: list[str] = []

    def body(indexer: Indexer) -> None:
        key = _entity_key(indexer, name)
        storage = indexer.storage
        mentioning.extend(storage.graph.mentioning_ids(key))
        if not cascade:
            documents = indexer.forget_entity(key)
            # the cached extractions of the passages that stay still name it: drop them
            indexer.report.extraction_cache_purged += storage.documents.purge_extractions(
                storage.documents.extraction_keys(documents))
            return
        # Every fact naming the entity came from a passage that mentions it, so the
        # entity goes with those passages.
        _remove_documents(indexer, storage.graph.documents_mentioning(key))
        storage.meta.suppress("entity", suppression_digest("entity", normalize_phrase(name)))

    outcome = core.write("forget_entity", content_hash("entity", normalize_phrase(str(name))), body)
    _purged(core, purge)
    result = ForgetReport.from_write(mentioning if cascade else (), outcome.report, outcome.generation,
                                     stated_in=() if cascade else mentioning)
    logger.info("forget_entity: %s", result.to_dict())
    return result


def forget_fact(core: "StoreCore", subject: str, relation: str, obj: str, purge: bool = False) -> ForgetReport:
    """Forget a fact wherever it came from; see :meth:`MemoryStore.forget_fact`."""
    for label, value in (("subject", subject), ("relation", relation), ("object", obj)):
        check_argument(value, label)
    _flag("purge", purge)
    triple = (normalize_phrase(subject), normalize_relation(relation), normalize_phrase(obj))
    stated: list[str] = []

    def body(indexer: Indexer) -> None:
        storage = indexer.storage
        keys = storage.graph.facts_named(*triple)
        if not keys:
            between = storage.graph.relations_between_names(triple[0], triple[2])
            hint = f"; stored relations between them: {', '.join(sorted(between))}" if between else ""
            raise UnknownEntityError(f"no fact {triple}{hint}; nothing was forgotten")
        sources = indexer.forget_facts(keys)
        stated.extend(storage.documents.ids(sources).values())
        # the cached extractions of those passages still hold the triple: drop them
        indexer.report.extraction_cache_purged += storage.documents.purge_extractions(
            storage.documents.extraction_keys(sources))

    outcome = core.write("forget_fact", content_hash("fact", *triple), body)
    _purged(core, purge)
    result = ForgetReport.from_write((), outcome.report, outcome.generation, stated_in=stated)
    logger.info("forget_fact: %s", result.to_dict())
    return result
