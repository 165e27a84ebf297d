"""Time in the store: intervals from documents and text, timelines, update, history, as_of."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from memory import StoreConfig, TemporalConfig
from memory.cli import main as cli_main
from memory.dump import dump_lines
from memory.errors import ConfigError, InvalidDocumentError, InvalidQueryError, UnknownEntityError
from memory.temporal import FactVersion, holding_facts, learned_functional_relations
from memory.timeexpr import Interval
from .helpers import location, rows

from .conftest import BOTH_BACKENDS

BACKENDS = BOTH_BACKENDS


def _version(key: int, subject: int, obj: int, start: str | None, end: str | None = None,
             relation: str = "coach") -> FactVersion:
    return FactVersion(key, subject, relation, obj, Interval.from_strings(start, end), "t")


def test_functional_timeline_ends_each_value_at_the_next_start_whatever_the_order() -> None:
    # stored out of order: the 2019 value first, then 2010, then an undated one
    versions = [_version(1, 1, 30, "2019-01-01"), _version(2, 1, 10, "2010-01-01"),
                _version(3, 1, 5, None)]
    at = {year: holding_facts(versions, date(year, 6, 1), {"coach"}) for year in (2005, 2012, 2020)}
    assert at == {2005: {3}, 2012: {2}, 2020: {1}}
    # not functional: every value whose own interval contains the date holds
    assert holding_facts(versions, date(2020, 6, 1), set()) == {1, 2, 3}


def test_explicit_ends_and_open_starts() -> None:
    versions = [_version(1, 1, 10, "2001-01-01", "2006-01-01"), _version(2, 1, 11, None, "1999-01-01")]
    assert holding_facts(versions, date(2005, 12, 31), set()) == {1}
    assert holding_facts(versions, date(2006, 1, 1), set()) == set()  # half-open end
    assert holding_facts(versions, date(1950, 1, 1), set()) == {2}


def test_functional_relations_are_learned_only_from_sequential_data() -> None:
    sequential = [_version(1, 1, 10, "2001-01-01", "2005-01-01"), _version(2, 1, 11, "2005-01-01"),
                  _version(3, 2, 12, "1990-01-01"), _version(4, 2, 13, "1995-01-01")]
    assert learned_functional_relations(sequential) == {"coach"}
    assert learned_functional_relations(sequential[:2]) == set()  # one subject is not enough
    overlapping = sequential + [_version(5, 3, 14, "2001-01-01", "2010-01-01"),
                                _version(6, 3, 15, "2003-01-01", "2004-01-01")]
    assert learned_functional_relations(overlapping) == set()  # two at once for subject 3


def test_documents_carry_intervals_and_facts_read_their_sentences(make_store) -> None:
    store = make_store()
    store.ingest([
        {"id": "ajax", "text": "John Smith coached Ajax from 2001 to 2005. Ajax plays in Amsterdam."},
        {"id": "memo", "text": "Lena Park leads the Delta Unit.", "valid_from": "2019-03",
         "valid_to": 2020},
    ])
    stored = dict((r[0], r[1:]) for r in rows(store, "SELECT id, valid_from, valid_to FROM documents"))
    assert stored == {"ajax": (None, None), "memo": ("2019-03-01", "2021-01-01")}
    dated = {(f.subject, f.object): (f.valid_from, f.valid_to) for f in store.facts(as_of=2003)}
    assert dated[("john smith", "ajax")] == ("2001-01-01", "2006-01-01")
    assert all(f.object != "ajax" for f in store.facts(as_of=2010) if f.subject == "john smith")
    # the memo's fact takes the document's interval (its sentence names no time)
    assert any(f.subject == "lena park" for f in store.facts(as_of="2020-06-30"))
    assert not any(f.subject == "lena park" for f in store.facts(as_of="2021-01-01"))


def test_bad_dates_are_rejected_and_change_nothing(make_store) -> None:
    store = make_store()
    store.ingest({"id": "a", "text": "Paris is the capital of France."})
    before = list(dump_lines(store))
    with pytest.raises(InvalidDocumentError, match="valid_to|2020-13"):
        store.ingest([{"id": "b", "text": "Rome is in Italy."},
                      {"id": "c", "text": "Oslo is in Norway.", "valid_to": "2020-13"}])
    with pytest.raises(InvalidDocumentError, match="before it starts"):
        store.ingest({"id": "d", "text": "Bern is in Switzerland.", "valid_from": 2020, "valid_to": 2010})
    with pytest.raises(InvalidQueryError, match="at"):
        store.update("Paris", "capital of", "Gaul", at="last year")
    with pytest.raises(InvalidQueryError, match="as_of"):
        store.retrieve("capital of France", as_of="someday")
    with pytest.raises(UnknownEntityError):
        store.history("Atlantis", "capital of")
    assert list(dump_lines(store)) == before


def test_update_keeps_history_and_as_of_sees_each_value(make_store) -> None:
    store = make_store()
    store.ingest({"id": "club", "title": "Ajax", "text": "Ajax is a football club in Amsterdam."})
    first = store.update("Ajax", "head coach", "Frank de Boer", at="2010-12-06")
    assert first.closed == [] and first.opened.valid_from == "2010-12-06"
    second = store.update("Ajax", "head coach", "Peter Bosz", at="2016-05-26")
    assert [(r.object, r.valid_to) for r in second.closed] == [("frank de boer", "2016-05-26")]
    # same-year change: a value that lasted months
    store.update("Ajax", "head coach", "Marcel Keizer", at="2017-07-01")
    store.update("Ajax", "head coach", "Erik ten Hag", at="2017-12-28")
    history = store.history("Ajax", "head coach")
    assert [(r.object, r.valid_from, r.valid_to) for r in history] == [
        ("frank de boer", "2010-12-06", "2016-05-26"),
        ("peter bosz", "2016-05-26", "2017-07-01"),
        ("marcel keizer", "2017-07-01", "2017-12-28"),
        ("erik ten hag", "2017-12-28", None),
    ]
    assert history[0].retracted_at is not None and history[-1].retracted_at is None

    def coach(when: str | None = None) -> list[str]:
        return [f.object for f in store.facts("Ajax", "head coach", as_of=when)]

    assert coach("2009") == [] and coach("2012") == ["frank de boer"]
    assert coach("2017-09") == ["marcel keizer"] and coach() == ["erik ten hag"]
    # forgetting an update is undoing it: the earlier value holds again, history intact
    store.forget(history[-1].sources[0])
    assert coach() == ["marcel keizer"]
    assert [r.object for r in store.history("Ajax", "head coach")][:3] == [
        "frank de boer", "peter bosz", "marcel keizer"]
    audit = [r[0] for r in rows(store, "SELECT action FROM audit ORDER BY seq")]
    assert audit.count("update") == 4


def test_ingesting_a_newer_value_of_a_functional_relation_closes_the_old(make_store) -> None:
    docs = [{"id": "new", "text": "The Delta Unit has been led by Maria Lopez since 2019."},  # newer first
            {"id": "old", "text": "The Delta Unit was led by Tom Berg from 2012."}]

    def leaders(store, when: str) -> set[str]:
        return {f.object for f in store.facts("Delta Unit", "lead by", as_of=when)}

    functional = make_store("functional", config=StoreConfig(
        temporal=TemporalConfig(functional_relations=("Lead  BY",), learn_functional=False)))
    functional.ingest(docs)
    assert leaders(functional, "2015") == {"tom berg"} and leaders(functional, "2020") == {"maria lopez"}
    assert [(r.object, r.valid_to) for r in functional.history("Delta Unit", "lead by")] == [
        ("tom berg", "2019-01-01"), ("maria lopez", None)]
    plain = make_store("plain", config=StoreConfig(temporal=TemporalConfig(learn_functional=False)))
    plain.ingest(docs)
    assert leaders(plain, "2020") == {"tom berg", "maria lopez"}  # not functional: both hold


def test_as_of_retrieval_hides_passages_and_facts_that_do_not_hold(make_store) -> None:
    store = make_store()
    store.ingest([
        {"id": "v1", "title": "Acme CEO", "text": "The chief executive of Acme is Ann Lee.",
         "valid_from": 2001},
        {"id": "v2", "title": "Acme CEO", "text": "The chief executive of Acme is Raj Patel.",
         "valid_from": 2012},
        {"id": "other", "text": "Acme makes anvils in Springfield."},
    ])
    def ids(**kwargs) -> list[str]:
        return [h.doc_id for h in store.retrieve("Who is the chief executive of Acme?", top_k=3, **kwargs)]

    for mode in ("hipporag", "dense", "bm25", "hybrid"):
        assert "v2" not in ids(mode=mode, as_of=2005), mode
        assert "v1" not in ids(mode=mode, as_of=2015), mode  # superseded by the later version
        assert "v1" not in ids(mode=mode, as_of=1990) and "v2" not in ids(mode=mode, as_of=1990)
    assert set(ids()) >= {"v1", "v2"}  # no date: everything
    # a date named in the query is used when as_of is not given
    hits = store.retrieve("Who was the chief executive of Acme in 2005?", top_k=3)
    assert store.last_query.as_of == date(2005, 1, 1) and "v2" not in [h.doc_id for h in hits]
    # the explanation of an as-of hit never walks through a passage that does not hold
    for hit in store.retrieve("Who is the chief executive of Acme?", top_k=3, as_of=2015):
        assert "v1" not in str(hit.explain())


def test_forgetting_dated_documents_is_exact(make_store) -> None:
    docs_a = [{"id": "a1", "text": "Ann Lee led Acme from 2001 to 2011."},
              {"id": "a2", "text": "Acme makes anvils in Springfield.", "date": "2020-05-01"}]
    doc_b = {"id": "b", "text": "Raj Patel has led Acme since 2012. The former chief was Ann Lee.",
             "date": "2013"}
    only_a = make_store("a")
    only_a.ingest(docs_a)
    both = make_store("ab")
    both.ingest(docs_a[:1])
    both.ingest(doc_b)
    both.ingest(docs_a[1:])
    both.forget("b")
    assert list(dump_lines(both)) == list(dump_lines(only_a))


def test_cli_update_history_facts_and_query_as_of(make_store, capsys) -> None:
    store = make_store()
    store.ingest({"id": "club", "title": "Ajax", "text": "Ajax is a football club in Amsterdam."})
    path = location(store)
    store.close()
    assert cli_main(["update", "--store", path, "--subject", "Ajax", "--relation", "head coach",
                     "--object", "Peter Bosz", "--at", "2016-05-26"]) == 0
    assert cli_main(["update", "--store", path, "--subject", "Ajax", "--relation", "head coach",
                     "--object", "Erik ten Hag", "--at", "2017-12-28", "--json"]) == 0
    capsys.readouterr()
    assert cli_main(["history", "--store", path, "--subject", "Ajax", "--relation", "head coach",
                     "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(r["object"], r["valid_to"]) for r in history] == [("peter bosz", "2017-12-28"),
                                                              ("erik ten hag", None)]
    assert cli_main(["facts", "--store", path, "--subject", "Ajax", "--as-of", "2017"]) == 0
    assert "peter bosz" in capsys.readouterr().out
    assert cli_main(["query", "--store", path, "Who coaches Ajax?", "--as-of", "1999", "--json"]) == 0
    assert all(h["doc_id"] == "club" for h in json.loads(capsys.readouterr().out))
    assert cli_main(["update", "--store", path, "--subject", "Ajax", "--relation", "coach",
                     "--object", "X", "--at", "soon"]) == 2
    assert "cannot read 'soon'" in capsys.readouterr().err


def test_passages_are_hidden_by_their_text_dates_and_those_about_the_period_come_first(make_store) -> None:
    docs = [{"id": "todd", "text": "Dorothy Todd edited British Vogue from 1923 to 1926."},
            {"id": "settle", "text": "Alison Settle was editor of British Vogue from 1926 to 1935."},
            {"id": "since", "text": "Since 1992 the magazine has kept its London office."},
            {"id": "about", "text": "British Vogue is a fashion magazine edited in London."}]
    store = make_store("text", StoreConfig(temporal=TemporalConfig(period_rerank_depth=4)))
    store.ingest(docs)
    question = "Who edited British Vogue?"
    for mode in ("hipporag", "dense", "bm25"):
        hits = store.retrieve(question + " in 1924", top_k=4, mode=mode)
        assert hits[0].doc_id == "todd", mode  # the one passage about 1924 comes first
        assert {h.doc_id for h in hits} == {"todd", "about"}, mode  # Settle's and the 1992 one talk of other times
        assert "mentions the asked period" in hits[0].explain().summary
        assert "mentions the asked period" not in hits[1].explain().summary
        assert [h.rank for h in hits] == [1, 2]
        # an explicit as_of filters the same way but does not reorder by what passages mention
        assert {h.doc_id for h in store.retrieve(question, top_k=4, mode=mode, as_of=1924)} == {"todd", "about"}
        assert not any("mentions the asked period" in h.explain().summary
                       for h in store.retrieve(question, top_k=4, mode=mode, as_of=1924))
    named = store.retrieve("Who edited British Vogue in 1930?", top_k=4, mode="dense")
    assert named[0].doc_id == "settle" and "todd" not in {h.doc_id for h in named}
    assert {h.doc_id for h in store.retrieve(question, top_k=4, mode="dense", as_of=2000)} == {"since", "about"}
    assert len(store.retrieve(question, top_k=4, mode="dense")) == 4  # no time: everything
    plain = make_store("plain", StoreConfig(temporal=TemporalConfig(passage_text_time=False,
                                                                   period_rerank_depth=0)))
    plain.ingest(docs)
    assert len(plain.retrieve(question, top_k=4, mode="dense", as_of=1924)) == 4


def test_assigning_the_config_changes_how_the_store_reads_time(make_store):
    store = make_store()
    store.ingest([{"id": "old", "text": "Ann Lee was the mayor of Brill.", "valid_from": "2001-01-01",
                   "valid_to": "2010-01-01"},
                  {"id": "new", "text": "Bob Stone was the mayor of Brill.", "valid_from": "2010-01-01"}])
    asked = "Who was the mayor of Brill in 2005?"
    assert [h.doc_id for h in store.retrieve(asked, top_k=2, mode="dense")] == ["old"]
    timeless = StoreConfig(temporal=TemporalConfig(query_dates=False))
    store.config = timeless
    assert store.config is timeless
    assert sorted(h.doc_id for h in store.retrieve(asked, top_k=2, mode="dense")) == ["new", "old"]
    with pytest.raises(ConfigError, match="fixed when the store is built"):
        store.config = StoreConfig(graph=dataclasses.replace(timeless.graph, synonymy_threshold=0.5))
    with pytest.raises(ConfigError):
        store.config = {"temporal": {}}
    assert store.config is timeless
