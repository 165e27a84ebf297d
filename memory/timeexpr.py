"""Dates, validity intervals and the time expressions of English text.

An :class:`Interval` is half-open, ``[start, end)``, with ``None`` for an open
end; dates are :class:`datetime.date`. A bare year ``2015`` covers
``[2015-01-01, 2016-01-01)``, a month ``March 2020`` covers that month.

:func:`time_expressions` finds what a sentence says about when it holds:

===================================  =========================================
text                                  interval
===================================  =========================================
"from 2001 to 2005", "2001-2005",     [2001-01-01, 2006-01-01)
"between 2001 and 2005"
"since 2019", "as of 2019"            [2019-01-01, open)
"until March 2020", "till 2020"       [open, 2020-04-01)
"in 2015", "on 5 March 2015", "2015"  [2015-01-01, open): from then on, until
                                      a later value replaces it
"former", "formerly", "ex-"           [open, reference date) when the
                                      document has a date, else ignored
===================================  =========================================
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from .errors import InvalidDocumentError, MemoryStoreError

__all__ = ["Interval", "TimeExpression", "InvalidDateError", "parse_date", "parse_period",
           "parse_written_period", "split_sentences", "time_expressions", "sentence_interval", "text_interval",
           "date_in_query", "period_in_query", "mentioned_periods", "document_interval", "reference_date"]


class InvalidDateError(MemoryStoreError, ValueError):
    """A date, year or interval that cannot be read."""


@dataclass(frozen=True)
class Interval:
    """A half-open validity interval ``[start, end)``; ``None`` is an open end.

    >>> Interval(date(2001, 1, 1), date(2006, 1, 1)).contains(date(2005, 12, 31))
    True
    >>> Interval(None, date(2001, 1, 1)).contains(date(2001, 1, 1))
    False
    """

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidDateError(f"interval ends ({self.end}) before it starts ({self.start})")

    @property
    def is_open(self) -> bool:
        """True when neither end is known (valid at every date)."""
        return self.start is None and self.end is None

    def contains(self, when: date) -> bool:
        """Whether ``when`` lies in the interval."""
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)

    def overlaps(self, other: "Interval") -> bool:
        """Whether the two intervals share a date.

        >>> Interval(date(2001, 1, 1), date(2005, 1, 1)).overlaps(Interval(date(2005, 1, 1), None))
        False
        """
        return ((self.start is None or other.end is None or self.start < other.end)
                and (other.start is None or self.end is None or other.start < self.end))

    def to_strings(self) -> tuple[str | None, str | None]:
        """ISO strings for storage."""
        return (self.start.isoformat() if self.start else None,
                self.end.isoformat() if self.end else None)

    @classmethod
    def from_strings(cls, start: str | None, end: str | None) -> "Interval":
        """Inverse of :meth:`to_strings`."""
        return cls(date.fromisoformat(start) if start else None,
                   date.fromisoformat(end) if end else None)


def _next_day(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _month_end(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DATE_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD, 'March 29, 2020', '29 March 2020' or 'March 2020'"


def parse_period(value: Any) -> Interval:
    """The period a date value names: a year, a month or a day.

    Reads ``date`` and ``datetime`` objects (their day), a year as an int, and
    strings: ISO (``2015``, ``2020-03``, ``2020-03-05``, ``2020-03-05T10:30``) or
    written English dates ("March 29, 2020", "29 March 2020", "Mar. 2020"), the
    forms :func:`time_expressions` reads in text. Nothing else: no relative dates
    ("yesterday"), seasons or numeric day/month orders ("01/02/2020"), which are
    ambiguous; they raise :class:`InvalidDateError`.

    >>> parse_period("2015")
    Interval(start=datetime.date(2015, 1, 1), end=datetime.date(2016, 1, 1))
    >>> parse_period("2020-03-05").end
    datetime.date(2020, 3, 6)
    >>> parse_period("March 29, 2020").to_strings()
    ('2020-03-29', '2020-03-30')
    >>> parse_period("Mar 2020").to_strings()
    ('2020-03-01', '2020-04-01')
    """
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return Interval(value, _next_day(value))
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidDateError(f"expected a date, a year or a date string, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > 64:
        raise InvalidDateError(f"cannot read {text[:40]!r}... as a date (use {_DATE_FORMS})")
    match = _ISO.match(text)
    if not match and _ISO_TIME.match(text):
        try:
            day = datetime.fromisoformat(text).date()
        except ValueError as exc:
            raise InvalidDateError(f"cannot read {text!r} as a date ({exc})") from None
        return Interval(day, _next_day(day))
    if not match:
        if re.fullmatch(_DATE, text.rstrip("."), re.I) and not re.fullmatch(r"\d+", text):
            return _read_date(text, strict=True)
        hint = ("; numeric day/month orders are ambiguous, write 2020-01-02 or 2 January 2020"
                if re.fullmatch(r"\d{1,2}[/.]\d{1,2}[/.]\d{2,4}", text) else "")
        raise InvalidDateError(f"cannot read {text!r} as a date (use {_DATE_FORMS}){hint}")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        if month is None:
            return Interval(date(year, 1, 1), date(year + 1, 1, 1))
        if day is None:
            return Interval(date(year, month, 1), _month_end(year, month))
        start = date(year, month, day)
    except ValueError as exc:
        raise InvalidDateError(f"cannot read {text!r} as a date ({exc})") from None
    return Interval(start, _next_day(start))


def parse_date(value: Any) -> date:
    """The first day of the period a value names (``"2015"`` -> 2015-01-01).

    >>> parse_date("2019-06")
    datetime.date(2019, 6, 1)
    """
    start = parse_period(value).start
    assert start is not None
    return start


# -- time expressions in text ---------------------------------------------------------------

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTH = r"(?:%s)\.?" % "|".join(sorted((m for m in _MONTHS), key=len, reverse=True))
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})"
# a date: "5 March 2015", "March 5, 2015", "March 2015", "2015-03-05", "2015"
_DATE = (rf"(?:\d{{1,2}}\s+{_MONTH}\s+{_YEAR}|{_MONTH}\s+\d{{1,2}}\s*,?\s+{_YEAR}|{_MONTH}\s+{_YEAR}"
         rf"|{_YEAR}-\d{{2}}-\d{{2}}|{_YEAR})")
_D = rf"(?<![\d,.$£€])({_DATE})(?![\d,]\d|\s*%)"
# the end of a range: a date, a two-digit year ("2006-07") or "present"
_END = rf"(?<![\d,.$£€])({_DATE}|\d{{2}}|present|now|today)(?![\d,]\d|\s*%)"
_FULL_END = rf"(?<![\d,.$£€])({_DATE}|present|now|today)(?![\d,]\d|\s*%)"  # no "07"
_DASH = r"\s*(?:-|–|—)\s*"
_PATTERNS = [
    ("range", re.compile(rf"\b(?:from|between)\s+{_D}\s*(?:to|until|till|and|-|–|—)\s*{_END}", re.I)),
    ("range", re.compile(rf"{_D}{_DASH}{_END}", re.I)),
    ("range", re.compile(rf"{_D}\s+(?:to|until|till|through)\s+{_FULL_END}", re.I)),
    ("since", re.compile(rf"\b(?:since|as of|starting in|beginning in|from)\s+{_D}", re.I)),
    ("until", re.compile(rf"\b(?:until|till|up to|through|before)\s+{_D}", re.I)),
    ("point", re.compile(_D, re.I)),
]
_FORMER = re.compile(r"\b(?:former|formerly|ex-|previously|once)\b", re.I)


@dataclass(frozen=True)
class TimeExpression:
    """A time expression found in text: its kind, character span and interval."""

    kind: str
    start_char: int
    end_char: int
    text: str
    interval: Interval


def _read_date(text: str, strict: bool = False) -> Interval:
    """The period of a date matched by ``_DATE``; an impossible day gives its month unless ``strict``."""
    text = text.strip().rstrip(".")
    if re.fullmatch(rf"{_YEAR}(?:-\d{{2}}-\d{{2}})?", text):
        return parse_period(text)
    words = re.findall(r"[A-Za-z]+|\d+", text)
    year = int(next(w for w in reversed(words) if len(w) == 4 and w.isdigit()))
    month = next((_MONTHS[w.lower()] for w in words if w.lower() in _MONTHS), None)
    day = next((int(w) for w in words if w.isdigit() and len(w) <= 2), None)
    if month is None:
        return parse_period(str(year))
    if day is None:
        return parse_period(f"{year}-{month:02d}")
    try:
        return parse_period(f"{year}-{month:02d}-{day:02d}")
    except InvalidDateError:
        if strict:
            raise
        return parse_period(f"{year}-{month:02d}")


def parse_written_period(text: str) -> Interval:
    """The period a written date names (the same as :func:`parse_period`, kept for callers).

    >>> parse_written_period("March 30, 2021").to_strings()
    ('2021-03-30', '2021-03-31')
    """
    return parse_period(text)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, for reading what each one says about time.

    A sentence ends at a line break, or at ``.``, ``!`` or ``?`` followed by white
    space and a capital letter, a digit, a quote or a parenthesis (so "e.g. the"
    or "approx. five" do not end one). Empty pieces are dropped; sentences are not
    stripped, so they are substrings of ``text``.

    >>> split_sentences("Smith coached Ajax from 2001 to 2005. He left, e.g. for Spain.\\nJones came.")
    ['Smith coached Ajax from 2001 to 2005.', 'He left, e.g. for Spain.', 'Jones came.']
    >>> split_sentences("  \\n\\n")
    []
    """
    return [piece for piece in _SENTENCE.split(text) if piece.strip()]


