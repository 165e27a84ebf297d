"""What sharing a store costs: ``python -m eval.concurrency``.

On one store (default: the 1,890-passage MuSiQue sample, built on first use into
``--store``) it measures, each against a baseline taken in the same run:

1. **Lock hold time** of a 189-passage ingest batch: the seconds the write lock is
   held (the commit's share) against the whole call (extraction and embedding
   happen before the lock).
2. **Generation check** per query: the p50 cost of opening a consistent read view
   when nothing changed (one read transaction, one generation read), against the
   p50 of a ``hipporag`` query.
3. **Catch-up** of a second process: a writer process ingests one document, then
   forgets it; after each, this process's long-lived store answers a query, and
   the catch-up it did is timed against the writer's own call.
4. **Read throughput** with 1, 2 and 4 reader processes querying at once, and again
   while a writer process ingests and forgets documents.

Prints a markdown table; ``--json OUT`` writes everything.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from memory import MemoryStore

from .cli import add_output_arguments, configure_logging, parse_list, write_json
from .datasets import DATASETS, load_named
from .metrics import percentile

logger = logging.getLogger("eval.concurrency")

_WRITER = """
import json, sys, time
from memory import MemoryStore
with MemoryStore(sys.argv[1]) as store:
    store.ingest({"id": "warm-up", "text": "A warm-up passage about Lakeview."}); store.forget("warm-up")
    print("ready", flush=True)
    for line in sys.stdin:
        op, arg = json.loads(line)
        began = time.perf_counter()
        store.ingest(arg) if op == "ingest" else store.forget(arg)
        print(json.dumps({"seconds": time.perf_counter() - began, "generation": store.last_write_generation}),
              flush=True)
"""


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50) * 1e3, 3), "p95_ms": round(percentile(values, 95) * 1e3, 3)}


def build_store(path: Path, corpus: list[dict], batch: int) -> list[dict[str, float]]:
    """Ingest the corpus in batches; returns each batch's call and lock-hold seconds."""
    timings = []
    with MemoryStore(path) as store:
        for start in tqdm(range(0, len(corpus), batch), desc="build store", unit="batch"):
            began = time.perf_counter()
            store.ingest(corpus[start:start + batch])
            outcome = store.core.last_write
            timings.append({"passages": len(corpus[start:start + batch]),
                            "call_seconds": round(time.perf_counter() - began, 3),
                            "lock_wait_seconds": round(outcome.waited, 4), "lock_held_seconds": round(outcome.held, 4)})
    return timings


def measure_lock(path: Path, corpus: list[dict], batch: int) -> dict[str, Any]:
    """Re-ingest the last ``batch`` passages into a copy of the store: call vs lock-hold time."""
    with tempfile.TemporaryDirectory(prefix="eval-concurrency-") as tmp:
        copy = Path(tmp) / "store"
        shutil.copytree(path, copy)
        docs = corpus[-batch:]
        with MemoryStore(copy) as store:
            store.forget(ids=[d["id"] for d in docs])
            store.retrieve("warm up the models", mode="dense")
            began = time.perf_counter()
            store.ingest(docs)
            call = time.perf_counter() - began
            outcome = store.core.last_write
    return {"passages": len(docs), "call_seconds": round(call, 3), "lock_held_seconds": round(outcome.held, 4),
            "held_share": round(outcome.held / call, 4)}


def measure_check(store: MemoryStore, questions: list[str], repeats: int) -> dict[str, Any]:
    """p50 cost of a consistent read view with nothing to catch up, against a hipporag query."""
    for question in questions[:3]:
        store.retrieve(question)
    views = []
    for _ in range(repeats):
        began = time.perf_counter()
        with store.view():
            pass
        views.append(time.perf_counter() - began)
    queries = []
    for question in questions:
        began = time.perf_counter()
        store.retrieve(question)
        queries.append(time.perf_counter() - began)
    return {"generation_check": _ms(views), "hipporag_query": _ms(queries),
            "check_share_of_query_p50": round(percentile(views, 50) / percentile(queries, 50), 5)}


def measure_catch_up(store: MemoryStore, path: Path, documents: list[dict], question: str) -> dict[str, Any]:
    """A writer process ingests then forgets a document; this long-lived store catches up each time."""
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdin is not None
    if writer.stdout.readline().strip() != "ready":
        raise RuntimeError("the writer process did not start")
    rows: dict[str, dict[str, list[float]]] = {op: {"write": [], "catch_up": [], "query": []}
                                               for op in ("ingest", "forget")}
    store.retrieve(question)
    baseline = []
    for _ in range(5):
        began = time.perf_counter()
        store.retrieve(question)
        baseline.append(time.perf_counter() - began)
    for doc in tqdm(documents, desc="catch-up", unit="doc"):
        for op, arg in (("ingest", doc), ("forget", doc["id"])):
            writer.stdin.write(json.dumps([op, arg]) + "\n")
            writer.stdin.flush()
            reply = json.loads(writer.stdout.readline())
            began = time.perf_counter()
            with store.view():
                pass
            catch_up = time.perf_counter() - began
            began = time.perf_counter()
            store.retrieve(question)
            rows[op]["query"].append(time.perf_counter() - began)
            rows[op]["write"].append(reply["seconds"])
            rows[op]["catch_up"].append(catch_up)
    writer.stdin.close()
    writer.wait(timeout=120)
    out: dict[str, Any] = {"query_without_change": _ms(baseline)}
    for op, values in rows.items():
        out[op] = {"write": _ms(values["write"]), "catch_up": _ms(values["catch_up"]),
                   "query_after": _ms(values["query"]),
                   "catch_up_over_write_p50": round(percentile(values["catch_up"], 50)
                                                    / percentile(values["write"], 50), 4)}
    return out


