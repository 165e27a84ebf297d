"""What a forget removed, kept and recomputed (:meth:`memory.MemoryStore.forget`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import InvalidQueryError
from .indexing import WriteReport

__all__ = ["ForgetReport", "forget_targets"]


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
        Cached extractions deleted (no remaining document has that content).
    stated_in : tuple of str
        For ``forget_fact`` and ``forget_entity`` without cascade: the documents
        that stay although their text still states what was forgotten (forget
        them too if it must go from the text as well).
    """

    documents: tuple[str, ...]
    removed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    recomputed: dict[str, int] = field(default_factory=dict)
    extraction_cache_purged: int = 0
    stated_in: tuple[str, ...] = ()

    @classmethod
    def from_write(cls, documents: Sequence[str], report: WriteReport,
                   stated_in: Sequence[str] = ()) -> "ForgetReport":
        """Summarise the indexer's report of a forget."""
        return cls(
            documents=tuple(documents),
            removed={"documents": report.documents_removed, "facts": report.facts_removed,
                     "entities": report.entities_removed},
            kept={"facts": report.facts_kept, "entities": report.entities_kept},
            recomputed={"synonym_lists": report.synonym_lists_recomputed,
                        "bank_blocks": report.bank_blocks_retrained},
            extraction_cache_purged=report.extraction_cache_purged,
            stated_in=tuple(sorted(stated_in)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"documents": list(self.documents), "removed": dict(self.removed), "kept": dict(self.kept),
                "recomputed": dict(self.recomputed),
                "extraction_cache_purged": self.extraction_cache_purged, "stated_in": list(self.stated_in)}


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
    return list(dict.fromkeys(sorted(targets) if isinstance(targets, (set, frozenset)) else targets))