def _range_end(first: Interval, text: str) -> date | None:
    """The (exclusive) end of a range: "present" is open; "07" after 2006 is 2007."""
    if text.lower() in ("present", "now", "today"):
        return None
    if re.fullmatch(r"\d{2}", text):
        assert first.start is not None
        century = first.start.year // 100 * 100
        year = century + int(text)
        if year < first.start.year:
            year += 100
        return date(year + 1, 1, 1)
    return _read_date(text).end


def _interval_of(kind: str, match: re.Match[str]) -> Interval:
    groups = [g for g in match.groups() if g]
    first = _read_date(groups[0])
    if kind == "range":
        return Interval(first.start, _range_end(first, groups[1]))
    if kind in ("since", "point"):
        return Interval(first.start, None)
    before = match.group(0).lower().startswith("before")  # "before 2020" ends at 2020, "until 2020" after
    return Interval(None, first.start if before else first.end)


def time_expressions(text: str, reference: date | None = None) -> list[TimeExpression]:
    """Every time expression of ``text``, left to right, without overlaps.

    Parameters
    ----------
    text : str
    reference : date, optional
        The document's own date, which "former" refers to.

    Examples
    --------
    >>> [(e.kind, e.interval.to_strings()) for e in time_expressions("He coached Ajax from 2001 to 2005.")]
    [('range', ('2001-01-01', '2006-01-01'))]
    >>> [e.kind for e in time_expressions("Since 2019 she has led it, until March 2020.")]
    ['since', 'until']
    """
    found: list[TimeExpression] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            try:
                interval = _interval_of(kind, match)
            except InvalidDateError:
                continue  # "from 2005 to 2001": not a usable interval
            taken.append(span)
            found.append(TimeExpression(kind, span[0], span[1], match.group(0), interval))
    if reference is not None:
        for match in _FORMER.finditer(text):
            if not any(match.start() < end and start < match.end() for start, end in taken):
                found.append(TimeExpression("former", match.start(), match.end(), match.group(0),
                                            Interval(None, reference)))
    return sorted(found, key=lambda e: e.start_char)


