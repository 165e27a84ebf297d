"""Forgetting benchmark: ``python -m eval.forgetting --dataset dusk|muse|tofu|rwku``.

A retrieval-based evaluation of unlearning, on the datasets in ``../shared/data``
(see :mod:`eval.unlearning` for how each becomes forget material, retain material
and probes). Three stores are measured in one run:

1. **baseline**: the retain material only, a store that never saw the forget set;
2. **before**: a copy of the baseline into which the forget material is ingested;
3. **after**: that store once the forget documents are forgotten (one ``forget`` call).

Each probe is asked through the store; a probe counts as answered when an accepted
answer occurs in the top-k passages (answer recall, AR@k), and, for graph modes,
at fact level when it is the subject or object of a fact linked to the query
(fact recall, FR). Reported per kind of probe:

- forget efficacy: ``forget`` probes, before -> after; the goal is the baseline level;
- retention: ``shared`` and ``retain`` probes, before -> after; the goal is no loss.

The run also checks that the store after forgetting dumps identically to the
baseline (``python -m memory dump``), and times the forget call against the ingest.
Documents are split into passages as a user would (``--split``; per-dataset default).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from memory import MemoryStore, StoreConfig
from memory.config import SPLIT_MODES, EmbeddingConfig, IngestConfig, RetrievalConfig
from memory.dump import dump_lines
from memory.errors import MemoryStoreError
from memory.retrieval import MODES

from .cli import add_output_arguments, configure_logging, retriever_list, write_json
from .datasets import shared_data_dir
from .metrics import answer_in_passages, mean_rate
from .unlearning import KINDS, TASKS, Probe, UnlearningTask, classify, load_task

logger = logging.getLogger("eval.forgetting")

STATES = ("baseline", "before", "after")


def sample_probes(groups: dict[str, list[Probe]], limit: int | None, seed: int) -> dict[str, list[Probe]]:
    """At most ``limit`` probes per kind, drawn with a seeded generator (order kept)."""
    out = {}
    for kind in KINDS:
        probes = groups.get(kind, [])
        if limit is not None and len(probes) > limit:
            chosen = set(random.Random(f"{seed}:{kind}").sample(range(len(probes)), limit))
            probes = [p for i, p in enumerate(probes) if i in chosen]
        out[kind] = probes
    return out


def ask(store: MemoryStore, probes: Sequence[Probe], modes: Sequence[str], top_k: int,
        config: RetrievalConfig, desc: str) -> dict[str, dict[str, dict[str, float | None]]]:
    """Answer recall (and fact recall, for graph modes) of every probe: mode -> probe id -> scores."""
    out: dict[str, dict[str, dict[str, float | None]]] = {mode: {} for mode in modes}
    for probe in tqdm(probes, desc=desc, unit="probe", leave=False, disable=len(probes) < 20):
        for mode in modes:
            hits = store.retrieve(probe.question, top_k=top_k, mode=mode, config=config)
            facts = store.last_query.facts if mode == "hipporag" else None
            out[mode][probe.id] = {
                "answer": answer_in_passages([h.text for h in hits], probe.answers),
                "fact": (answer_in_passages([f"{s} | {o}" for s, _, o in facts], probe.answers)
                         if facts is not None else None),
            }
    return out


def summarise(groups: dict[str, list[Probe]], scores: dict[str, Any],
              modes: Sequence[str]) -> dict[str, Any]:
    """Mean answer / fact recall per mode, kind and store state."""
    summary: dict[str, Any] = {}
    for mode in modes:
        summary[mode] = {}
        for kind in KINDS:
            ids = [p.id for p in groups[kind]]
            row: dict[str, Any] = {"probes": len(ids)}
            for state in STATES:
                per_probe = scores[state][mode]
                row[f"{state}_AR"] = mean_rate([per_probe[i]["answer"] for i in ids])
                facts = [per_probe[i]["fact"] for i in ids if per_probe[i]["fact"] is not None]
                row[f"{state}_FR"] = mean_rate(facts)
            summary[mode][kind] = row
    return summary


def markdown_table(summary: dict[str, Any], top_k: int) -> str:
    """Answer recall per kind: baseline, before -> after (and fact recall when measured)."""
    goal = {"forget": "after = baseline", "shared": "after = before", "retain": "after = before"}
    lines = [f"| retriever | probes | n | AR@{top_k} baseline | AR@{top_k} before | AR@{top_k} after "
             "| FR baseline | FR before | FR after | goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    for mode, kinds in summary.items():
        for kind, row in kinds.items():
            lines.append(f"| {mode} | {kind} | {row['probes']} | " + " | ".join(
                cell(row[f"{state}_{m}"]) for m in ("AR", "FR") for state in STATES)
                + f" | {goal[kind]} |")
    return "\n".join(lines)


def _ingest(store: MemoryStore, docs: list[dict[str, Any]], split: IngestConfig) -> float:
    began = time.perf_counter()
    store.ingest(docs, split=split)
    return time.perf_counter() - began


def _store_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents as ingested: the subject goes to metadata."""
    return [{"id": d["id"], "title": d.get("title") or "", "text": d["text"],
             "metadata": {"subject": d["subject"]} if d.get("subject") else {}} for d in docs]


