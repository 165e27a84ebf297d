"""Reading facts over time: the facts that hold at a date, and a (subject, relation) timeline.

Valid time comes from :mod:`memory.temporal` (a value of a functional relation
holds until the next one starts). Store time: ``recorded_at`` is when the store
first learned the fact (its earliest supporting document), ``retracted_at`` when it
learned that the fact had ended (the recording of the value that replaced it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from .db import Database
from .temporal import FactVersion, effective_end, fact_versions, holding_facts

__all__ = ["FactRecord", "facts_at", "timeline"]


@dataclass(frozen=True)
class FactRecord:
    """A fact with its validity and provenance.

    Attributes
    ----------
    subject, relation, object : str
        Entity names and relation label, as stored (normalised).
    valid_from, valid_to : str or None
        ISO dates of the interval in which the fact holds (``valid_to`` exclusive;
        for a functional relation, ended by the next value); None is open.
    recorded_at, retracted_at : str or None
        Store time: when the fact was learned, and when its end was learned.
    sources : tuple of str
        Ids of the documents that state it.
    """

    subject: str
    relation: str
    object: str
    valid_from: str | None
    valid_to: str | None
    recorded_at: str | None
    retracted_at: str | None
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**vars(self), "sources": list(self.sources)}


def _records(db: Database, versions: list[FactVersion], chosen: list[FactVersion],
             functional: set[str]) -> list[FactRecord]:
    names = db.entity_names({e for v in chosen for e in (v.subject, v.object)})
    sources: dict[int, list[str]] = defaultdict(list)
    for fact, doc_id in db.select_in(
            "SELECT s.fact, d.id FROM fact_sources s JOIN documents d ON d.key = s.document "
            "WHERE s.fact IN ({marks}) ORDER BY d.id", [v.key for v in chosen]):
        sources[fact].append(doc_id)
    groups: dict[tuple[int, str], list[FactVersion]] = defaultdict(list)
    for version in versions:
        groups[(version.subject, version.relation)].append(version)
    records = []
    for version in chosen:
        end, retracted = version.interval.end, None
        if version.relation in functional:
            siblings = groups[(version.subject, version.relation)]
            end = effective_end(version, siblings)
            replacing = [s for s in siblings if s.interval.start is not None and end is not None
                         and s.interval.start == end and s.object != version.object]
            if replacing and end != version.interval.end:
                retracted = max(version.recorded_at, min(s.recorded_at for s in replacing))
        records.append(FactRecord(
            names[version.subject], version.relation, names[version.object],
            version.interval.start.isoformat() if version.interval.start else None,
            end.isoformat() if end else None, version.recorded_at, retracted,
            tuple(sources[version.key])))
    return records


def _order(version: FactVersion) -> tuple[date, int]:
    return (version.interval.start or date.min, version.key)


def facts_at(db: Database, functional: set[str], when: date, subject: int | None = None,
             relation: str | None = None) -> list[FactRecord]:
    """The facts that hold at ``when`` (optionally of one subject and relation)."""
    versions = fact_versions(db, None if subject is None else [subject])
    holding = holding_facts(versions, when, functional)
    chosen = sorted((v for v in versions if v.key in holding
                     and (relation is None or v.relation == relation)), key=_order)
    return _records(db, versions, chosen, functional)


def timeline(db: Database, functional: set[str], subject: int, relation: str) -> list[FactRecord]:
    """Every stored value of (subject, relation), oldest first, with when each held."""
    versions = fact_versions(db, [subject])
    chosen = sorted((v for v in versions if v.relation == relation), key=_order)
    return _records(db, versions, chosen, functional)
