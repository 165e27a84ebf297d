"""Indexing and query performance: ``python -m eval.perf``.

Measures, on one corpus (default: the 1,890-passage MuSiQue sample in
``../shared/data/musique``, else the bundled ``data/musique_sample``):

1. Indexing throughput (passages/s) with the offline extractor and encoder,
   ingesting the corpus in ``--batches`` equal batches into a fresh store, and
   the cost of the last batch relative to the first (incremental indexing).
2. Query latency p50/p95, split into embedding / linking / PPR / ranking, with the
   process CPU time per query and dense retrieval's latency measured in the same
   run (their ratio holds on a loaded machine, where wall times do not), and
   the PPR time compared with python-igraph's PRPACK on the same graph and reset
   vector in the same run (plus the largest score difference between the two).
3. Recall@2/@5 of each retrieval mode on the questions, as a quality check.
4. Forget latency (p50/p95) of single documents, against rebuilding the store
   without one of them in the same run.

Writes JSON (``--json``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from graphs.retrieve import rank_passages
from memory import EmbeddingConfig, MemoryStore, StoreConfig
from memory.embed import load_embedder
from memory.extract import SpacyExtractor
from memory.retrieval import edge_weights

from .cli import add_output_arguments, configure_logging, write_json
from .datasets import DATASETS, load_dataset, load_named
from .metrics import percentile, recall_at_k

logger = logging.getLogger("eval.perf")


def measure_indexing(store: MemoryStore, corpus: list[dict], batches: int) -> dict[str, Any]:
    """Ingest the corpus in equal batches; time each one."""
    size = -(-len(corpus) // batches)
    seconds = []
    for number, start in enumerate(range(0, len(corpus), size), start=1):
        began = time.perf_counter()
        store.ingest(corpus[start : start + size])
        seconds.append(time.perf_counter() - began)
        logger.info("batch %d/%d: %d passages in %.1fs", number, batches,
                    len(corpus[start:start + size]), seconds[-1])
    per_passage = [s / len(corpus[i * size:(i + 1) * size]) for i, s in enumerate(seconds)]
    return {
        "passages": len(corpus),
        "batches": len(seconds),
        "batch_seconds": [round(s, 3) for s in seconds],
        "total_seconds": round(sum(seconds), 2),
        "passages_per_second": round(len(corpus) / sum(seconds), 2),
        "last_over_first": round(per_passage[-1] / per_passage[0], 3),
    }


def _graph(store: MemoryStore) -> Any:
    """The store's knowledge graph at its current generation (benchmarks read it after the view)."""
    with store.view() as view:
        return view.graph


def _igraph_prpack(store: MemoryStore) -> tuple[Any, float]:
    import igraph

    matrix = _graph(store).matrix(edge_weights(store.config.retrieval)).matrix.tocoo()
    upper = matrix.row < matrix.col
    began = time.perf_counter()
    graph = igraph.Graph(n=matrix.shape[0], edges=list(zip(matrix.row[upper].tolist(),
                                                           matrix.col[upper].tolist())))
    graph.es["weight"] = matrix.data[upper].tolist()
    return graph, time.perf_counter() - began


