"""Temporal knowledge benchmark: ``python -m eval.temporal --dataset situatedqa|timeqa``.

The ChroKnowledge protocol on the temporal data in ``../shared/data`` (see
:mod:`eval.temporal_data`), each run against a no-time baseline (plain retrieval:
no ``as_of``, query dates ignored) on the same store.

SituatedQA (dated statements, one per timeline value):

- **time points**: each question-date pair asked ``as_of`` its date; right when the
  top-1 passage holds a gold answer. Pairs the timeline cannot answer are counted
  apart: dates before every known value, and gold answers the timeline never states.
- **ChroKnowledge categories** over each item's years (``--years``, up to 2021):
  Known (right every year), Unknown (wrong every year), Cut-off (one switch),
  Partial (anything else); a year's answer is right if it was valid during that year.
- **continual updates**: a second store fed year by year (``--continual-from`` on;
  earlier values in one first batch); after each year: acquisition (items whose value
  started that year, asked as of it), history retention (sampled past item-years,
  asked as of them) and time-invariant retention (items that never changed).

TimeQA (Wikipedia paragraphs; questions name their period): answer recall and gold
paragraph recall at k, with the question's own period (``as_of``: passages whose text
excludes it are hidden, passages that mention it come first), with the hiding alone
(``as_of_filter_only``), and with no time.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from memory import MemoryStore, StoreConfig
from memory.config import EmbeddingConfig, TemporalConfig
from memory.errors import MemoryStoreError
from memory.timeexpr import date_in_query

from .cli import add_output_arguments, configure_logging, write_json
from .datasets import shared_data_dir
from .metrics import answer_in_passages, mean_rate, normalize_answer, recall_at_k
from .temporal_data import QAPair, TimelineItem, load_situatedqa, load_timeqa, values_during
from .temporal_forget import forgetting_table, parse_period, run_period_forgetting

LAST_YEAR = 2021  # SituatedQA's answers were collected in 2021


def statement_docs(item: TimelineItem, values: Sequence[tuple[tuple[str, ...], date]] | None = None
                   ) -> list[dict[str, Any]]:
    """One dated statement per timeline value: title the question, text the answer."""
    return [{"id": f"sqa/{item.id}/{start.isoformat()}", "title": item.question,
             "text": f"{item.question}: {' / '.join(answers)}", "valid_from": start.isoformat()}
            for answers, start in (values if values is not None else item.values)]


class Asker:
    """Top-1 answers of a store, with and without time, memoised per (question, date)."""

    def __init__(self, store: MemoryStore, mode: str) -> None:
        self.store, self.mode = store, mode
        self.timeless = dataclasses.replace(store.config, temporal=TemporalConfig(query_dates=False))
        self._cache: dict[tuple[str, date | None, int], str] = {}
        self.queries = 0

    def top1(self, question: str, when: date | None) -> str:
        key = (question, when, self.store.generation)  # a write makes earlier answers stale
        if key not in self._cache:
            if when is None:  # no time at all: the query's own dates are ignored too
                saved, self.store.config = self.store.config, self.timeless
                try:
                    hits = self.store.retrieve(question, top_k=1, mode=self.mode)
                finally:
                    self.store.config = saved
            else:
                hits = self.store.retrieve(question, top_k=1, mode=self.mode, as_of=when)
            self._cache[key] = hits[0].text if hits else ""
            self.queries += 1
        return self._cache[key]

    def right(self, question: str, when: date | None, answers: Sequence[str]) -> bool:
        return bool(answers) and answer_in_passages([self.top1(question, when)], answers) == 1.0


def _states(item: TimelineItem, answers: Sequence[str]) -> bool:
    stated = {normalize_answer(a) for values, _ in item.values for a in values}
    return any(normalize_answer(a) in stated for a in answers)


def time_points(asker: Asker, items: dict[str, TimelineItem], pairs: list[QAPair],
                timed: bool) -> dict[str, Any]:
    """Top-1 accuracy over question-date pairs, by whether the timeline can answer them."""
    groups: dict[str, list[bool]] = {"answerable": [], "before_timeline": [], "unstated_answer": []}
    for pair in tqdm(pairs, desc="time points", leave=False, disable=len(pairs) < 50):
        item = items[pair.item_id]
        if pair.when < item.values[0][1]:
            group = "before_timeline"
        elif not _states(item, pair.answers):
            group = "unstated_answer"
        else:
            group = "answerable"
        groups[group].append(asker.right(pair.question, pair.when if timed else None, pair.answers))
    return {g: {"pairs": len(v), "top1": mean_rate(v)}
            for g, v in groups.items()}


def chrono_categories(asker: Asker, items: Sequence[TimelineItem], first_year: int,
                      timed: bool) -> dict[str, Any]:
    """ChroKnowledge's Known / Unknown / Cut-off / Partial over each item's years."""
    categories: Counter[str] = Counter()
    right_total, asked = 0, 0
    for item in tqdm(items, desc="years", leave=False, disable=len(items) < 20):
        start_year = max(first_year, item.values[0][1].year)
        outcomes = [asker.right(item.question, date(year, 12, 31) if timed else None,
                                sorted(values_during(item, year)))
                    for year in range(start_year, LAST_YEAR + 1)]
        right_total += sum(outcomes)
        asked += len(outcomes)
        switches = sum(a != b for a, b in zip(outcomes, outcomes[1:]))
        category = ("known" if all(outcomes) else "unknown" if not any(outcomes)
                    else "cut-off" if switches == 1 else "partial")
        categories[category] += 1
    return {"item_years": asked, "accuracy": round(right_total / asked, 4) if asked else None,
            "categories": {c: round(categories[c] / len(items), 4)
                           for c in ("known", "cut-off", "partial", "unknown")}}


def continual(store: MemoryStore, items: Sequence[TimelineItem], mode: str, from_year: int,
              sample: int, seed: int) -> list[dict[str, Any]]:
    """Feed values year by year; after each year measure acquisition and retention."""
    rng = random.Random(seed)
    asker = Asker(store, mode)
    first = [doc for item in items for doc in statement_docs(
        item, [v for v in item.values if v[1].year < from_year])]
    if first:
        store.ingest(first)
    stable = [item for item in items if len(item.values) == 1]
    steps = []
    learned: list[tuple[TimelineItem, int]] = [(item, year) for item in items
                                              for year in range(item.values[0][1].year, from_year)]
    for year in tqdm(range(from_year, LAST_YEAR + 1), desc="continual", leave=False):
        new = [(item, [v for v in item.values if v[1].year == year]) for item in items]
        new = [(item, values) for item, values in new if values]
        if new:
            store.ingest([doc for item, values in new for doc in statement_docs(item, values)])
        end = date(year, 12, 31)
        acquisition = [asker.right(item.question, end, sorted(values_during(item, year)))
                       for item, _ in new]
        past = rng.sample(learned, min(sample, len(learned)))
        history = [asker.right(item.question, date(y, 12, 31), sorted(values_during(item, y)))
                   for item, y in past]
        invariant = [asker.right(item.question, end, list(item.values[0][0]))
                     for item in rng.sample(stable, min(sample, len(stable)))
                     if item.values[0][1] <= end]
        steps.append({"year": year, "new_values": len(new),
                      "acquisition": mean_rate(acquisition), "history_retention": mean_rate(history),
                      "history_asked": len(history), "invariant_retention": mean_rate(invariant)})
        learned += [(item, year) for item in items if item.values[0][1].year <= year]
    return steps


def run_situatedqa(args: argparse.Namespace, workdir: Path, config: StoreConfig) -> dict[str, Any]:
    items, pairs = load_situatedqa(args.data or shared_data_dir() / "situatedqa", args.split, args.limit,
                                   args.offset)
    by_id = {item.id: item for item in items}
    result: dict[str, Any] = {"items": len(items), "offset": args.offset, "pairs": len(pairs),
                              "retriever": args.retriever}
    docs = [doc for item in items for doc in statement_docs(item)]
    with MemoryStore(workdir / "full", config) as store:
        began = time.perf_counter()
        store.ingest(docs)
        result["ingest_seconds"] = round(time.perf_counter() - began, 1)
        asker = Asker(store, args.retriever)
        for name, timed in (("as_of", True), ("no_time", False)):
            result[name] = {"time_points": time_points(asker, by_id, pairs, timed),
                            "chronological": chrono_categories(asker, items, args.years, timed)}
        result["queries"] = asker.queries
    if args.forget_period:
        result["forgetting"] = run_period_forgetting(workdir / "full", workdir, items, pairs, docs,
                                                     parse_period(args.forget_period), args.retriever, config,
                                                     LAST_YEAR)
    if args.continual_from:
        with MemoryStore(workdir / "continual", config) as store:
            result["continual"] = continual(store, items, args.retriever, args.continual_from,
                                            args.sample, args.seed)
    return result


def run_timeqa(args: argparse.Namespace, workdir: Path, config: StoreConfig) -> dict[str, Any]:
    docs, questions = load_timeqa(args.data or shared_data_dir() / "timeqa", args.limit, args.offset)
    result: dict[str, Any] = {"records": args.limit, "offset": args.offset, "passages": len(docs),
                              "questions": len(questions),
                              "retriever": args.retriever, "top_k": args.top_k,
                              "questions_with_a_date": sum(date_in_query(q.question) is not None
                                                           for q in questions)}
    with MemoryStore(workdir / "timeqa", config) as store:
        began = time.perf_counter()
        store.ingest(docs)
        result["ingest_seconds"] = round(time.perf_counter() - began, 1)
        runs = {"as_of": config,
                "as_of_filter_only": dataclasses.replace(
                    config, temporal=dataclasses.replace(config.temporal, period_rerank_depth=0)),
                "no_time": dataclasses.replace(config, temporal=TemporalConfig(query_dates=False))}
        for name, run_config in runs.items():
            store.config = run_config
            answer, gold = [], []
            for question in tqdm(questions, desc=name, leave=False):
                hits = store.retrieve(question.question, top_k=args.top_k, mode=args.retriever)
                answer.append(answer_in_passages([h.text for h in hits], question.answers))
                gold.append(recall_at_k([h.doc_id for h in hits], question.gold_ids, args.top_k))
            result[name] = {f"AR@{args.top_k}": mean_rate(answer), f"R@{args.top_k}": mean_rate(gold)}
        store.config = config
    return result


def markdown(dataset: str, result: dict[str, Any]) -> str:
    """The headline numbers as a markdown table."""
    if dataset == "timeqa":
        k = result["top_k"]
        rows = [f"| {name} | {result[name][f'AR@{k}']:.3f} | {result[name][f'R@{k}']:.3f} |"
                for name in ("as_of", "as_of_filter_only", "no_time")]
        return "\n".join([f"| run | AR@{k} | R@{k} (gold paragraph) |", "|---|---|---|", *rows])
    lines = ["| run | answerable top-1 | before timeline | unstated answer | year accuracy "
             "| known | cut-off | partial | unknown |", "|---" * 10 + "|"]
    for name in ("as_of", "no_time"):
        points, chrono = result[name]["time_points"], result[name]["chronological"]
        cells = [points[g]["top1"] for g in ("answerable", "before_timeline", "unstated_answer")]
        cells += [chrono["accuracy"], *chrono["categories"].values()]
        lines.append(f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |")
    steps = result.get("continual") or []
    if steps:
        lines += ["", "| year | new values | acquisition | history retention | invariant retention |",
                  "|---|---|---|---|---|"]
        lines += [f"| {s['year']} | {s['new_values']} | {s['acquisition']} | {s['history_retention']} "
                  f"| {s['invariant_retention']} |" for s in steps]
    if "forgetting" in result:
        lines += ["", forgetting_table(result["forgetting"], steps[-1] if steps else None)]
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.temporal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=["situatedqa", "timeqa"])
    parser.add_argument("--data", type=Path, default=None,
                        help="the dataset's directory (default: ../shared/data/DATASET)")
    parser.add_argument("--split", default="dev", choices=["dev", "train"], help="SituatedQA split")
    parser.add_argument("--limit", type=int, default=None,
                        help="N SituatedQA timelines / TimeQA records (default: 200 / 40)")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip the first N timelines / records (e.g. to measure on data "
                             "not used while developing)")
    parser.add_argument("--retriever", default="hipporag",
                        choices=["hipporag", "hipporag1", "dense", "bm25", "hybrid"])
    parser.add_argument("--top-k", type=int, default=5, help="TimeQA passages per question")
    parser.add_argument("--years", type=int, default=2010,
                        help="first year of the ChroKnowledge timeline (default 2010)")
    parser.add_argument("--continual-from", type=int, default=2015,
                        help="first year fed on its own in the continual run (default 2015; 0 skips it)")
    parser.add_argument("--forget-period", default="2016:2017", metavar="A:B",
                        help="SituatedQA: forget the statements whose value starts in years A..B and compare "
                             "with a never-store (default 2016:2017; '' skips)")
    parser.add_argument("--sample", type=int, default=50,
                        help="past item-years and stable items asked per continual step")
    parser.add_argument("--seed", type=int, default=0, help="seed of the continual run's samples")
    parser.add_argument("--embedder", default=EmbeddingConfig().model,
                        help=f"encoder (default {EmbeddingConfig().model})")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the stores in DIR (default: temporary)")
    add_output_arguments(parser, "write the results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if args.limit is None:
        args.limit = 200 if args.dataset == "situatedqa" else 40
    if args.limit < 1 or args.top_k < 1 or args.sample < 0 or args.offset < 0:
        parser.error("--limit and --top-k must be positive, --sample and --offset >= 0")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eval-temporal-"))
    config = StoreConfig(embedding=EmbeddingConfig(model=args.embedder))
    try:
        runner = run_situatedqa if args.dataset == "situatedqa" else run_timeqa
        result = {"dataset": args.dataset} | runner(args, workdir, config)
    except (OSError, ValueError, MemoryStoreError) as exc:
        print(f"error: {exc}")
        return 2
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.json, result)
    print(markdown(args.dataset, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
