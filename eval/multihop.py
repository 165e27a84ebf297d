"""Multi-hop retrieval benchmark: ``python -m eval.multihop``.

Indexes a corpus into a store, asks every question with each retriever and
reports Recall@k (share of the gold supporting passages in the top k) and
answer recall (does a gold answer string occur in the top k passages).

Data: ``--dataset NAME`` (the shared samples musique, hotpotqa, 2wiki in
``../shared/data``; the bundled musique-sample, hotpotqa-sample, 2wiki-sample in
``data/``) or ``--questions FILE [--corpus FILE]`` in MuSiQue, HotpotQA/2Wiki or
gold-titles format (see :mod:`eval.datasets`). ``--openie [FILE]`` indexes with
HippoRAG OpenIE triples (for a named dataset, its own file) in place of the
offline spaCy extractor.

``--ablations`` runs the HippoRAG design ablations on the same store instead of
the retriever list. ``--store DIR`` keeps the store so that later runs skip
indexing. The same inputs give the same numbers on every run.

Examples::

    python -m eval.multihop --dataset musique-sample
    python -m eval.multihop --dataset musique --openie --store runs/musique-openie
    python -m eval.multihop --questions q.json --corpus c.json --retriever hipporag,dense
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from memory import MemoryStore, StoreConfig
from memory.config import EmbeddingConfig, RetrievalConfig
from memory.errors import MemoryStoreError
from memory.extract.openie import OpenIEExtractor
from memory.llm import LLMConfig, LLMOutputError, LLMReader
from memory.retrieval import MODES

from .cli import add_output_arguments, configure_logging, parse_list, retriever_list, write_json
from .datasets import DATASETS, QADataset, load_dataset, load_named
from .metrics import answer_in_passages, exact_match, recall_at_k, token_f1
from .multihop_forget import FORGET_KINDS, forget_table, run_forgetting

__all__ = ["ABLATIONS", "evaluate", "halves", "main", "markdown_table"]

logger = logging.getLogger("eval.multihop")

#: HippoRAG design ablations: name -> (mode, retrieval overrides), all on one store.
#: The default ``hipporag`` links facts (filtered by the cross-encoder) and query phrases.
_HIPPORAG2 = {"entity_link_weight": 0.0, "fact_filter": "none"}
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "hipporag (default)": ("hipporag", {}),
    "HippoRAG 2 linking: facts only, no filter": ("hipporag", _HIPPORAG2),
    "HippoRAG 2 + cross-encoder fact filter": ("hipporag", {"entity_link_weight": 0.0}),
    "no cross-encoder filter": ("hipporag", {"fact_filter": "none"}),
    "query-phrase links weight 1.0": ("hipporag", {"entity_link_weight": 1.0}),
    "entity linking only (hipporag1)": ("hipporag1", {}),
    "no passage-title edges": ("hipporag", {"topic_edge_weight": 0.0}),
    "passage-title edges weight 7 (x8)": ("hipporag", {"topic_edge_weight": 7.0}),
    "no synonymy edges": ("hipporag", {"synonymy": False}),
    "no node specificity": ("hipporag", {"node_specificity": False}),
    "damping 0.3": ("hipporag", {"damping": 0.3}),
    "damping 0.7": ("hipporag", {"damping": 0.7}),
    "passage-node weight 0": ("hipporag", {"passage_node_weight": 0.0}),
    "HippoRAG 2, passage-node weight 0": ("hipporag", _HIPPORAG2 | {"passage_node_weight": 0.0}),
    "hybrid (hipporag + dense)": ("hybrid", {}),
    "dense (no graph)": ("dense", {}),
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One row of the result table: a retrieval mode with retrieval overrides."""

    name: str
    mode: str
    overrides: dict[str, Any]