def measure_queries(store: MemoryStore, questions: list, modes: list[str]) -> dict[str, Any]:
    """Latency per stage for hipporag, PRPACK comparison, and recall per mode."""
    graph, igraph_build = _igraph_prpack(store)
    config = store.config.retrieval
    stages: dict[str, list[float]] = {k: [] for k in ("embedding", "linking", "ppr", "ranking", "total", "cpu")}
    dense_wall: list[float] = []
    prpack, differences = [], []
    recall: dict[str, dict[str, list[float]]] = {m: {"2": [], "5": []} for m in modes}
    for item in questions:
        for mode in modes:
            began, cpu = time.perf_counter(), time.process_time()
            hits = store.retrieve(item.question, top_k=5, mode=mode)
            total, cpu = time.perf_counter() - began, time.process_time() - cpu
            if mode == "dense":
                dense_wall.append(total)
            ids = [h.doc_id for h in hits]
            for k in ("2", "5"):
                recall[mode][k].append(recall_at_k(ids, item.gold_ids, int(k)))
            if mode != "hipporag":
                continue
            trace = store.last_query
            for stage in ("embedding", "linking", "ppr", "ranking"):
                stages[stage].append(getattr(trace, stage))
            stages["total"].append(total)
            stages["cpu"].append(cpu)
            # Same seeds, same graph: PRPACK in igraph vs our power iteration.
            retriever_seeds = trace.seeds
            if not retriever_seeds:
                continue  # the query fell back to dense retrieval
            matrix, ours = rank_passages(_graph(store), retriever_seeds, config.damping,
                                         edge_weights(config), tol=config.ppr_tol,
                                         max_iter=config.ppr_max_iter)
            reset = np.zeros(len(matrix.nodes))
            for seed in retriever_seeds:
                reset[matrix.index[seed.node]] += seed.weight
            began = time.perf_counter()
            reference = graph.personalized_pagerank(damping=config.damping, reset=reset.tolist(),
                                                    weights="weight", implementation="prpack")
            prpack.append(time.perf_counter() - began)
            differences.append(float(np.abs(np.asarray(reference) - ours).max()))
    latency = {stage: {"p50_ms": round(percentile(v, 50) * 1e3, 2),
                       "p95_ms": round(percentile(v, 95) * 1e3, 2)} for stage, v in stages.items()}
    latency["igraph_prpack"] = {"p50_ms": round(percentile(prpack, 50) * 1e3, 2),
                                "p95_ms": round(percentile(prpack, 95) * 1e3, 2)}
    if dense_wall:
        latency["dense_total"] = {"p50_ms": round(percentile(dense_wall, 50) * 1e3, 2),
                                  "p95_ms": round(percentile(dense_wall, 95) * 1e3, 2)}
    return {
        "queries": len(questions),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "hipporag_over_dense_p50": (round(percentile(stages["total"], 50) / percentile(dense_wall, 50), 2)
                                    if dense_wall and stages["total"] else None),
        "latency": latency,
        "ppr_over_prpack_p50": round(percentile(stages["ppr"], 50) / percentile(prpack, 50), 3),
        "igraph_graph_build_seconds": round(igraph_build, 3),
        "max_abs_difference_vs_prpack": max(differences) if differences else None,
        "recall": {m: {k: round(float(np.mean(v)), 4) for k, v in r.items()} for m, r in recall.items()},
        "graph_nodes": int(_graph(store).matrix(edge_weights(config)).matrix.shape[0]),
        "graph_edges": int(_graph(store).matrix(edge_weights(config)).matrix.nnz // 2),
    }


def measure_forgetting(store: MemoryStore, corpus: list[dict], count: int, config: StoreConfig,
                       embedder: Any, extractor: Any) -> dict[str, Any]:
    """Forget ``count`` random documents one at a time; compare with a rebuild without one."""
    ids = random.Random(0).sample([d["id"] for d in corpus], min(count, len(corpus)))
    seconds = []
    for doc_id in ids:
        began = time.perf_counter()
        store.forget(doc_id)
        seconds.append(time.perf_counter() - began)
    rebuild_dir = Path(tempfile.mkdtemp(prefix="eval-perf-rebuild-"))
    try:
        began = time.perf_counter()
        with MemoryStore(rebuild_dir / "store", config, embedder=embedder, extractor=extractor) as fresh:
            fresh.ingest([d for d in corpus if d["id"] != ids[0]])
        rebuild = time.perf_counter() - began
    finally:
        shutil.rmtree(rebuild_dir, ignore_errors=True)
    p50 = percentile(seconds, 50)
    return {
        "documents_forgotten": len(ids),
        "forget_p50_ms": round(p50 * 1e3, 2),
        "forget_p95_ms": round(percentile(seconds, 95) * 1e3, 2),
        "rebuild_without_one_seconds": round(rebuild, 2),
        "rebuild_over_forget_p50": round(rebuild / p50, 1),
    }


def markdown(result: dict[str, Any]) -> str:
    """A markdown summary of a result."""
    idx, q = result["indexing"], result["queries"]
    lines = [
        f"## eval.perf: {result['dataset']} ({idx['passages']} passages, embedder {result['embedder']})",
        "",
        "| indexing | value |", "|---|---|",
        f"| throughput | {idx['passages_per_second']} passages/s ({idx['total_seconds']} s) |",
        f"| batches | {idx['batches']}: {idx['batch_seconds']} s |",
        f"| last batch / first batch (per passage) | {idx['last_over_first']} |",
        "", "| query stage | p50 ms | p95 ms |", "|---|---|---|",
    ]
    lines += [f"| {stage} | {v['p50_ms']} | {v['p95_ms']} |" for stage, v in q["latency"].items()]
    lines += ["", f"(cpu: process CPU time of a hipporag query, all threads; hipporag / dense wall p50: "
                  f"{q.get('hipporag_over_dense_p50')}x; load average during the run {q.get('load_average')} "
                  f"on {result['machine']['cpus']} CPUs)"]
    lines += ["", f"PPR / igraph PRPACK (p50): {q['ppr_over_prpack_p50']}x; "
              f"max |difference| {q['max_abs_difference_vs_prpack']:.2e}; "
              f"graph {q['graph_nodes']} nodes, {q['graph_edges']} edges", "",
              "| mode | Recall@2 | Recall@5 |", "|---|---|---|"]
    lines += [f"| {m} | {r['2']} | {r['5']} |" for m, r in q["recall"].items()]
    forgetting = result.get("forgetting")
    if forgetting:
        lines += ["", f"Forgetting one document ({forgetting['documents_forgotten']} in turn): "
                      f"p50 {forgetting['forget_p50_ms']} ms, p95 {forgetting['forget_p95_ms']} ms; "
                      f"rebuilding the store without one document: "
                      f"{forgetting['rebuild_without_one_seconds']} s "
                      f"({forgetting['rebuild_over_forget_p50']}x the p50 forget)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m eval.perf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                        help="a named dataset (default: musique from ../shared/data, else "
                             "musique-sample from data/)")
    parser.add_argument("--questions", type=Path, default=None,
                        help="questions file (MuSiQue, HotpotQA/2Wiki or gold-titles format), "
                             "in place of --dataset")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus file for --questions (default: the questions' paragraphs)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N passages")
    parser.add_argument("--batches", type=int, default=10, help="ingest in this many batches")
    parser.add_argument("--max-questions", type=int, default=100, help="questions to time")
    parser.add_argument("--embedder", default=EmbeddingConfig().model,
                        help=f"encoder (default {EmbeddingConfig().model}; or all-MiniLM-L6-v2, or a "
                             "sentence-transformers path)")
    parser.add_argument("--modes", default="hipporag,hipporag1,dense,bm25",
                        help="comma-separated retrieval modes to score")
    parser.add_argument("--forget", type=int, default=20, metavar="N",
                        help="afterwards, forget N random documents one at a time and time a rebuild "
                             "without one of them (default 20; 0 skips)")
    parser.add_argument("--store", type=Path, default=None,
                        help="build the store here and keep it (default: temporary)")
    add_output_arguments(parser, "write the result here")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if args.questions is not None:
        dataset = load_dataset(args.questions, args.corpus)
    else:
        name = args.dataset or ("musique" if DATASETS["musique"].available() else "musique-sample")
        dataset, _ = load_named(name)
    corpus = dataset.corpus[: args.limit] if args.limit else dataset.corpus
    kept = {d["id"] for d in corpus}
    questions = [q for q in dataset.questions if q.gold_ids <= kept][: args.max_questions]
    workdir = Path(tempfile.mkdtemp(prefix="eval-perf-")) if args.store is None else args.store
    config = StoreConfig(embedding=EmbeddingConfig(model=args.embedder))
    # Load models before timing: the measurement is indexing, not start-up.
    embedder = load_embedder(config.embedding)
    extractor = SpacyExtractor(config.extraction.spacy_model)
    try:
        with MemoryStore(workdir, config, embedder=embedder, extractor=extractor) as store:
            indexing = measure_indexing(store, corpus, args.batches)
            queries = measure_queries(store, questions, args.modes.split(","))
            forgetting = (measure_forgetting(store, corpus, args.forget, config, embedder, extractor)
                          if args.forget else None)
    finally:
        if args.store is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result = {"dataset": dataset.name, "embedder": embedder.name, "indexing": indexing,
              "queries": queries, "forgetting": forgetting, "machine": {"python": platform.python_version(),
                                              "cpus": __import__("os").cpu_count()}}
    write_json(args.json, result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
