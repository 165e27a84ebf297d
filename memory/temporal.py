"""Time in the store: validity of facts and documents, timelines, what holds when, and the
time-aware verbs (``update``, ``facts``, ``history``) and ``as_of`` slices.

Stored intervals are what the sources say (a document's ``valid_from`` /
``valid_to`` / ``date`` fields; a fact's sentence, see :mod:`memory.timeexpr`).
What holds *at* a date is computed from them at query time, so ingesting out of
order, or forgetting a document, never leaves a stale closed interval behind:

- a fact holds at ``t`` when its own interval contains ``t`` and, for a
  *functional* relation (one object at a time), no other object of the same
  subject and relation started later than it and no later than ``t``;
- a document holds at ``t`` when its own interval contains ``t`` and (with
  ``title_timelines``) no later-dated document with the same title started by ``t``.

A relation is functional when configured, when ``update`` was used on it, or when
learned from the data (:func:`learned_functional_relations`). Store time: a
fact's ``recorded_at`` is when the store first learned it, ``retracted_at`` when it
learned that the fact had ended (the recording of the value that replaced it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .documents import Document, check_argument, content_hash
from .errors import InvalidQueryError, UnknownEntityError
from .extract.base import Extraction, normalize_phrase, normalize_relation
from .storage import Storage
from .timeexpr import Interval, InvalidDateError, parse_date, period_in_query, sentence_interval, split_sentences

if TYPE_CHECKING:
    from .config import TemporalConfig
    from .core import ReadView, StoreCore

__all__ = ["fact_intervals", "FactVersion", "fact_versions", "holding_facts", "learned_functional_relations",
           "effective_end", "TimeSlice", "time_slice", "functional_relations", "FactRecord", "facts_at", "timeline",
           "as_date", "UpdateReport", "update", "facts", "history", "query_period"]

logger = logging.getLogger(__name__)

def fact_intervals(text: str, triples: Iterable[tuple[str, str, str]], default: Interval,
                   reference: date | None) -> list[Interval]:
    """The interval of each triple: that of the first sentence naming both its ends.

    A sentence without time expressions, or a triple found in no single sentence,
    takes the document's interval (``default``).
    """
    sentences = [s for s in split_sentences(text) if s.strip()]
    normalised = [f" {normalize_phrase(s)} " for s in sentences]
    cache: dict[int, Interval] = {}
    out = []
    for subject, _, obj in triples:
        found = next((i for i, s in enumerate(normalised) if f" {subject} " in s and f" {obj} " in s), None)
        if found is None:
            out.append(default)
            continue
        if found not in cache:
            stated = sentence_interval(sentences[found], reference)
            cache[found] = default if stated.is_open else stated
        out.append(cache[found])
    return out


# -- what holds when --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FactVersion:
    """One stored value of a (subject, relation): its object, own interval and first-recorded time."""

    key: int
    subject: int
    relation: str
    object: int
    interval: Interval
    recorded_at: str


def fact_versions(storage: Storage, subjects: Iterable[int] | None = None) -> list[FactVersion]:
    """Stored facts (of the given subjects, or all) with their intervals."""
    return [FactVersion(k, s, r, o, Interval.from_strings(vf, vt), at)
            for k, s, r, o, vf, vt, at in storage.graph.fact_versions(subjects)]


def _start_key(interval: Interval) -> date:
    return interval.start or date.min


def effective_end(version: FactVersion, siblings: Iterable[FactVersion]) -> date | None:
    """When a value of a functional relation stops holding: its own end, or the next value's start."""
    later = [_start_key(s.interval) for s in siblings
             if s.object != version.object and _start_key(s.interval) > _start_key(version.interval)]
    ends = [d for d in (version.interval.end, min(later, default=None)) if d is not None]
    return min(ends) if ends else None


def learned_functional_relations(versions: Iterable[FactVersion], min_subjects: int = 2) -> set[str]:
    """Relations that hold one object at a time wherever the data dates them.

    A relation qualifies when at least ``min_subjects`` subjects have two or more
    dated objects for it, and for every such subject the objects start at distinct
    dates and their explicit (closed) intervals never overlap.
    """
    groups: dict[tuple[str, int], list[FactVersion]] = defaultdict(list)
    for version in versions:
        groups[(version.relation, version.subject)].append(version)
    evidence: dict[str, int] = defaultdict(int)
    broken: set[str] = set()
    for (relation, _), group in groups.items():
        dated: dict[int, Interval] = {}
        for version in group:
            if version.interval.start is not None:
                dated.setdefault(version.object, version.interval)
        if len(dated) < 2:
            continue
        intervals = sorted(dated.values(), key=_start_key)
        starts = [i.start for i in intervals]
        closed_overlap = any(a.end is not None and b.start is not None and b.start < a.end
                             for a, b in zip(intervals, intervals[1:]))
        if len(set(starts)) < len(starts) or closed_overlap:
            broken.add(relation)
        else:
            evidence[relation] += 1
    return {r for r, n in evidence.items() if n >= min_subjects and r not in broken}


