"""Personalized PageRank benchmark: ``python -m eval.ppr``.

Two parts, both comparing the local push (:func:`graphs.localppr.local_ppr`, the default
of :func:`graphs.retrieve.rank_passages`) with power iteration (the exact reference):

1. Speed on HippoRAG-shaped random graphs (:mod:`graphs.synthetic`) of the sizes asked
   (``--sizes``, in nodes): per query, power iteration, python-igraph's PRPACK and the
   push are timed one after the other on the same reset vector (a few entity seeds plus
   the dense prior on every passage), so the machine's load hits all three alike. It
   reports p50/p95 in ms (wall clock, and for power iteration and the push also the
   process's CPU time, which a shared machine's load inflates far less), the median
   per-query ratio of power iteration (and PRPACK) to the push, the push's work and
   how often its top 5 equals the exact one.
2. Agreement on real stores (``--dataset NAME``, optionally ``--store DIR`` from
   ``eval.multihop``): every question is asked once (``hipporag``, the push being the
   default), the walk it made is ranked again exactly by power iteration (same graph,
   as-of slice and reset vector), and it reports the share of graph queries whose top 5
   (order and set) equals power iteration's, and Recall@2/@5 of both rankings over the
   graph queries (questions that fell back to dense retrieval walk nothing).

Examples::

    python -m eval.ppr --sizes 66000,660000 --queries 50 --json runs/ppr.json
    python -m eval.ppr --sizes 0 --dataset musique --store runs/musique
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

# PRPACK runs on OpenMP threads that by default keep spinning after each call, stealing the
# second core from whatever is timed next (the push measured 20% slower right after it,
# with twice its wall time in CPU): idle OpenMP threads here sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from graphs.localppr import PushSettings, local_ppr
from graphs.ppr import personalized_pagerank, transition_matrix
from graphs.push import Walk
from graphs.synthetic import hipporag_graph, random_query

from .cli import add_output_arguments, configure_logging, parse_list, write_json
from .metrics import percentile, recall_at_k

__all__ = ["main", "synthetic_benchmark", "store_agreement"]

logger = logging.getLogger("eval.ppr")


def _summary(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(seconds, 50) * 1e3, 3),
            "p95_ms": round(percentile(seconds, 95) * 1e3, 3)}


def _top(scores: np.ndarray, k: int) -> list[int]:
    return np.lexsort((np.arange(len(scores)), -scores))[:k].tolist()


def synthetic_benchmark(nodes: int, queries: int, seed: int = 0, prpack: bool = True,
                        damping: float = 0.5, settings: PushSettings | None = None) -> dict[str, Any]:
    """Time power iteration, PRPACK and the push on one generated graph of about ``nodes`` nodes.

    Examples
    --------
    >>> out = synthetic_benchmark(1100, queries=3, prpack=False)
    >>> out["nodes"], out["agreement_top5_ordered"]
    (1100, 1.0)
    """
    settings = settings or PushSettings()
    passages = max(1, round(nodes / 11))
    began = time.perf_counter()
    graph = hipporag_graph(passages, seed=seed)
    adjacency = graph.adjacency()
    generate = time.perf_counter() - began
    transition = transition_matrix(adjacency)
    walk = Walk(adjacency, passages=np.arange(graph.passages))
    ig_graph = None
    if prpack:
        import igraph

        upper = adjacency.tocoo()
        keep = upper.row < upper.col
        ig_graph = igraph.Graph(n=graph.size, edges=np.column_stack(
            [upper.row[keep], upper.col[keep]]).tolist())
        ig_graph.es["weight"] = upper.data[keep].tolist()
    rng = np.random.default_rng(seed + 1)
    times: dict[str, list[float]] = {"power": [], "prpack": [], "push": []}
    cpu: dict[str, list[float]] = {"power": [], "push": []}  # process time: load-independent
    agree_ordered = agree_set = certified = 0
    work: dict[str, list[int]] = {}
    for _ in tqdm(range(queries), desc=f"{graph.size} nodes", unit="query", leave=False, disable=None):
        query = random_query(graph, rng)
        prior = query.prior()
        reset = np.zeros(graph.size)
        reset[:graph.passages] = prior
        np.add.at(reset, query.entity_nodes, query.entity_weights)
        began, began_cpu = time.perf_counter(), time.process_time()
        exact = personalized_pagerank(adjacency, reset, damping, transition=transition)
        times["power"].append(time.perf_counter() - began)
        cpu["power"].append(time.process_time() - began_cpu)
        if ig_graph is not None:
            began = time.perf_counter()
            ig_graph.personalized_pagerank(damping=damping, reset=reset.tolist(), weights="weight",
                                           implementation="prpack")
            times["prpack"].append(time.perf_counter() - began)
        began, began_cpu = time.perf_counter(), time.process_time()
        result = local_ppr(walk, query.entity_nodes, query.entity_weights, prior, damping, 5,
                           **settings.as_kwargs())
        times["push"].append(time.perf_counter() - began)
        cpu["push"].append(time.process_time() - began_cpu)
        expected = _top(exact[:graph.passages], 5)
        got = result.top(5).tolist()
        agree_ordered += got == expected
        agree_set += set(got) == set(expected)
        certified += result.certified
        for key, value in result.stats.items():
            work.setdefault(key, []).append(value)
    ratio = np.array(times["power"]) / np.array(times["push"])
    out: dict[str, Any] = {
        "nodes": graph.size, "passages": graph.passages, "entities": graph.entities,
        "stored_entries": int(adjacency.nnz), "generate_seconds": round(generate, 2),
        "queries": queries,
        "power_iteration": _summary(times["power"]), "push": _summary(times["push"]),
        "power_over_push_median": round(float(np.median(ratio)), 2),
        "cpu_power_iteration": _summary(cpu["power"]), "cpu_push": _summary(cpu["push"]),
        "cpu_power_over_push_median": round(float(np.median(
            np.array(cpu["power"]) / np.maximum(np.array(cpu["push"]), 1e-9))), 2),
        "agreement_top5_ordered": round(agree_ordered / queries, 4),
        "agreement_top5_set": round(agree_set / queries, 4),
        "certified": round(certified / queries, 4),
        "push_work_median": {k: int(np.median(v)) for k, v in work.items()},
    }
    if ig_graph is not None:
        out["igraph_prpack"] = _summary(times["prpack"])
        out["prpack_over_push_median"] = round(float(np.median(
            np.array(times["prpack"]) / np.array(times["push"]))), 2)
    return out


def store_agreement(dataset_name: str, store_dir: Path | None, limit: int | None = None
                    ) -> dict[str, Any]:
    """Top-5 agreement and Recall@2/@5 of push against power iteration on a real store.

    Each question is asked as retrieval asks it (``hipporag``, top 5, with the as-of
    slice of a question that names a time); the walk it made (``store.last_query.walk``)
    is then ranked exactly by power iteration on the same graph, slice and reset vector.
    The push runs with the store's other defaults (``--set`` applies to the synthetic part);
    the method is forced to ``push``, since the default (``auto``) walks graphs below
    ``push_min_nodes`` by power iteration, which would compare the reference with itself.
    """
    from eval.datasets import load_named
    from memory import MemoryStore

    dataset, _ = load_named(dataset_name, limit)
    workdir = store_dir or Path(tempfile.mkdtemp(prefix="eval-ppr-"))
    rows: list[dict[str, Any]] = []
    timing: dict[str, list[float]] = {"power": [], "push": []}
    with MemoryStore(workdir) as store:
        store.ingest(dataset.corpus)
        pushing = dataclasses.replace(store.config.retrieval, ppr_method="push")
        for item in tqdm(dataset.questions, desc=dataset_name, unit="question", leave=False,
                         disable=None):
            store.retrieve(item.question, top_k=5, config=pushing)
            trace = store.last_query
            ranking = trace.walk
            record: dict[str, Any] = {"id": item.id}
            if ranking is None:  # fell back to dense retrieval: nothing walked
                record["fallback"] = True
                rows.append(record)
                continue
            record["method"] = ranking.method
            push_top = [node for node, _ in ranking.top_passages(5)]
            timing["push"].append(trace.ppr)
            began = time.perf_counter()
            exact = ranking.scores  # power iteration on the walked graph
            timing["power"].append(time.perf_counter() - began)
            passages = ranking.matrix.rows_of_kind("passage")
            order = passages[np.lexsort((passages, -exact[passages]))][:5]
            exact_top = [ranking.matrix.nodes[r] for r in order.tolist() if exact[r] > 0]
            with store.view() as view:
                doc_ids = view.storage.documents.ids({n[1] for n in push_top + exact_top})
            ranked = {"power": [doc_ids[n[1]] for n in exact_top],
                      "push": [doc_ids[n[1]] for n in push_top]}
            record["same_order"] = ranked["power"] == ranked["push"]
            record["same_set"] = set(ranked["power"]) == set(ranked["push"])
            record["sliced"] = trace.as_of is not None
            for method in ("power", "push"):
                for k in (2, 5):
                    record[f"{method}_R@{k}"] = recall_at_k(ranked[method], item.gold_ids, k)
            record["ranked"] = ranked
            rows.append(record)
    walked = [r for r in rows if not r.get("fallback")]
    summary = {
        "dataset": dataset_name, "questions": len(rows), "graph_queries": len(walked),
        "agreement_top5_ordered": round(sum(r["same_order"] for r in walked) / max(1, len(walked)), 4),
        "agreement_top5_set": round(sum(r["same_set"] for r in walked) / max(1, len(walked)), 4),
        "power_iteration": _summary(timing["power"]), "push_rank_passages": _summary(timing["push"]),
        "methods": sorted({r["method"] for r in walked}),
    }
    for method in ("power", "push"):
        for k in (2, 5):
            summary[f"{method}_R@{k}"] = round(
                sum(r[f"{method}_R@{k}"] for r in walked) / max(1, len(walked)), 4)
    return {"summary": summary, "questions": rows}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.ppr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda t: parse_list(t, int, "size"), default=[66_000, 660_000],
                        help="synthetic graph sizes in nodes, comma-separated (0: none; "
                             "default 66000,660000)")
    parser.add_argument("--queries", type=int, default=50, help="queries per synthetic graph")
    parser.add_argument("--seed", type=int, default=0, help="seed of the graph and query generator")
    parser.add_argument("--no-prpack", action="store_true", help="skip python-igraph's PRPACK")
    parser.add_argument("--dataset", action="append", default=[],
                        help="a named dataset for the agreement part (musique, 2wiki, hotpotqa; "
                             "repeatable)")
    parser.add_argument("--store", action="append", type=Path, default=[],
                        help="store directory for each --dataset, in order (as eval.multihop "
                             "--store; default: a fresh temporary store)")
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="a PushSettings field for the synthetic part, e.g. --set depth=2 "
                             "(repeatable)")
    add_output_arguments(parser, "write the results as JSON to this file")
    return parser


def _settings(overrides: list[str]) -> PushSettings:
    fields = {f.name: f.type for f in dataclasses.fields(PushSettings)}
    values: dict[str, Any] = {}
    for text in overrides:
        name, _, value = text.partition("=")
        if name not in fields:
            raise SystemExit(f"error: unknown push setting {name!r}; known: {', '.join(fields)}")
        values[name] = None if value == "None" else (float(value) if "eps" in name else int(value))
    return PushSettings(**values)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    args = _build_parser().parse_args(argv)
    configure_logging(args.quiet)
    settings = _settings(args.overrides)
    result: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(),
                              "push_settings": dataclasses.asdict(settings), "synthetic": [],
                              "stores": []}
    for size in (s for s in args.sizes if s > 0):
        out = synthetic_benchmark(size, args.queries, args.seed, not args.no_prpack,
                                  settings=settings)
        logger.info("%s", out)
        result["synthetic"].append(out)
    stores = list(args.store) + [None] * (len(args.dataset) - len(args.store))
    for name, store in zip(args.dataset, stores):
        out = store_agreement(name, store, args.limit)
        logger.info("%s", out["summary"])
        result["stores"].append(out)
    write_json(args.json, result)
    if result["synthetic"]:
        print("| nodes | power p50/p95 ms | PRPACK p50/p95 ms | push p50/p95 ms | power/push | "
              "PRPACK/push | CPU ms power / push (p50) | top-5 same |")
        print("|---|---|---|---|---|---|---|---|")
        for row in result["synthetic"]:
            prpack = row.get("igraph_prpack", {})
            print(f"| {row['nodes']:,} | {row['power_iteration']['p50_ms']} / "
                  f"{row['power_iteration']['p95_ms']} | {prpack.get('p50_ms', '-')} / "
                  f"{prpack.get('p95_ms', '-')} | {row['push']['p50_ms']} / {row['push']['p95_ms']} | "
                  f"{row['power_over_push_median']}x | {row.get('prpack_over_push_median', '-')}x | "
                  f"{row['cpu_power_iteration']['p50_ms']} / {row['cpu_push']['p50_ms']} | "
                  f"{row['agreement_top5_ordered']:.0%} |")
    if result["stores"]:
        print("| dataset | graph queries | top-5 same order / set | R@2 exact / push | "
              "R@5 exact / push |")
        print("|---|---|---|---|---|")
        for out in result["stores"]:
            s = out["summary"]  # recall over the graph queries
            print(f"| {s['dataset']} | {s['graph_queries']} | {s['agreement_top5_ordered']:.1%} / "
                  f"{s['agreement_top5_set']:.1%} | {s['power_R@2']:.3f} / {s['push_R@2']:.3f} | "
                  f"{s['power_R@5']:.3f} / {s['push_R@5']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
