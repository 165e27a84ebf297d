"""Loaders for the temporal benchmarks: SituatedQA timelines and TimeQA documents.

SituatedQA (``../shared/data/situatedqa``) gives, per question, a timeline of
answers with start dates (``raw_data``) and question-date-answer pairs
(``qa_data``). Each timeline value becomes a short dated statement document
(title: the question; ``valid_from``: the value's start), ingested through the
normal path.

TimeQA (``../shared/data/timeqa``) gives Wikipedia articles as paragraph lists and
time-conditioned questions with their answers and gold paragraphs. Its fields
are Python-literal strings in some records; they are read with
:func:`ast.literal_eval`, which accepts literals only (never code).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from memory.timeexpr import parse_period, parse_written_period

__all__ = ["TimelineItem", "QAPair", "TimeQAQuestion", "load_situatedqa", "load_timeqa",
           "values_during"]


@dataclass(frozen=True)
class TimelineItem:
    """A SituatedQA question and its answers over time, oldest first."""

    id: str
    question: str
    values: tuple[tuple[tuple[str, ...], date], ...]  # (answers, start)


@dataclass(frozen=True)
class QAPair:
    """A question asked as of a date, with the gold answers for that date."""

    item_id: str
    question: str
    when: date
    answers: tuple[str, ...]
    date_type: str


@dataclass(frozen=True)
class TimeQAQuestion:
    """A TimeQA question with its answers and the ids of its gold paragraphs."""

    id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: frozenset[str]


def _start(value: dict[str, Any] | None) -> date | None:
    if not value or not value.get("year"):
        return None
    month, day = value.get("month"), value.get("date")
    text = f"{int(value['year']):04d}"
    if month:
        text += f"-{int(month):02d}"
        if day:
            text += f"-{int(day):02d}"
    try:
        return parse_period(text).start
    except ValueError:
        return parse_period(text[:4]).start


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (see ../shared/data/README.md)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_situatedqa(root: Path, split: str = "dev", limit: int | None = None, offset: int = 0
                    ) -> tuple[list[TimelineItem], list[QAPair]]:
    """Timelines with at least one dated value, and the QA pairs of those questions.

    ``offset`` skips that many timelines first (to measure on items not looked at).

    The ``as of`` date of a pair is the end of the period it names ("2019" is read
    as the last day of 2019: a value that started during 2019 holds "as of 2019",
    which is how SituatedQA's ``start`` pairs are built).
    """
    items: list[TimelineItem] = []
    skipped = 0
    for record in _read_jsonl(root / "raw_data" / f"temp.{split}.jsonl"):
        values: dict[date, tuple[str, ...]] = {}
        for entry in record.get("timelines") or []:
            for answers, start in ((entry.get("prev_answers"), entry.get("prev_start")),
                                   (entry.get("cur_answers"), entry.get("cur_start"))):
                when = _start(start)
                answers = tuple(a for a in (answers or []) if isinstance(a, str) and a.strip())
                if when is not None and answers:
                    values.setdefault(when, answers)
        if values and skipped < offset:
            skipped += 1
        elif values:
            items.append(TimelineItem(str(record["id"]), record["question"],
                                      tuple((values[d], d) for d in sorted(values))))
        if limit is not None and len(items) >= limit:
            break
    kept = {item.id for item in items}
    pairs = []
    for record in _read_jsonl(root / "qa_data" / f"temp.{split}.jsonl"):
        if str(record["id"]) not in kept:
            continue
        try:
            period = parse_written_period(str(record["date"]))
        except ValueError:
            continue  # a date SituatedQA wrote unreadably
        assert period.end is not None
        last_day = date.fromordinal(period.end.toordinal() - 1)
        answers = tuple(a for a in record.get("answer") or [] if isinstance(a, str) and a.strip())
        if answers:
            pairs.append(QAPair(str(record["id"]), record["question"], last_day, answers,
                                record.get("date_type", "")))
    return items, pairs


def values_during(item: TimelineItem, year: int) -> set[str]:
    """Every answer valid at some point of ``year``."""
    out: set[str] = set()
    for index, (answers, start) in enumerate(item.values):
        end = item.values[index + 1][1] if index + 1 < len(item.values) else date.max
        if start <= date(year, 12, 31) and end > date(year, 1, 1):
            out.update(answers)
    return out


def _literal(value: Any) -> Any:
    return ast.literal_eval(value) if isinstance(value, str) else value


def load_timeqa(root: Path, limit: int | None = None, offset: int = 0
                ) -> tuple[list[dict[str, Any]], list[TimeQAQuestion]]:
    """TimeQA paragraphs as documents (``<article>#<n>``, titled by the article) and questions.

    Reads ``limit`` records after skipping ``offset``.
    """
    path = root / "human_annotated_train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (see ../shared/data/README.md)")
    records = json.loads(path.read_text(encoding="utf-8"))[offset:None if limit is None else offset + limit]
    docs: list[dict[str, Any]] = []
    questions: list[TimeQAQuestion] = []
    seen_articles: set[str] = set()
    for number, record in enumerate(records, start=offset):
        article = record["link"].rsplit("/", 1)[-1].replace("_", " ")
        paras = _literal(record["paras"])
        if article not in seen_articles:  # one article can carry several relations
            seen_articles.add(article)
            docs += [{"id": f"{article}#{i}", "title": article, "text": text}
                     for i, text in enumerate(paras) if isinstance(text, str) and text.strip()]
        for q_number, (question, targets) in enumerate(_literal(record["questions"])):
            answers = tuple(t["answer"] for t in targets if t.get("answer"))
            if answers:
                questions.append(TimeQAQuestion(f"{number}:{q_number}", question, answers,
                                                frozenset(f"{article}#{t['para']}" for t in targets)))
    return docs, questions
