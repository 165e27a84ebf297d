"""Forgetting a period of a timeline: ``python -m eval.temporal --dataset situatedqa --forget-period A:B``.

Every SituatedQA timeline value is a dated statement (see :mod:`eval.temporal`).
The statements whose value *starts* in the years ``A`` to ``B`` are forgotten, in
one ``forget(ids=...)`` call on a copy of the full store (*after*), and a store
is indexed in the same run from every other statement (*never*). Each
question-date pair is asked ``as_of`` its date of the full store (*before*),
*after* and *never*:

- **forgotten period**: pairs whose gold value is a forgotten statement. Goal:
  after = never (the forgotten value is no longer answered; what remains is what a
  store that never had it answers, typically the previous value);
- **other pairs**: every other pair. Goal: after = before = never;
- **CKL split** (continual knowledge learning, as after updates): *retention* of
  invariant knowledge (items with one value, asked as of 2021), *update* of
  outdated knowledge (items whose value changed, asked as of a date after the
  last change: the newest value must come first), *acquisition* of new knowledge
  (values that start after the forgotten period, asked as of the end of their
  first year), each over the items whose current value was not forgotten.

The forgotten statements' ids are also checked never to come back in the top 5.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from memory import MemoryStore
from memory.config import StoreConfig

from .metrics import answer_in_passages, mean_rate
from .temporal_data import QAPair, TimelineItem, values_during

__all__ = ["parse_period", "forgotten_ids", "run_period_forgetting", "forgetting_table"]

logger = logging.getLogger("eval.temporal")


def parse_period(text: str) -> tuple[int, int]:
    """``"2016:2017"`` or ``"2016"`` as (first year, last year).

    >>> parse_period("2016:2017"), parse_period("2018")
    ((2016, 2017), (2018, 2018))
    """
    first, _, last = text.partition(":")
    start, end = int(first), int(last or first)
    if end < start:
        raise ValueError(f"period {text!r} ends before it starts")
    return start, end


def _statement_id(item: TimelineItem, start: date) -> str:
    return f"sqa/{item.id}/{start.isoformat()}"


def forgotten_ids(items: Sequence[TimelineItem], period: tuple[int, int]) -> set[str]:
    """Ids of the statements whose value starts in the period."""
    return {_statement_id(item, start) for item in items for _, start in item.values
            if period[0] <= start.year <= period[1]}


def _gold_start(item: TimelineItem, when: date) -> date | None:
    """Start of the value that holds at ``when`` (the latest start on or before it)."""
    starts = [start for _, start in item.values if start <= when]
    return max(starts) if starts else None


def _ckl(right: Callable[[str, date, Sequence[str]], bool], items: Sequence[TimelineItem],
         period: tuple[int, int], last_year: int, forgotten: set[str]) -> dict[str, Any]:
    """Retention, update and acquisition over the knowledge that was not forgotten."""
    end = date(last_year, 12, 31)
    kept = [item for item in items if _statement_id(item, item.values[-1][1]) not in forgotten]
    invariant = [right(item.question, end, item.values[0][0]) for item in kept if len(item.values) == 1]
    updated = [right(item.question, end, item.values[-1][0]) for item in kept if len(item.values) > 1]
    new = [right(item.question, date(start.year, 12, 31), sorted(values_during(item, start.year)))
           for item in items for _, start in item.values if period[1] < start.year <= last_year]
    return {"retention": mean_rate(invariant), "update": mean_rate(updated), "acquisition": mean_rate(new),
            "counts": {"retention": len(invariant), "update": len(updated), "acquisition": len(new)}}


def run_period_forgetting(full_dir: Path, workdir: Path, items: Sequence[TimelineItem], pairs: Sequence[QAPair],
                          docs: Sequence[dict[str, Any]], period: tuple[int, int], mode: str,
                          config: StoreConfig, last_year: int) -> dict[str, Any]:
    """Forget the period's statements in a copy of ``full_dir``; compare with a never-store.

    ``docs`` are the statements the full store holds (to build the never-store from).
    """
    by_id = {item.id: item for item in items}
    forgotten = forgotten_ids(items, period)
    in_period: list[QAPair] = []
    others: list[QAPair] = []
    for pair in pairs:
        item = by_id[pair.item_id]
        start = _gold_start(item, pair.when)
        (in_period if start is not None and _statement_id(item, start) in forgotten else others).append(pair)
    after_dir, never_dir = workdir / "after-forget", workdir / "never"
    for directory in (after_dir, never_dir):
        shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(full_dir, after_dir)
    result: dict[str, Any] = {"period": list(period), "forgotten_statements": len(forgotten),
                              "pairs_in_period": len(in_period), "other_pairs": len(others)}
    outcomes: dict[str, dict[str, Any]] = {}
    for name, directory in (("before", full_dir), ("after", after_dir), ("never", never_dir)):
        with MemoryStore(directory, config) as store:
            if name == "after":
                store.forget(ids=sorted(forgotten & {d["id"] for d in docs}))
            elif name == "never":
                store.ingest([d for d in docs if d["id"] not in forgotten])
            returned = 0

            def right(question: str, when: date, answers: Sequence[str], store: MemoryStore = store) -> bool:
                nonlocal returned
                hits = store.retrieve(question, top_k=5, mode=mode, as_of=when)
                returned += sum(1 for h in hits if h.doc_id in forgotten)
                return bool(hits) and bool(answers) and answer_in_passages([hits[0].text], answers) == 1.0

            period_right = [right(p.question, p.when, p.answers) for p in in_period]
            other_right = [right(p.question, p.when, p.answers) for p in others]
            outcomes[name] = {"period_top1": mean_rate(period_right), "other_top1": mean_rate(other_right),
                              "ckl": _ckl(right, items, period, last_year, forgotten), "forgotten_returned": returned,
                              "_period": period_right, "_other": other_right}
    for name in outcomes:
        outcomes[name]["period_equal_to_never"] = mean_rate(
            [a == b for a, b in zip(outcomes[name].pop("_period"), outcomes["never"]["_period"])]) \
            if name != "never" else 1.0
    never_other = outcomes["never"].pop("_other")
    for name in ("before", "after"):
        outcomes[name]["other_equal_to_never"] = mean_rate(
            [a == b for a, b in zip(outcomes[name].pop("_other"), never_other)])
    outcomes["never"].pop("_period", None)
    for directory in (after_dir, never_dir):
        shutil.rmtree(directory, ignore_errors=True)
    return result | {"stores": outcomes}


def forgetting_table(result: dict[str, Any], continual_last: dict[str, Any] | None) -> str:
    """Markdown: top-1 in the forgotten period and elsewhere, and the CKL split per store."""
    def cell(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    period = "-".join(str(y) for y in result["period"])
    lines = [f"Forgetting the {result['forgotten_statements']} statements starting in {period} "
             f"({result['pairs_in_period']} pairs asked in their validity, {result['other_pairs']} other pairs):",
             "", "| store | forgotten period top-1 | = never | other pairs top-1 | = never | retention | update "
             "| acquisition | forgotten ids returned (top 5) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["stores"].items():
        ckl = r["ckl"]
        lines.append(f"| {name} | {cell(r['period_top1'])} | {cell(r.get('period_equal_to_never'))} | "
                     f"{cell(r['other_top1'])} | {cell(r.get('other_equal_to_never', 1.0))} | "
                     f"{cell(ckl['retention'])} | {cell(ckl['update'])} | {cell(ckl['acquisition'])} | "
                     f"{r['forgotten_returned'] if name != 'before' else '(held)'} |")
    if continual_last:
        lines.append(f"| after updates (continual, {continual_last['year']}) | | | | | "
                     f"{cell(continual_last['invariant_retention'])} | {cell(continual_last['history_retention'])} "
                     f"(history) | {cell(continual_last['acquisition'])} | |")
    return "\n".join(lines)