def holding_facts(versions: list[FactVersion], when: date, functional: set[str]) -> set[int]:
    """Keys of the facts that hold at ``when`` (see the module docstring)."""
    groups: dict[tuple[int, str], list[FactVersion]] = defaultdict(list)
    for version in versions:
        groups[(version.subject, version.relation)].append(version)
    holding = set()
    for (_, relation), group in groups.items():
        for version in group:
            if not version.interval.contains(when):
                continue
            if relation in functional:
                end = effective_end(version, group)
                if end is not None and end <= when:
                    continue
            holding.add(version.key)
    return holding


def functional_relations(storage: Storage, config: "TemporalConfig") -> set[str]:
    """Configured relations, relations ``update`` was used on, and learned ones."""
    relations = set(config.functional_relations) | storage.graph.functional_relations()
    if config.learn_functional:
        relations |= learned_functional_relations(fact_versions(storage), config.min_functional_subjects)
    return relations


@dataclass(frozen=True)
class TimeSlice:
    """What retrieval may see in a period.

    Attributes
    ----------
    when : date
        The date facts are read at (the period's start).
    period : Interval
        The time asked about (one day for an explicit ``as_of``).
    excluded_documents : frozenset of int
        Passages that do not hold.
    holding_facts : frozenset of int
        Facts that hold at ``when``.
    removed_fact_weight : dict
        ``(subject, object) -> support`` of the facts that do not hold, to take off the
        graph's fact edges.
    """

    when: date
    period: Interval
    excluded_documents: frozenset[int]
    holding_facts: frozenset[int]
    removed_fact_weight: Mapping[tuple[int, int], float]


def time_slice(storage: Storage, period: Interval, config: "TemporalConfig") -> TimeSlice:
    """Compute the :class:`TimeSlice` of the store for ``period`` (facts at its start)."""
    when = period.start or date.min
    versions = fact_versions(storage)
    holding = holding_facts(versions, when, functional_relations(storage, config))
    support = storage.graph.all_support()
    removed: dict[tuple[int, int], float] = defaultdict(float)
    for version in versions:
        if version.key not in holding:
            removed[(version.subject, version.object)] += support.get(version.key, 0)
    start, end = (d.isoformat() if d else None for d in (period.start, period.end))
    excluded = storage.documents.excluded_at(start, end, config.title_timelines, config.passage_text_time)
    return TimeSlice(when, period, frozenset(excluded), frozenset(holding), dict(removed))


# -- fact records ------------------------------------------------------------------------------------

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


def _records(storage: Storage, versions: list[FactVersion], chosen: list[FactVersion],
             functional: set[str]) -> list[FactRecord]:
    names = storage.graph.entity_names({e for v in chosen for e in (v.subject, v.object)})
    sources: dict[int, list[str]] = defaultdict(list)
    for fact, doc_id in storage.graph.fact_sources_by_id([v.key for v in chosen]):
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
            end.isoformat() if end else None, version.recorded_at, retracted, tuple(sources[version.key])))
    return records


def _order(version: FactVersion) -> tuple[date, int]:
    return (version.interval.start or date.min, version.key)


def facts_at(storage: Storage, functional: set[str], when: date, subject: int | None = None,
             relation: str | None = None) -> list[FactRecord]:
    """The facts that hold at ``when`` (optionally of one subject and relation)."""
    versions = fact_versions(storage, None if subject is None else [subject])
    holding = holding_facts(versions, when, functional)
    chosen = sorted((v for v in versions if v.key in holding and (relation is None or v.relation == relation)),
                    key=_order)
    return _records(storage, versions, chosen, functional)


def timeline(storage: Storage, functional: set[str], subject: int, relation: str) -> list[FactRecord]:
    """Every stored value of (subject, relation), oldest first, with when each held."""
    versions = fact_versions(storage, [subject])
    chosen = sorted((v for v in versions if v.relation == relation), key=_order)
    return _records(storage, versions, chosen, functional)


# -- the verbs ---------------------------------------------------------------------------------------

def as_date(value: Any, what: str = "as_of") -> date:
    """A date from a ``date``, ``datetime``, ISO string or bare year; InvalidQueryError otherwise."""
    try:
        return parse_date(value)
    except InvalidDateError as exc:
        raise InvalidQueryError(f"{what}: {exc}") from None


