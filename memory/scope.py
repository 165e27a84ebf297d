"""What a query may see: metadata filters (``where``) and the as-of time slice.

A :class:`Scope` is computed once per query from one consistent read view; the
retrieval modes apply it before ranking (hidden passages are never scored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .errors import InvalidQueryError
from .temporal import TimeSlice, time_slice
from .timeexpr import Interval

if TYPE_CHECKING:
    from .core import ReadView

__all__ = ["Scope", "parse_where", "query_scope"]

_SCALARS = (str, int, float, bool, type(None))


def parse_where(where: Any) -> dict[str, tuple[Any, ...]]:
    """Validate a metadata filter: ``{field: value}`` or ``{field: {"in": [values]}}``.

    Returns field -> accepted values. Documents match when, for every field, their
    metadata holds one of the accepted values (a list-valued field matches when any
    element is accepted).

    >>> parse_where({"source": "email", "year": {"in": [2019, 2020]}})
    {'source': ('email',), 'year': (2019, 2020)}
    """
    if not isinstance(where, Mapping) or not where:
        raise InvalidQueryError("where must be a non-empty dict of metadata field -> value or {'in': [values]}")
    parsed = {}
    for name, condition in where.items():
        if not isinstance(name, str) or not name:
            raise InvalidQueryError("where: field names must be non-empty strings")
        if isinstance(condition, Mapping):
            if set(condition) != {"in"} or not isinstance(condition["in"], (list, tuple)):
                raise InvalidQueryError(f"where[{name!r}]: use a value or {{'in': [values]}}")
            values = tuple(condition["in"])
        else:
            values = (condition,)
        if not all(isinstance(v, _SCALARS) for v in values):
            raise InvalidQueryError(f"where[{name!r}]: values must be strings, numbers, booleans or null")
        parsed[name] = values
    return parsed


def _matches(metadata: Mapping[str, Any], conditions: Mapping[str, tuple[Any, ...]]) -> bool:
    for name, accepted in conditions.items():
        if name not in metadata:
            if None in accepted:
                continue
            return False
        value = metadata[name]
        values = value if isinstance(value, list) else [value]
        if not any(_same(v, a) for v in values for a in accepted):
            return False
    return True


def _same(value: Any, accepted: Any) -> bool:
    # 1 == True in Python; metadata filters keep booleans and numbers apart
    return type(value) is type(accepted) and value == accepted or (
        isinstance(value, (int, float)) and isinstance(accepted, (int, float))
        and not isinstance(value, bool) and not isinstance(accepted, bool) and value == accepted)


@dataclass(frozen=True)
class Scope:
    """What a query may see: passages hidden from it, the facts it may link, fact weight off the walk."""

    excluded_documents: frozenset[int] = frozenset()
    holding_facts: frozenset[int] | None = None
    removed_fact_weight: Mapping[tuple[int, int], float] = field(default_factory=dict)
    period: Interval | None = None

    @property
    def limited(self) -> bool:
        """Whether anything is hidden."""
        return bool(self.excluded_documents or self.holding_facts is not None or self.removed_fact_weight)


def query_scope(view: "ReadView", period: Interval | None, where: Mapping[str, tuple[Any, ...]] | None) -> Scope:
    """The scope of one query: passages outside ``period`` or not matching ``where`` hidden,
    the facts holding in ``period`` and the fact weight to take off the walk (memoised per
    generation)."""
    core = view.core
    excluded: set[int] = set()
    holding: frozenset[int] | None = None
    removed: Mapping[tuple[int, int], float] = {}
    if period is not None:
        sliced: TimeSlice = core.memo(("slice", period), view,
                                      lambda: time_slice(view.storage, period, core.config.temporal))
        excluded |= sliced.excluded_documents
        holding, removed = sliced.holding_facts, sliced.removed_fact_weight
    if where:
        metadata = core.memo("metadata", view, lambda: {k: json.loads(m) for k, m in
                                                        view.storage.documents.all_metadata()})
        excluded |= {key for key, data in metadata.items() if not _matches(data, where)}
    return Scope(frozenset(excluded), holding, removed, period)
