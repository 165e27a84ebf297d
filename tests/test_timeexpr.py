"""The time-expression extractor on real sentences, and interval logic."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from memory.timeexpr import (Interval, InvalidDateError, date_in_query, parse_date, parse_period,
                             sentence_interval, split_sentences, time_expressions)

# Sentences from TimeQA's Wikipedia paragraphs (BSD-3; tokenised with spaces, as shipped),
# SituatedQA and news text, with the interval each states (ISO start, exclusive end).
REAL_SENTENCES = [
    ("The class were withdrawn between 1963 and 1968 .", ("1963-01-01", "1969-01-01")),
    ("Tsvetan Genev ( 1932–33 )", ("1932-01-01", "1934-01-01")),
    ("Juan Carlos Oliva ( 17 June 2018 – 22 October 2018 )", ("2018-06-17", "2018-10-23")),
    ("Immo Appenzeller , 1998–2000 ( interim )", ("1998-01-01", "2001-01-01")),
    ("2017-present - David W .", ("2017-01-01", None)),
    ("Finally , the building was sold to the National Trust for Historic Preservation on "
     "October 28 , 1976 .", ("1976-10-28", None)),
    ("Hartenstein took command of torpedo boat on 20 November 1938 .", ("1938-11-20", None)),
    ("In July 2010 , Air Berlin announced an increase in its shareholding in the Austrian "
     "airline Niki .", ("2010-07-01", None)),
    ("On 1 October 1965 he became team leader at the Führungsakademie der Bundeswehr , serving "
     "until 1969 , retiring with the rank of Kapitän zur See .", ("1965-10-01", "1970-01-01")),
    ("Radio 2 stopped broadcasting the weekly repeats in 1970 .", ("1970-01-01", None)),
    ("Mazzarri was made an honorary citizen of Reggio Calabria after the 2006–07 Serie A season .",
     ("2006-01-01", "2008-01-01")),
    ("He played for Arsenal from 1999 to 2003 .", ("1999-01-01", "2004-01-01")),
    ("Sánchez has been Prime Minister of Spain since June 2018.", ("2018-06-01", None)),
    ("The ban stayed in place until March 2020.", (None, "2020-04-01")),
    ("The company employed 2,500 people and its revenue grew 15% in the period.", (None, None)),
    ("Paris is the capital of France.", (None, None)),
]


@pytest.mark.parametrize("sentence, expected", REAL_SENTENCES)
def test_sentence_intervals_of_real_sentences(sentence: str, expected: tuple) -> None:
    assert sentence_interval(sentence).to_strings() == expected


def test_former_needs_a_reference_date() -> None:
    text = "The former coach of Ajax, Smith, spoke on Monday."
    assert sentence_interval(text).is_open
    assert sentence_interval(text, reference=date(2021, 5, 1)).to_strings() == (None, "2021-05-01")


def test_numbers_that_are_not_years_are_ignored() -> None:
    assert time_expressions("It cost $2015 and weighed 1,999 kg; 2019% is not a year.") == []


def test_interval_logic_open_ends_and_overlaps() -> None:
    a = Interval(date(2001, 1, 1), date(2006, 1, 1))
    since = Interval(date(2005, 6, 1), None)
    assert a.overlaps(since) and since.overlaps(a)
    assert not a.overlaps(Interval(date(2006, 1, 1), None))  # half-open: touching is not overlapping
    assert Interval().contains(date(1, 1, 1)) and Interval().overlaps(a)
    assert Interval(None, date(2001, 1, 1)).overlaps(Interval(None, date(1990, 1, 1)))
    with pytest.raises(InvalidDateError, match="before it starts"):
        Interval(date(2006, 1, 1), date(2001, 1, 1))


@pytest.mark.parametrize("bad", ["2015-13", "15/03/2020", "", "next year", 3.5, True])
def test_bad_dates_are_named(bad: object) -> None:
    with pytest.raises(InvalidDateError):
        parse_period(bad)


def test_query_dates() -> None:
    assert date_in_query("who was the prime minister of spain as of 2019") == date(2019, 1, 1)
    assert date_in_query("Which team did Rooney play for in March 2004?") == date(2004, 3, 1)
    assert date_in_query("Who won the 2015 final?") is None
    assert date_in_query("Who is the coach?") is None


# -- as_of: date objects and written dates ----------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2020-03-29", date(2020, 3, 29)), ("2020", date(2020, 1, 1)), (2020, date(2020, 1, 1)),
    ("2020-03", date(2020, 3, 1)), ("2020-3-5", date(2020, 3, 5)), ("March 29, 2020", date(2020, 3, 29)),
    ("march 29 2020", date(2020, 3, 29)), ("29 March 2020", date(2020, 3, 29)), ("Mar 2020", date(2020, 3, 1)),
    ("Mar. 2020", date(2020, 3, 1)), ("5 Mar. 2015", date(2015, 3, 5)), (" December 2019 ", date(2019, 12, 1)),
    ("2020-03-29T10:30:00", date(2020, 3, 29)), ("2020-03-29 23:59", date(2020, 3, 29)),
    (date(2020, 3, 29), date(2020, 3, 29)), (datetime(2020, 3, 29, 23, 0), date(2020, 3, 29)),
])
def test_dates_as_of_reads(value: object, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("bad", ["spring 2019", "01/02/2020", "yesterday", "3 days ago", "next thursday", "Monday",
                                 "Q1 2020", "in 2015", "banana", "1999-02-30", "March 32, 2020", "February 30, 2021",
                                 "12345", "0", "2020-03-29T25:00", "x" * 10_000, None, [2020], 2020.0])
def test_dates_as_of_refuses(bad: object) -> None:
    with pytest.raises(InvalidDateError):
        parse_date(bad)


def test_ambiguous_numeric_dates_say_why() -> None:
    with pytest.raises(InvalidDateError, match="ambiguous.*2020-01-02"):
        parse_date("01/02/2020")


def test_as_of_in_the_store_accepts_date_objects_and_written_dates(make_store) -> None:
    from memory import InvalidQueryError

    store = make_store()
    store.ingest([{"id": "old", "text": "Smith coached Ajax.", "metadata": {"valid_from": "2001", "valid_to": "2005"}},
                  {"id": "new", "text": "Jones coached Ajax.", "metadata": {"valid_from": "March 2006"}}])
    for as_of in ("2020-03-29", "March 29, 2020", date(2020, 3, 29), datetime(2020, 3, 29, 8, 0)):
        assert [h.doc_id for h in store.retrieve("Who coached Ajax?", mode="dense", as_of=as_of)] == ["new"]
    assert [h.doc_id for h in store.retrieve("Who coached Ajax?", mode="dense", as_of="May 3, 2003")] == ["old"]
    with pytest.raises(InvalidQueryError, match="as_of"):
        store.retrieve("Who coached Ajax?", as_of="01/02/2003")


# -- one sentence splitter --------------------------------------------------------------------

@pytest.mark.parametrize("text, sentences", [
    ("He played for Arsenal from 1999 to 2003. He then moved to Spain.",
     ["He played for Arsenal from 1999 to 2003.", "He then moved to Spain."]),
    ("Is it? Yes! 2005 was the year.", ["Is it?", "Yes!", "2005 was the year."]),
    ("It cost approx. five dollars, e.g. in 2019.", ["It cost approx. five dollars, e.g. in 2019."]),
    ('He said no. "Why?" He left. (Nobody knew.)', ["He said no.", '"Why?" He left.', "(Nobody knew.)"]),
    ("Line one\nLine two\n\n\nLine three", ["Line one", "Line two", "Line three"]),
    ("", []), ("  \n \n", []),
])
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences
    assert all(s in text for s in split_sentences(text))