def _reader(path: str, questions: list[str], seconds: float, barrier: Any, results: Any) -> None:
    with MemoryStore(path) as store:
        store.retrieve(questions[0])  # models and derived state loaded before the clock starts
        barrier.wait()
        deadline = time.perf_counter() + seconds
        done, latencies = 0, []
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            store.retrieve(questions[done % len(questions)])
            latencies.append(time.perf_counter() - began)
            done += 1
        results.put((done, latencies))


def _churn(path: str, documents: list[dict], barrier: Any, stop: Any, results: Any) -> None:
    with MemoryStore(path) as store:
        store.ingest(documents[0])
        store.forget(documents[0]["id"])
        barrier.wait()
        writes = 0
        while not stop.is_set():
            batch = documents[(writes * 5) % len(documents):][:5] or documents[:5]
            store.ingest(batch)
            store.forget(ids=[d["id"] for d in batch])
            writes += 2
        results.put(writes)


def measure_throughput(path: Path, questions: list[str], readers: list[int], seconds: float,
                       documents: list[dict]) -> dict[str, Any]:
    """Queries per second with N reader processes, alone and beside a writer process."""
    context = mp.get_context("spawn")
    out: dict[str, Any] = {}
    for with_writer in (False, True):
        for count in readers:
            barrier = context.Barrier(count + 1 + int(with_writer))
            results, stop = context.Queue(), context.Event()
            procs = [context.Process(target=_reader, args=(str(path), questions, seconds, barrier, results))
                     for _ in range(count)]
            if with_writer:
                procs.append(context.Process(target=_churn, args=(str(path), documents, barrier, stop, results)))
            for proc in procs:
                proc.start()
            barrier.wait()
            time.sleep(seconds)
            stop.set()
            outcomes = [results.get(timeout=600) for _ in procs]
            for proc in procs:
                proc.join(timeout=600)
            reads = [o for o in outcomes if isinstance(o, tuple)]
            latencies = [v for _, values in reads for v in values]
            key = f"{count}_readers" + ("_with_writer" if with_writer else "")
            out[key] = {"queries_per_second": round(sum(n for n, _ in reads) / seconds, 2), "latency": _ms(latencies)}
            if with_writer:
                out[key]["writes"] = next((o for o in outcomes if isinstance(o, int)), 0)
            logger.info("%s: %s", key, out[key])
    return out


def markdown(result: dict[str, Any]) -> str:
    """The headline numbers as a markdown table."""
    lines = ["| measure | value |", "|---|---|"]
    lock = result["lock"]
    lines.append(f"| 189-passage ingest: call / lock held | {lock['call_seconds']} s / {lock['lock_held_seconds']} s "
                 f"({lock['held_share']:.1%}) |")
    check = result["check"]
    lines.append(f"| generation check p50 / hipporag query p50 | {check['generation_check']['p50_ms']} ms / "
                 f"{check['hipporag_query']['p50_ms']} ms |")
    for op in ("ingest", "forget"):
        row = result["catch_up"][op]
        lines.append(f"| one-document {op}: write p50 / catch-up p50 in a second process | "
                     f"{row['write']['p50_ms']} ms / {row['catch_up']['p50_ms']} ms |")
    for key, row in result["throughput"].items():
        extra = f", {row['writes']} writes" if "writes" in row else ""
        lines.append(f"| {key.replace('_', ' ')} | {row['queries_per_second']} queries/s "
                     f"(p50 {row['latency']['p50_ms']} ms{extra}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m eval.concurrency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="corpus to use (default musique, else musique-sample)")
    parser.add_argument("--store", type=Path, default=Path("runs/concurrency-store"),
                        help="the store (built from the dataset when missing; default runs/concurrency-store)")
    parser.add_argument("--batch", type=int, default=189, help="passages per ingest batch (default 189)")
    parser.add_argument("--queries", type=int, default=50, help="questions timed for the query baseline")
    parser.add_argument("--catch-up", type=int, default=10, metavar="N", help="ingest/forget rounds (default 10)")
    parser.add_argument("--readers", type=lambda t: parse_list(t, int, "reader"), default=[1, 2, 4],
                        help="reader process counts (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per throughput run (default 20)")
    add_output_arguments(parser, "write the result here")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    name = args.dataset or ("musique" if DATASETS["musique"].available() else "musique-sample")
    dataset, _ = load_named(name)
    corpus = dataset.corpus
    questions = [q.question for q in dataset.questions][: args.queries]
    result: dict[str, Any] = {"dataset": name, "passages": len(corpus)}
    if not (args.store / "memory.sqlite").exists():
        result["build"] = build_store(args.store, corpus, args.batch)
    result["lock"] = measure_lock(args.store, corpus, args.batch)
    extra = [{"id": f"bench-{i}", "title": f"Bench passage {i}",
              "text": f"Bench passage {i} says that Ada Quill{i} was born in Lakeview and works for Atlas."}
             for i in range(max(args.catch_up, 20))]
    with MemoryStore(args.store) as store:
        result["check"] = measure_check(store, questions, repeats=200)
        result["catch_up"] = measure_catch_up(store, args.store, extra[: args.catch_up], questions[0])
    result["throughput"] = measure_throughput(args.store, questions, args.readers, args.seconds, extra)
    write_json(args.json, result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
