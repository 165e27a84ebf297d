"""Time in the store: document and fact validity, timelines, and what holds at a date.

Stored intervals are what the sources say (a document's ``valid_from`` /
``valid_to`` / ``date`` fields; a fact's sentence, see :mod:`memory.timeexpr`).
What holds *at* a date is computed from them at query time, so ingesting out of
order, or forgetting a document, never leaves a stale closed interval behind:

- a fact holds at ``t`` when its own interval contains ``t`` and, for a
  *functional* relation (one object at a time), no other object of the same
  subject and relation started later than it and no later than ``t``;
- a document holds at ``t`` when its own interval contains ``t`` and (with
  ``title_timelines``) no later-dated document with the same title started by ``t``.

A relation is functional when configured, when :meth:`MemoryStore.update` was used on
it, or when learned from the data (:func:`learned_functional_relations`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping

from .db import Database
from .extract.base import normalize_phrase
from .timeexpr import Interval, sentence_interval

__all__ = ["fact_intervals",
           "FactVersion", "fact_versions", "holding_facts", "holding_documents_excluded",
           "learned_functional_relations", "effective_end", "TimeSlice", "time_slice",
           "functional_relations"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def fact_intervals(text: str, triples: Iterable[tuple[str, str, str]], default: Interval,
                   reference: date | None) -> list[Interval]:
    """The interval of each triple: that of the first sentence naming both its ends.

    A sentence without time expressions, or a triple found in no single sentence,
    takes the document's interval (``default``).
    """
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
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


@dataclass(frozen=True)
class FactVersion:
    """One stored value of a (subject, relation): its object, own interval and support."""

    key: int
    subject: int
    relation: str
    object: int
    interval: Interval
    recorded_at: str


def fact_versions(db: Database, subjects: Iterable[int] | None = None) -> list[FactVersion]:
    """Stored facts (of the given subjects, or all) with their intervals and first-recorded time."""
    sql = ("SELECT f.key, f.subject, f.relation, f.object, f.valid_from, f.valid_to, "
           "min(d.recorded_at) FROM facts f JOIN fact_sources s ON s.fact = f.key "
           "JOIN documents d ON d.key = s.document")
    if subjects is None:
        rows = db.query(sql + " GROUP BY f.key")
    else:
        rows = db.select_in(sql + " WHERE f.subject IN ({marks}) GROUP BY f.key", list(subjects))
    return [FactVersion(k, s, r, o, Interval.from_strings(vf, vt), at) for k, s, r, o, vf, vt, at in rows]


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
        dated = {}
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


def holding_documents_excluded(db: Database, period: Interval, title_timelines: bool,
                               passage_text_time: bool) -> set[int]:
    """Keys of the documents that do *not* hold during ``period`` (usually the smaller set).

    A document is kept when its own interval (its fields; else, with
    ``passage_text_time``, the span its text talks about) overlaps the period, and,
    with ``title_timelines``, no later-dated document of the same title started by
    the period's start.
    """
    def disjoint(start_column: str, end_column: str) -> tuple[str, list[str]]:
        clauses, params = [], []
        if period.end is not None:
            clauses.append(f"({start_column} IS NOT NULL AND {start_column} >= ?)")
            params.append(period.end.isoformat())
        if period.start is not None:
            clauses.append(f"({end_column} IS NOT NULL AND {end_column} <= ?)")
            params.append(period.start.isoformat())
        return " OR ".join(clauses) or "0", params

    fields, params = disjoint("valid_from", "valid_to")
    excluded = {r[0] for r in db.query(f"SELECT key FROM documents WHERE {fields}", params)}
    if passage_text_time:
        text, params = disjoint("text_valid_from", "text_valid_to")
        excluded.update(r[0] for r in db.query(
            f"SELECT key FROM documents WHERE valid_from IS NULL AND valid_to IS NULL AND ({text})",
            params))
    if title_timelines and period.start is not None:
        # a dated, open-ended document is superseded by a later-dated one with the same title
        excluded.update(r[0] for r in db.query(
            "SELECT d.key FROM documents d WHERE d.title != '' AND d.valid_from IS NOT NULL "
            "AND d.valid_to IS NULL AND EXISTS (SELECT 1 FROM documents e WHERE e.title = d.title "
            "AND e.valid_from IS NOT NULL AND e.valid_from > d.valid_from AND e.valid_from <= ?)",
            (period.start.isoformat(),)))
    return excluded


@dataclass(frozen=True)
class TimeSlice:
    """What retrieval may see at one date.

    Attributes
    ----------
    when : date
        The date facts are read at (the period's start).
    period : Interval
        The time asked about (one day for an explicit ``as_of``).
    excluded_documents : set of int
        Passages that do not hold at ``when``.
    holding_facts : set of int
        Facts that hold at ``when``.
    removed_fact_weight : dict
        ``(subject, object) -> support`` of the facts that do not hold, to take off
        the graph's fact edges.
    """

    when: date
    period: Interval
    excluded_documents: frozenset[int]
    holding_facts: frozenset[int]
    removed_fact_weight: Mapping[tuple[int, int], float]


def time_slice(db: Database, period: Interval, functional: set[str], title_timelines: bool,
               passage_text_time: bool) -> TimeSlice:
    """Compute the :class:`TimeSlice` of the store for ``period`` (facts at its start)."""
    when = period.start or date.min
    versions = fact_versions(db)
    holding = holding_facts(versions, when, functional)
    support = dict(db.query("SELECT fact, count(*) FROM fact_sources GROUP BY fact"))
    removed: dict[tuple[int, int], float] = defaultdict(float)
    for version in versions:
        if version.key not in holding:
            removed[(version.subject, version.object)] += support.get(version.key, 0)
    excluded = holding_documents_excluded(db, period, title_timelines, passage_text_time)
    return TimeSlice(when, period, frozenset(excluded), frozenset(holding), dict(removed))


def functional_relations(db: Database, configured: Iterable[str], learn: bool,
                         min_subjects: int) -> set[str]:
    """Configured relations, relations :meth:`MemoryStore.update` was used on, and learned ones."""
    relations = set(configured) | {r[0] for r in db.query("SELECT relation FROM functional_relations")}
    if learn:
        relations |= learned_functional_relations(fact_versions(db), min_subjects)
    return relations