def run(task: UnlearningTask, workdir: Path, modes: Sequence[str], top_k: int,
        probe_limit: int | None, seed: int, config: StoreConfig,
        retrieval: RetrievalConfig) -> dict[str, Any]:
    """Build the baseline, before and after stores under ``workdir`` and score the probes."""
    groups = classify(task.probes, task.forget_docs, task.retain_docs)
    absent = len(groups["absent"])
    chosen = sample_probes(groups, probe_limit, seed)
    probes = [p for kind in KINDS for p in chosen[kind]]
    logger.info("%s: %d forget docs, %d retain docs; probes %s (absent %d); asking %d",
                task.name, len(task.forget_docs), len(task.retain_docs),
                {k: len(v) for k, v in groups.items() if k != "absent"}, absent, len(probes))
    baseline_dir, store_dir = workdir / "baseline", workdir / "forgetting"
    for directory in (baseline_dir, store_dir):
        shutil.rmtree(directory, ignore_errors=True)
    timings: dict[str, float] = {}
    scores: dict[str, Any] = {}
    with MemoryStore(baseline_dir, config) as store:
        timings["ingest_retain_seconds"] = _ingest(store, _store_docs(task.retain_docs), task.split)
        scores["baseline"] = ask(store, probes, modes, top_k, retrieval, "baseline")
        baseline_dump = list(dump_lines(store))
        baseline_stats = store.stats()
    shutil.copytree(baseline_dir, store_dir)
    with MemoryStore(store_dir, config) as store:
        timings["ingest_forget_seconds"] = _ingest(store, _store_docs(task.forget_docs), task.split)
        scores["before"] = ask(store, probes, modes, top_k, retrieval, "before")
        before_stats = store.stats()
        began = time.perf_counter()
        report = store.forget(ids=[d["id"] for d in task.forget_docs])
        timings["forget_seconds"] = time.perf_counter() - began
        scores["after"] = ask(store, probes, modes, top_k, retrieval, "after")
        after_dump = list(dump_lines(store))
    differing = len(set(baseline_dump) ^ set(after_dump))
    return {
        "dataset": task.name, "notes": task.notes, "split": dataclasses.asdict(task.split),
        "forget_documents": len(task.forget_docs), "retain_documents": len(task.retain_docs),
        "passages_before": before_stats["documents"], "passages_baseline": baseline_stats["documents"],
        "probes_available": {k: len(v) for k, v in groups.items()}, "absent_probes": absent,
        "top_k": top_k, "retrievers": list(modes),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "forget_report": {"removed": report.removed, "kept": report.kept,
                          "recomputed": report.recomputed},
        "after_equals_baseline": differing == 0, "dump_lines_differing": differing,
        "summary": summarise(chosen, scores, modes),
        "probes": [dataclasses.asdict(p) | {"kind": kind} for kind in KINDS for p in chosen[kind]],
        "scores": scores,
    }


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.forgetting", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=TASKS)
    parser.add_argument("--data", type=Path, default=None,
                        help="the dataset's directory (default: ../shared/data/DATASET)")
    parser.add_argument("--retriever", type=retriever_list, default=["hipporag"],
                        help=f"comma-separated, from {','.join(MODES)} (default hipporag)")
    parser.add_argument("--top-k", type=int, default=5, help="passages per probe (default 5)")
    parser.add_argument("--probes", type=int, default=150,
                        help="at most N probes per kind, seeded sample (default 150; 0 = all)")
    parser.add_argument("--cloze-per-doc", type=int, default=3,
                        help="cloze probes per forget-side document (DUSK, MUSE; default 3)")
    parser.add_argument("--max-docs", type=int, default=None,
                        help="cap documents per side (DUSK: people; MUSE: articles, default 150; "
                             "RWKU: retained passages)")
    parser.add_argument("--tofu-split", default="forget10", choices=["forget01", "forget05", "forget10"])
    parser.add_argument("--split", choices=SPLIT_MODES, default=None,
                        help="override the dataset's passage split (none|paragraph|window)")
    parser.add_argument("--window-tokens", type=int, default=None, help="tokens per window")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedder", default=EmbeddingConfig().model,
                        help=f"encoder (default {EmbeddingConfig().model})")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the baseline and forgetting stores in DIR (default: temporary)")
    add_output_arguments(parser, "write results, per probe, here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    modes = args.retriever
    for name in ("top_k", "cloze_per_doc"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.probes < 0 or (args.max_docs is not None and args.max_docs < 1):
        parser.error("--probes must be >= 0 and --max-docs positive")
    max_docs = args.max_docs if args.max_docs is not None else (150 if args.dataset == "muse" else None)
    try:
        task = load_task(args.dataset, args.data or shared_data_dir() / args.dataset,
                         per_doc=args.cloze_per_doc, seed=args.seed, max_docs=max_docs,
                         tofu_split=args.tofu_split)
        if args.split or args.window_tokens:
            task.split = dataclasses.replace(
                task.split, **({"split": args.split} if args.split else {}),
                **({"window_tokens": args.window_tokens, "window_overlap": 0}
                   if args.window_tokens else {}))
    except (OSError, ValueError, KeyError, MemoryStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eval-forgetting-"))
    config = StoreConfig(embedding=EmbeddingConfig(model=args.embedder))
    try:
        result = run(task, workdir, modes, args.top_k, args.probes or None, args.seed, config,
                     RetrievalConfig())
    except MemoryStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result["embedder"] = args.embedder
    write_json(args.json, result)
    timings = result["timings"]
    print(f"{task.name}: {result['forget_documents']} forget / {result['retain_documents']} retain "
          f"documents ({result['passages_before']} passages before, {result['passages_baseline']} "
          f"baseline); split {task.split.split}; {result['absent_probes']} probes not answerable "
          f"from the material")
    print(f"forget: {timings['forget_seconds']:.2f}s for {result['forget_documents']} documents "
          f"(ingesting them took {timings['ingest_forget_seconds']:.1f}s); after == baseline dump: "
          f"{result['after_equals_baseline']}")
    print(markdown_table(result["summary"], args.top_k))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
