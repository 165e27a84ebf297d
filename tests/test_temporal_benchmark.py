"""The temporal benchmark (eval.temporal / eval.temporal_data) on generated fixtures.

The shared-data checks at the end skip cleanly when ../shared/data is absent.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from eval.datasets import shared_data_dir
from eval.temporal import main
from eval.temporal_data import load_situatedqa, load_timeqa, values_during


def _start(year: int, month: int | None = None) -> dict:
    return {"year": year, "month": month, "date": None}


# Three SituatedQA-style questions: a coach who changed twice, a mayor who changed once,
# and a capital that never changed.
TIMELINES = [
    {"id": 1, "question": "who is the head coach of the rovers",
     "timelines": [{"prev_answers": ["Ann Lee"], "prev_start": _start(2008),
                    "cur_answers": ["Raj Patel"], "cur_start": _start(2014, 3)},
                   {"prev_answers": ["Raj Patel"], "prev_start": _start(2014, 3),
                    "cur_answers": ["Mia Chen"], "cur_start": _start(2019)}]},
    {"id": 2, "question": "who is the mayor of dale",
     "timelines": [{"prev_answers": ["Tom Hill"], "prev_start": _start(2005),
                    "cur_answers": ["Sara Fox"], "cur_start": _start(2016)}]},
    {"id": 3, "question": "what is the capital of norland",
     "timelines": [{"cur_answers": ["Eastport"], "cur_start": _start(2000)}]},
    {"id": 4, "question": "who won the undated cup", "timelines": [{"cur_answers": ["X"]}]},
]
PAIRS = [(1, "2015", ["Raj Patel"]), (1, "March 30, 2021", ["Mia Chen"]), (1, "2007", ["Bo"]),
         (2, "2010", ["Tom Hill"]), (2, "2020", ["Sara Fox"]), (2, "2012", ["Thomas Hill"]),
         (3, "2018", ["Eastport"]), (1, "some day", ["Ann Lee"])]


def _situatedqa_fixture(root: Path) -> Path:
    (root / "raw_data").mkdir(parents=True)
    (root / "qa_data").mkdir()
    (root / "raw_data" / "temp.dev.jsonl").write_text(
        "\n".join(json.dumps(r) for r in TIMELINES), encoding="utf-8")
    (root / "qa_data" / "temp.dev.jsonl").write_text("\n".join(
        json.dumps({"id": i, "question": TIMELINES[i - 1]["question"], "date": when,
                    "answer": answers, "date_type": "sampled_year"}) for i, when, answers in PAIRS),
        encoding="utf-8")
    return root


PARAS = ["British Vogue is a fashion magazine published in London .",
         "Dorothy Todd edited British Vogue from 1923 to 1926 , after the first editor .",
         "Alison Settle was the editor of British Vogue from 1926 to 1935 .",
         "Audrey Withers edited British Vogue from 1940 to 1960 ."]
QUESTIONS = [["Who edited British Vogue from 1923 to 1926?",
              [{"para": 1, "from": 1923, "end": 1926, "answer": "Dorothy Todd"}]],
             ["Who was the editor of British Vogue in 1950?",
              [{"para": 3, "from": 1940, "end": 1960, "answer": "Audrey Withers"}]],
             ["Who edited British Vogue first?", [{"para": 0, "answer": ""}]]]


def _timeqa_fixture(root: Path) -> Path:
    root.mkdir()
    records = [{"index": 0, "type": "P5769", "link": "/wiki/British_Vogue",
                "questions": repr(QUESTIONS), "paras": PARAS}]  # TimeQA mixes literal strings in
    (root / "human_annotated_train.json").write_text(json.dumps(records), encoding="utf-8")
    return root


def test_situatedqa_loader_reads_timelines_and_dates(tmp_path) -> None:
    items, pairs = load_situatedqa(_situatedqa_fixture(tmp_path / "sqa"))
    assert [item.id for item in items] == ["1", "2", "3"]  # the undated timeline is skipped
    assert items[0].values == ((("Ann Lee",), date(2008, 1, 1)), (("Raj Patel",), date(2014, 3, 1)),
                               (("Mia Chen",), date(2019, 1, 1)))
    assert values_during(items[0], 2014) == {"Ann Lee", "Raj Patel"}
    # "2015" is asked as of its last day; the unreadable "some day" pair is dropped
    assert [(p.item_id, p.when) for p in pairs][:2] == [("1", date(2015, 12, 31)), ("1", date(2021, 3, 30))]
    assert len(pairs) == len(PAIRS) - 1
    later, _ = load_situatedqa(tmp_path / "sqa", offset=1, limit=1)
    assert [item.id for item in later] == ["2"]


def test_timeqa_loader_reads_literal_strings_and_gold_paragraphs(tmp_path) -> None:
    docs, questions = load_timeqa(_timeqa_fixture(tmp_path / "tqa"))
    assert [d["id"] for d in docs] == [f"British Vogue#{i}" for i in range(4)]
    assert [(q.answers, sorted(q.gold_ids)) for q in questions] == [
        (("Dorothy Todd",), ["British Vogue#1"]), (("Audrey Withers",), ["British Vogue#3"])]


def test_situatedqa_benchmark_counts_pairs_and_keeps_history(tmp_path, capsys) -> None:
    out = tmp_path / "sqa.json"
    assert main(["--dataset", "situatedqa", "--data", str(_situatedqa_fixture(tmp_path / "sqa")),
                 "--retriever", "dense", "--continual-from", "2015", "--sample", "20",
                 "--json", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    points = result["as_of"]["time_points"]
    assert {g: points[g]["pairs"] for g in points} == {
        "answerable": 5, "before_timeline": 1, "unstated_answer": 1}
    assert points["answerable"]["top1"] == 1.0
    categories = result["as_of"]["chronological"]["categories"]
    assert categories["known"] == 1.0 and sum(categories.values()) == pytest.approx(1.0)
    steps = result["continual"]
    assert [s["year"] for s in steps] == list(range(2015, 2022))
    assert all(s["history_retention"] == 1.0 for s in steps)
    assert [s["acquisition"] for s in steps if s["new_values"]] == [1.0, 1.0]  # 2016 and 2019
    assert "| as_of |" in capsys.readouterr().out


def test_timeqa_benchmark_reports_each_run(tmp_path) -> None:
    out = tmp_path / "tqa.json"
    assert main(["--dataset", "timeqa", "--data", str(_timeqa_fixture(tmp_path / "tqa")),
                 "--retriever", "dense", "--top-k", "1", "--json", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["questions"] == 2 and result["questions_with_a_date"] == 2
    # with their periods both questions find their paragraph at rank 1
    assert result["as_of"] == {"AR@1": 1.0, "R@1": 1.0}
    assert set(result) >= {"as_of_filter_only", "no_time"}


def test_bad_arguments_are_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--dataset", "timeqa", "--limit", "0"])
    assert main(["--dataset", "timeqa", "--data", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "not found" in capsys.readouterr().out


SHARED = shared_data_dir()


@pytest.mark.skipif(not (SHARED / "situatedqa").exists(), reason="../shared/data/situatedqa absent")
def test_shared_situatedqa_loads() -> None:
    items, pairs = load_situatedqa(SHARED / "situatedqa", limit=50)
    assert len(items) == 50 and pairs
    assert all(v[1] <= w[1] for item in items for v, w in zip(item.values, item.values[1:]))


@pytest.mark.skipif(not (SHARED / "timeqa").exists(), reason="../shared/data/timeqa absent")
def test_shared_timeqa_loads() -> None:
    docs, questions = load_timeqa(SHARED / "timeqa", limit=5)
    ids = {d["id"] for d in docs}
    assert questions and all(q.gold_ids <= ids for q in questions)


def test_forgetting_a_period_falls_to_the_never_store(tmp_path, capsys) -> None:
    out = tmp_path / "forget.json"
    assert main(["--dataset", "situatedqa", "--data", str(_situatedqa_fixture(tmp_path / "sqa")),
                 "--retriever", "hipporag", "--continual-from", "0", "--forget-period", "2014:2016",
                 "--json", str(out), "--quiet"]) == 0
    forgetting = json.loads(out.read_text())["forgetting"]
    assert forgetting["period"] == [2014, 2016] and forgetting["forgotten_statements"] >= 1
    before, after, never = (forgetting["stores"][name] for name in ("before", "after", "never"))
    assert forgetting["pairs_in_period"] >= 1 and before["period_top1"] == 1.0
    assert after["period_top1"] == never["period_top1"] < 1.0  # the forgotten values are not answered
    assert after["period_equal_to_never"] == 1.0 and after["other_equal_to_never"] == 1.0
    assert after["other_top1"] == before["other_top1"] and after["forgotten_returned"] == 0
    assert after["ckl"] == never["ckl"]
    assert "Forgetting the" in capsys.readouterr().out