def sentence_interval(text: str, reference: date | None = None) -> Interval:
    """The interval a sentence states: the first range, since/until pair or date it names.

    A "since" and an "until" in one sentence combine; several dates take the first.
    No expression gives the open interval.

    >>> sentence_interval("Smith was the coach of Ajax since 2019 until March 2020.").to_strings()
    ('2019-01-01', '2020-04-01')
    >>> sentence_interval("Paris is the capital of France.").is_open
    True
    """
    expressions = time_expressions(text, reference)
    if not expressions:
        return Interval()
    start = next((e.interval.start for e in expressions if e.interval.start is not None), None)
    ranged = next((e for e in expressions if e.kind == "range"), None)
    if ranged is not None:
        return ranged.interval
    end = next((e.interval.end for e in expressions if e.kind in ("until", "former")), None)
    try:
        return Interval(start, end)
    except InvalidDateError:
        return Interval(start, None)


_QUERY_DATE = re.compile(rf"\b(?:in|during|as of|on|at|by|around)\s+{_D}", re.I)


def period_in_query(query: str) -> Interval | None:
    """The period a query asks about, or None.

    A range ("from 1811 to 1827") gives the range; a date introduced by a preposition
    ("in 2015", "as of March 2019") gives the period it names. A bare date without
    a preposition ("the 2015 final") is not read as a time constraint.

    >>> period_in_query("Who owned the house from 1811 to 1827?").to_strings()
    ('1811-01-01', '1828-01-01')
    >>> period_in_query("Who won the 2015 final?") is None
    True
    """
    for kind, pattern in _PATTERNS:
        match = pattern.search(query) if kind == "range" else None
        if match:
            try:
                return _interval_of("range", match)
            except InvalidDateError:
                pass
    match = _QUERY_DATE.search(query)
    return _read_date(match.group(1)) if match else None


