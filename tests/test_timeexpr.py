"""The time-expression extractor on real sentences, and interval logic."""

from __future__ import annotations

from datetime import date

import pytest

from memory.timeexpr import (Interval, InvalidDateError, date_in_query, parse_period,
                             sentence_interval, time_expressions)

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