def _today() -> date:
    return datetime.now(timezone.utc).date()


def query_period(config: "TemporalConfig", query: Any, as_of: Any) -> Interval | None:
    """The time a query asks about: one day for ``as_of``, else a period its text names."""
    if as_of is not None:
        day = as_date(as_of)
        return Interval(day, date.fromordinal(day.toordinal() + 1))
    if config.query_dates and isinstance(query, str):
        return period_in_query(query)
    return None


def _subject_key(storage: Storage, subject: Any) -> int:
    check_argument(subject, "subject")
    key = storage.graph.entity_key(normalize_phrase(subject))
    if key is None:
        raise UnknownEntityError(f"no entity named {subject!r}")
    return key


def facts(view: "ReadView", subject: str | None = None, relation: str | None = None,
          as_of: Any = None) -> list[FactRecord]:
    """The facts that hold at ``as_of`` (default: today); see :meth:`memory.MemoryStore.facts`."""
    when = as_date(as_of) if as_of is not None else _today()
    key = _subject_key(view.storage, subject) if subject is not None else None
    if relation is not None:
        check_argument(relation, "relation")
    functional = functional_relations(view.storage, view.core.config.temporal)
    return facts_at(view.storage, functional, when, key, normalize_relation(relation) if relation else None)


def history(view: "ReadView", subject: str, relation: str) -> list[FactRecord]:
    """Every value (subject, relation) has had, oldest first; see :meth:`memory.MemoryStore.history`."""
    check_argument(relation, "relation")
    functional = functional_relations(view.storage, view.core.config.temporal)
    return timeline(view.storage, functional, _subject_key(view.storage, subject), normalize_relation(relation))


@dataclass(frozen=True)
class UpdateReport:
    """What ``update`` did.

    Attributes
    ----------
    document_id : str
        The update's own source document (``forget`` it to undo the update).
    closed : list of FactRecord
        The values the update ended (their ``valid_to`` is now ``at``).
    opened : FactRecord
        The new value.
    generation : int
        The store generation the update committed.
    """

    document_id: str
    closed: list[FactRecord]
    opened: FactRecord
    generation: int = 0


def update(core: "StoreCore", subject: str, relation: str, new_object: str, at: Any) -> UpdateReport:
    """Rewrite a fact from date ``at`` on, keeping history; see :meth:`memory.MemoryStore.update`."""
    from .indexing import suppression_digest
    from .ingest import write_documents

    for name, value in (("subject", subject), ("relation", relation), ("new_object", new_object)):
        check_argument(value, name)
        if not normalize_phrase(value):
            raise InvalidQueryError(f"{name} must be a non-empty string with letters or digits")
    when = as_date(at, "at")
    relation = normalize_relation(relation)
    if normalize_phrase(subject) == normalize_phrase(new_object):
        raise InvalidQueryError("an update cannot make an entity its own value (subject and new_object name "
                                "the same entity)")
    doc = Document(text=f"{subject} {relation} {new_object}.",
                   id=f"update/{content_hash(subject, relation, new_object, when.isoformat())[:20]}",
                   metadata={"valid_from": when.isoformat(),
                             "update": {"subject": subject, "relation": relation, "object": new_object}})
    stated = Extraction.build([subject, new_object], [(subject, relation, new_object)])
    closed_before: set[str] = set()

    def also(indexer: Any) -> None:  # under the write lock: what held just before
        storage = indexer.storage
        triple = (normalize_phrase(subject), relation, normalize_phrase(new_object))
        if ({suppression_digest("entity", triple[0]), suppression_digest("entity", triple[2])}
                & storage.meta.suppressed("entity")
                or suppression_digest("fact", *triple) in storage.meta.suppressed("fact")):
            raise InvalidQueryError("that entity or fact was forgotten: an update cannot bring it back "
                                    "(nothing was written)")
        key = storage.graph.entity_key(normalize_phrase(subject))
        if key is not None:
            functional = functional_relations(storage, core.config.temporal) | {relation}
            closed_before.update(r.object for r in facts_at(storage, functional, when, key, relation))
        storage.graph.add_functional_relation(relation)

    outcome = write_documents(core, "update", [doc], [stated], also=also)
    with core.view() as view:
        records = history(view, subject, relation)
    closed = [r for r in records if r.object in closed_before and r.valid_to == when.isoformat()]
    opened = next(r for r in records if r.object == normalize_phrase(new_object)
                  and r.valid_from == when.isoformat())
    logger.info("update: %s %s -> %s at %s (closed %d)", content_hash(subject)[:8], relation,
                content_hash(new_object)[:8], when, len(closed))
    return UpdateReport(doc.id or "", closed, opened, outcome.generation)