def evaluate(store: MemoryStore, dataset: QADataset, runs: Sequence[Run], ks: Sequence[int],
             base: RetrievalConfig, reader: LLMReader | None = None) -> dict[str, Any]:
    """Ask every question with every run; return summary and per-question results.

    With a ``reader``, each run's top ``max(ks)`` passages are also given to it and its
    answer is scored with exact match and token F1 (``EM`` / ``F1``).
    """
    depth = max(ks)
    has_answers = all(q.answers for q in dataset.questions)
    summary: dict[str, dict[str, float | None]] = {}
    per_question: list[dict[str, Any]] = [
        {"id": q.id, "question": q.question, "answers": list(q.answers), "gold": sorted(q.gold_ids),
         "runs": {}} for q in dataset.questions]
    for run in runs:
        config = dataclasses.replace(base, **run.overrides)
        totals = {f"R@{k}": 0.0 for k in ks} | {f"AR@{k}": 0.0 for k in ks}
        if reader is not None:
            totals |= {"EM": 0.0, "F1": 0.0}
        began = time.perf_counter()
        for question, record in zip(tqdm(dataset.questions, desc=run.name, unit="question",
                                         leave=False, disable=None), per_question):
            hits = store.retrieve(question.question, top_k=depth, mode=run.mode, config=config)
            ranked = [h.doc_id for h in hits]
            texts = [f"{h.title} {h.text}" for h in hits]
            result: dict[str, Any] = {"ranked": ranked}
            for k in ks:
                result[f"R@{k}"] = recall_at_k(ranked, question.gold_ids, k)
                totals[f"R@{k}"] += result[f"R@{k}"]
                if has_answers:
                    result[f"AR@{k}"] = answer_in_passages(texts[:k], question.answers)
                    totals[f"AR@{k}"] += result[f"AR@{k}"]
            if reader is not None and has_answers:
                try:
                    answer = reader.answer(question.question, [h.text for h in hits]).text
                except LLMOutputError as exc:  # a malformed reply counts as a wrong answer
                    answer, result["reader_error"] = "", str(exc)
                result.update(answer=answer, EM=exact_match(answer, question.answers),
                              F1=token_f1(answer, question.answers))
                totals["EM"] += result["EM"]
                totals["F1"] += result["F1"]
            record["runs"][run.name] = result
        count = max(1, len(dataset.questions))
        summary[run.name] = {
            name: (round(value / count, 4) if has_answers or name.startswith("R@") else None)
            for name, value in totals.items()}
        summary[run.name]["seconds_per_question"] = round((time.perf_counter() - began) / count, 4)
        logger.info("%s: %s", run.name, summary[run.name])
    return {"summary": summary, "halves": halves(per_question, [run.name for run in runs]),
            "questions": per_question}


