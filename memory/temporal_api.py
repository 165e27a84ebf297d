"""The time-aware part of :class:`memory.MemoryStore`: update, facts, history, as-of slices.

Kept apart from ``store.py`` so the facade stays small; :class:`TemporalMethods` is a
base class of the store and uses its database, configuration and write path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from .documents import Document, content_hash
from .errors import InvalidQueryError, UnknownEntityError
from .extract import Extraction, normalize_phrase, normalize_relation
from .history import FactRecord, facts_at, timeline
from .indexing import Indexer, WriteReport
from .temporal import TimeSlice, functional_relations, time_slice
from .timeexpr import Interval, InvalidDateError, parse_date, period_in_query

if TYPE_CHECKING:
    from .config import StoreConfig
    from .db import Database

__all__ = ["TemporalMethods", "UpdateReport", "as_date"]

logger = logging.getLogger("memory.store")


def as_date(value: Any, what: str = "as_of") -> date:
    """A date from a ``date``, ``datetime``, ISO string or bare year; InvalidQueryError otherwise."""
    try:
        return parse_date(value)
    except InvalidDateError as exc:
        raise InvalidQueryError(f"{what}: {exc}") from None


def utc_today() -> date:
    """Today's date in UTC."""
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class UpdateReport:
    """What :meth:`MemoryStore.update` did.

    Attributes
    ----------
    document_id : str
        The update's own source document (``forget`` it to undo the update).
    closed : list of FactRecord
        The values the update ended (their ``valid_to`` is now ``at``).
    opened : FactRecord
        The new value.
    """

    document_id: str
    closed: list[FactRecord]
    opened: FactRecord


class TemporalMethods:
    """Time-aware reads and writes; mixed into :class:`memory.MemoryStore`."""

    db: "Database"
    config: "StoreConfig"
    _slices: dict[tuple[int, Interval], TimeSlice]

    def _functional(self) -> set[str]:
        temporal = self.config.temporal
        return functional_relations(self.db, temporal.functional_relations, temporal.learn_functional,
                                    temporal.min_functional_subjects)

    def _time_slice(self, period: Interval) -> TimeSlice:
        key = (self.db.generation, period)
        if key not in self._slices:
            if len(self._slices) > 64 or any(g != key[0] for g, _ in self._slices):
                self._slices.clear()
            temporal = self.config.temporal
            self._slices[key] = time_slice(self.db, period, self._functional(),
                                           temporal.title_timelines, temporal.passage_text_time)
        return self._slices[key]

    def _query_period(self, query: Any, as_of: Any) -> Interval | None:
        """The time a query asks about: one day for ``as_of``, else a period it names."""
        if as_of is not None:
            day = as_date(as_of)
            return Interval(day, date.fromordinal(day.toordinal() + 1))
        if self.config.temporal.query_dates and isinstance(query, str):
            return period_in_query(query)
        return None

    def _subject_key(self, subject: str) -> int:
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidQueryError("subject must be a non-empty string")
        row = self.db.query("SELECT key FROM entities WHERE name = ?", (normalize_phrase(subject),))
        if not row:
            raise UnknownEntityError(f"no entity named {subject!r}")
        return int(row[0][0])

    def facts(self, subject: str | None = None, relation: str | None = None,
              as_of: Any = None) -> list[FactRecord]:
        """The facts that hold at ``as_of`` (default: today), optionally of one subject/relation.

        Raises
        ------
        UnknownEntityError
            If ``subject`` names no stored entity.
        InvalidQueryError
            On a bad date.
        """
        self._check_open()  # type: ignore[attr-defined]
        when = as_date(as_of) if as_of is not None else utc_today()
        key = self._subject_key(subject) if subject is not None else None
        return facts_at(self.db, self._functional(), when, key,
                        normalize_relation(relation) if relation else None)

    def history(self, subject: str, relation: str) -> list[FactRecord]:
        """Every value (subject, relation) has had, oldest first, with when each held."""
        self._check_open()  # type: ignore[attr-defined]
        if not isinstance(relation, str) or not relation.strip():
            raise InvalidQueryError("relation must be a non-empty string")
        return timeline(self.db, self._functional(), self._subject_key(subject),
                        normalize_relation(relation))

    def update(self, subject: str, relation: str, new_object: str, at: Any) -> UpdateReport:
        """Rewrite a fact from date ``at`` on, keeping history.

        The current value's interval is closed at ``at`` and ``new_object`` opens one;
        the relation becomes functional (one object at a time). The new value is
        stored with its own source document (``update/<hash>``), so it has provenance
        like any fact and ``forget`` on that id undoes the update. One transaction.

        Raises
        ------
        InvalidQueryError
            On an empty name or a bad date; nothing is written.
        """
        self._check_open()  # type: ignore[attr-defined]
        for name, value in (("subject", subject), ("relation", relation), ("new_object", new_object)):
            if not isinstance(value, str) or not normalize_phrase(value):
                raise InvalidQueryError(f"{name} must be a non-empty string with letters or digits")
        when = as_date(at, "at")
        relation = normalize_relation(relation)
        before = {r.object for r in self._current_values(subject, relation, when)}
        doc = Document(text=f"{subject} {relation} {new_object}.",
                       id=f"update/{content_hash(subject, relation, new_object, when.isoformat())[:20]}",
                       metadata={"valid_from": when.isoformat(),
                                 "update": {"subject": subject, "relation": relation, "object": new_object}})
        stated = Extraction.build([subject, new_object], [(subject, relation, new_object)])

        def body(indexer: Indexer, report: WriteReport) -> None:
            self.db.conn.execute("INSERT OR IGNORE INTO functional_relations(relation) VALUES (?)",
                                 (relation,))
            indexer.ingest([doc], report, stated=[stated])

        indexer = Indexer(self.db, self.derived, self.embedder, None,  # type: ignore[attr-defined]
                          self.config.graph)
        self._write("update", content_hash("update", doc.id or ""), indexer, body)  # type: ignore[attr-defined]
        records = self.history(subject, relation)
        closed = [r for r in records if r.object in before and r.valid_to == when.isoformat()]
        opened = next(r for r in records if r.object == normalize_phrase(new_object)
                      and r.valid_from == when.isoformat())
        report = UpdateReport(doc.id or "", closed, opened)
        logger.info("update: %s %s -> %s at %s (closed %d)", content_hash(subject)[:8], relation,
                    content_hash(new_object)[:8], when, len(closed))
        return report

    def _current_values(self, subject: str, relation: str, when: date) -> list[FactRecord]:
        try:
            key = self._subject_key(subject)
        except UnknownEntityError:
            return []
        return facts_at(self.db, self._functional() | {relation}, when, key, relation)