def date_in_query(query: str) -> date | None:
    """The first day of :func:`period_in_query` ("... in 2015" -> 2015-01-01), or None.

    >>> date_in_query("Who coached Ajax in 2015?")
    datetime.date(2015, 1, 1)
    >>> date_in_query("Who owned the house from 1811 to 1827?")
    datetime.date(1811, 1, 1)
    """
    period = period_in_query(query)
    return period.start if period is not None else None


def mentioned_periods(text: str) -> list[Interval]:
    """The periods a text mentions, each as itself: a bare date is the period it names.

    Unlike :func:`sentence_interval`, which reads "in 1954" as holding from 1954 on,
    this is what the text talks *about*, for preferring passages about an asked time.

    >>> [p.to_strings() for p in mentioned_periods("Todd edited it in 1923, Settle from 1926 to 1935.")]
    [('1923-01-01', '1924-01-01'), ('1926-01-01', '1936-01-01')]
    """
    return [_read_date(e.text) if e.kind == "point" else e.interval for e in time_expressions(text)]


def text_interval(text: str) -> Interval:
    """The span of time a passage talks about: from its earliest to its latest stated time.

    Each sentence's interval is read as for facts (a bare date holds from then on);
    the passage covers from the earliest start (open if a sentence has an open start)
    to the latest end (open if one has an open end). No time expression: open.

    >>> text_interval("In 1954 Gibson bought the house.").to_strings()
    ('1954-01-01', None)
    >>> text_interval("Smith coached Ajax from 2001 to 2005. Jones from 2006 to 2008.").to_strings()
    ('2001-01-01', '2009-01-01')
    """
    intervals = [sentence_interval(s) for s in split_sentences(text)]
    intervals = [i for i in intervals if not i.is_open]
    if not intervals:
        return Interval()
    starts = [i.start for i in intervals]
    ends = [i.end for i in intervals]
    return Interval(None if None in starts else min(s for s in starts if s is not None),
                    None if None in ends else max(e for e in ends if e is not None))


# -- documents -------------------------------------------------------------------------------

def document_interval(metadata: Mapping[str, Any], position: int | str = "?") -> Interval:
    """A document's own interval: ``valid_from`` (else ``date``) to the end of ``valid_to``.

    >>> document_interval({"valid_from": 2001, "valid_to": "2005"}).to_strings()
    ('2001-01-01', '2006-01-01')
    """
    try:
        start_value = metadata.get("valid_from", metadata.get("date"))
        start = parse_period(start_value).start if start_value is not None else None
        end = parse_period(metadata["valid_to"]).end if metadata.get("valid_to") is not None else None
        return Interval(start, end)
    except InvalidDateError as exc:
        raise InvalidDocumentError(f"document {position}: {exc}") from None


def reference_date(metadata: Mapping[str, Any]) -> date | None:
    """The document's own date (what "former" refers to), if it has one."""
    value = metadata.get("date")
    return parse_period(value).start if value is not None else None