def halves(per_question: list[dict[str, Any]], runs: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean metrics over the first half of the questions (``dev``) and the rest (``held-out``).

    The first half is what development looks at; the second half is reported beside it.

    >>> rows = [{"runs": {"dense": {"R@2": v}}} for v in (1.0, 0.0, 0.5, 0.5)]
    >>> halves(rows, ["dense"])
    {'dev': {'dense': {'R@2': 0.5}}, 'held-out': {'dense': {'R@2': 0.5}}}
    """
    middle = (len(per_question) + 1) // 2
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, part in (("dev", per_question[:middle]), ("held-out", per_question[middle:])):
        out[name] = {}
        for run in runs:
            rows = [q["runs"][run] for q in part if run in q["runs"]]
            metrics = sorted({m for row in rows for m in row if isinstance(row[m], (int, float))})
            out[name][run] = {m: round(sum(row.get(m, 0.0) for row in rows) / max(1, len(rows)), 4)
                              for m in metrics}
    return out


def markdown_table(summary: dict[str, dict[str, float | None]], ks: Sequence[int]) -> str:
    """The summary as a markdown table (Recall@k, answer recall @k, then reader EM/F1 if any)."""
    columns = [f"R@{k}" for k in ks] + [f"AR@{k}" for k in ks]
    columns += [c for c in ("EM", "F1") if any(c in row for row in summary.values())]
    lines = ["| retriever | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in summary.items():
        cells = ["n/a" if row.get(c) is None else f"{row[c]:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parse_override(text: str) -> tuple[str, Any]:
    field, sep, raw = text.partition("=")
    known = {f.name for f in dataclasses.fields(RetrievalConfig)}
    if not sep or field not in known:
        raise argparse.ArgumentTypeError(
            f"--set expects FIELD=VALUE with FIELD one of {', '.join(sorted(known))}; got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return field, value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.multihop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=sorted(DATASETS), help="a named dataset")
    source.add_argument("--questions", type=Path, help="questions file (any supported format)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus for --questions: [{title, text}] or {title: [sentences]} "
                             "(default: the questions' own paragraphs)")
    parser.add_argument("--openie", nargs="?", const="", default=None, metavar="FILE",
                        help="index with HippoRAG OpenIE triples from FILE (for --dataset, the "
                             "dataset's own file when FILE is omitted)")
    parser.add_argument("--retriever", type=retriever_list,
                        default=list(MODES), help=f"comma-separated, from {','.join(MODES)} "
                                                  f"(default: all)")
    parser.add_argument("--top-k", type=lambda t: parse_list(t, int, "top-k"), default=[2, 5],
                        help="comma-separated cut-offs (default 2,5)")
    parser.add_argument("--ablations", action="store_true",
                        help="run the HippoRAG design ablations instead of --retriever")
    parser.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[],
                        metavar="FIELD=VALUE", help="override a RetrievalConfig field (repeatable)")
    parser.add_argument("--embedder", default=EmbeddingConfig().model,
                        help=f"encoder for a new store (default {EmbeddingConfig().model})")
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the store in DIR and reuse it on later runs (default: temporary)")
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    parser.add_argument("--forget", type=lambda t: parse_list(t, str, "forget kind"), default=[],
                        metavar="hop,fact,entity",
                        help="also measure forgetting: forget each question's bridge passage (hop), the facts "
                             "linking its hops (fact) or its bridge entity (entity), against a never-store")
    parser.add_argument("--forget-limit", type=int, default=20, metavar="N",
                        help="questions whose bridge is forgotten (default 20)")
    parser.add_argument("--forget-mode", choices=list(MODES), default="hipporag",
                        help="retriever used by --forget (default hipporag)")
    parser.add_argument("--reader", choices=["none", "llm"], default="none",
                        help="llm: answer from the top passages with a chat model and report EM/F1")
    parser.add_argument("--llm-base-url", default="",
                        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 "
                             "(default: $MEMORY_LLM_BASE_URL)")
    parser.add_argument("--llm-model", default="", help="model name (default: $MEMORY_LLM_MODEL)")
    add_output_arguments(parser, "write results, per question, here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be a positive integer")
    if any(k < 1 for k in args.top_k):
        parser.error("--top-k values must be positive")
    if any(kind not in FORGET_KINDS for kind in args.forget):
        parser.error(f"--forget takes {', '.join(FORGET_KINDS)}")
    try:
        if args.dataset:
            dataset, dataset_openie = load_named(args.dataset, args.limit)
        else:
            dataset, dataset_openie = load_dataset(args.questions, args.corpus, limit=args.limit), None
        openie = None
        if args.openie is not None:
            openie = Path(args.openie) if args.openie else dataset_openie
            if openie is None:
                parser.error("--openie needs a FILE for this dataset")
        extractor = OpenIEExtractor(openie) if openie else None
        reader = (LLMReader(LLMConfig(base_url=args.llm_base_url, model=args.llm_model))
                  if args.reader == "llm" else None)
    except (OSError, ValueError, KeyError, MemoryStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.ablations:
        runs = [Run(name, mode, overrides) for name, (mode, overrides) in ABLATIONS.items()]
    else:
        runs = [Run(mode, mode, {}) for mode in args.retriever]
    base = dataclasses.replace(RetrievalConfig(), **dict(args.overrides))
    workdir = args.store or Path(tempfile.mkdtemp(prefix="eval-multihop-"))
    config = StoreConfig(embedding=EmbeddingConfig(model=args.embedder))
    try:
        with MemoryStore(workdir, config, extractor=extractor) as store:
            began = time.perf_counter()
            store.ingest(dataset.corpus)
            indexing_seconds = time.perf_counter() - began
            result = evaluate(store, dataset, runs, args.top_k, base, reader)
            stats = store.stats()
        if args.forget:
            questions_path = args.questions or DATASETS[args.dataset].path(DATASETS[args.dataset].questions)
            result["forget"] = run_forgetting(workdir, dataset, questions_path, args.forget, args.forget_mode, base,
                                              args.top_k, args.forget_limit, workdir.parent / f"{workdir.name}-forget",
                                              config, extractor)
    except MemoryStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.store is None:
            shutil.rmtree(workdir, ignore_errors=True)
    header = {
        "dataset": dataset.name, "question_count": len(dataset.questions),
        "passage_count": len(dataset.corpus),
        "extractor": f"openie:{openie.name}" if openie else "spacy", "embedder": args.embedder,
        "retrieval": dataclasses.asdict(base), "top_k": args.top_k,
        "indexing_seconds": round(indexing_seconds, 1), "store": stats,
    }
    write_json(args.json, header | result)
    print(f"{dataset.name}: {len(dataset.questions)} questions, {len(dataset.corpus)} passages, "
          f"extractor {header['extractor']}, encoder {args.embedder}")
    print(markdown_table(result["summary"], args.top_k))
    for name, part in result["halves"].items():
        print(f"\n{name} half:\n" + markdown_table(part, args.top_k))
    if "forget" in result:
        print("\nforgetting (" + args.forget_mode + "):\n" + forget_table(result["forget"], args.top_k))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
