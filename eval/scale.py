"""How the store's costs grow with its size: ``python -m eval.scale``.

Builds synthetic HippoRAG-shaped stores of growing size on SQLite and on PostgreSQL
and measures, at each size: ingest throughput; query latency per stage (embedding,
linking, PPR, ranking) and end to end; resident memory of a process that opened the
store and answered a query; the catch-up of a second process after a one-passage
write; and read throughput with 1 to 4 processes. Writes JSON and a PNG plot of each
cost against the size.

What stands in for the real pipeline, so that 10^5-10^6 passages fit in a run:
- **Corpus.** Each passage introduces about eight entities of its own and names two
  popular ones (drawn by a Zipf law, the hubs HippoRAG graphs have), and states five
  facts among them; a store of N passages holds about 9N entities and 5N facts.
- **Extraction.** The facts are given (``ingest(docs, facts=...)``), not extracted.
- **Encoder.** :class:`HashEncoder`: a deterministic random-projection bag of words
  (``--dim``, default 64), so encoding costs microseconds; the cross-encoder that
  filters linked facts and the spaCy query parser are the real ones.
- **Synonymy** is off (exact synonymy searches every entity for each new one: at these
  sizes it needs an approximate index; see docs/scaling.md).
Recall is meaningless on this data; only costs are measured.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from memory import GraphConfig, MemoryStore, StoreConfig

from .cli import add_output_arguments, configure_logging, parse_list, write_json
from .metrics import percentile

logger = logging.getLogger("eval.scale")

_SYLLABLES = ["ka", "lo", "mi", "ren", "sa", "tu", "vel", "zor", "an", "bri", "dal", "en", "fi", "gor", "ha",
              "is", "jun", "kel", "mar", "no", "pra", "qui", "ros", "sil", "tam", "ul", "vor", "wen", "yor", "zan"]
_RELATIONS = ["was born in", "works for", "is part of", "founded", "lives in", "is near", "studied at", "owns"]


class HashEncoder:
    """A cheap, deterministic encoder: each token's fixed random unit vector, summed and normalised.

    Satisfies :class:`memory.embed.Embedder` (a text's vector depends on the text alone).

    >>> encoder = HashEncoder(8)
    >>> vectors = encoder.encode(["kalo mi", "kalo mi"], "entity")
    >>> bool(np.allclose(vectors[0], vectors[1])) and vectors.shape == (2, 8)
    True
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hash-bag-of-words:{dim}"
        self._tokens: dict[str, np.ndarray] = {}

    def _token(self, token: str) -> np.ndarray:
        vector = self._tokens.get(token)
        if vector is None:
            seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "big")
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            if len(self._tokens) < 2_000_000:
                self._tokens[token] = vector
        return vector

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Unit vectors of ``texts``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for token in text.lower().split():
                out[i] += self._token(token)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def _name(number: int) -> str:
    """A pronounceable, unique entity name for ``number``."""
    parts = []
    number += 1
    while number:
        number, digit = divmod(number, len(_SYLLABLES))
        parts.append(_SYLLABLES[digit])
    word = "".join(parts)
    return f"{word.capitalize()} {_SYLLABLES[len(word) % len(_SYLLABLES)].capitalize()}{len(parts)}"


def corpus(start: int, count: int, seed: int = 0) -> tuple[list[dict], list[list[tuple[str, str, str]]]]:
    """Passages ``start .. start+count`` and their facts (deterministic per passage)."""
    docs, facts = [], []
    for index in range(start, start + count):
        rng = np.random.default_rng((seed, index))
        own = [_name(1000 + index * 8 + j) for j in range(8)]
        first = int(min(rng.zipf(1.6), 999))
        second = int(min(rng.zipf(1.6), 999))
        hubs = [_name(first), _name(second if second != first else first + 1)]
        names = own + hubs
        triples = []
        for j in range(5):
            a, b = names[(2 * j) % 10], names[(2 * j + 1) % 10]
            triples.append((a, _RELATIONS[int(rng.integers(len(_RELATIONS)))], b))
        text = " ".join(f"{s} {r} {o}." for s, r, o in triples)
        docs.append({"id": f"p{index}", "title": own[0], "text": text})
        facts.append(triples)
    return docs, facts


def _open(location: str | Path, encoder: HashEncoder, cache: Path | None) -> MemoryStore:
    config = StoreConfig(graph=GraphConfig(synonymy_top_k=0))
    kwargs: dict[str, Any] = {"embedder": encoder}
    if cache is not None:
        kwargs["cache_dir"] = cache
    return MemoryStore(location, config, **kwargs)


def _queries(count: int, size: int) -> list[str]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(count):
        index = int(rng.integers(size))
        docs, facts = corpus(index, 1)
        subject, relation, _ = facts[0][int(rng.integers(5))]
        out.append(f"Who or what {relation.split()[-1]} {subject} {relation}?")
    return out


def measure_queries(store: MemoryStore, queries: list[str]) -> dict[str, Any]:
    """Latency per stage of the default mode (the first query, which loads models, is not timed)."""
    store.retrieve(queries[0])
    stages: dict[str, list[float]] = {k: [] for k in ("embedding", "linking", "ppr", "ranking", "total")}
    for query in queries[1:]:
        began = time.perf_counter()
        store.retrieve(query)
        stages["total"].append(time.perf_counter() - began)
        trace = store.last_query
        for stage in ("embedding", "linking", "ppr", "ranking"):
            stages[stage].append(getattr(trace, stage))
    return {stage: {"p50_ms": round(percentile(v, 50) * 1e3, 2), "p95_ms": round(percentile(v, 95) * 1e3, 2)}
            for stage, v in stages.items()}


_SECOND = """
import json, sys, time
sys.path.insert(0, {repo!r})
from eval.scale import HashEncoder, _open, _peak_rss_mb
store = _open(sys.argv[1], HashEncoder({dim}), None if sys.argv[2] == "-" else __import__("pathlib").Path(sys.argv[2]))
began = time.perf_counter()
with store.view():
    pass
opened = time.perf_counter() - began
store.retrieve("warm up the models")
print(json.dumps({{"open_seconds": opened, "rss_mb": _peak_rss_mb()}}),
      flush=True)
for line in sys.stdin:
    began = time.perf_counter()
    with store.view():
        pass
    caught = time.perf_counter() - began
    print(json.dumps({{"catch_up_seconds": caught, "source": store.core.last_catch_up.source}}), flush=True)
"""


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``; ``ru_maxrss`` would
    keep the parent's peak across fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_second_process(location: str, cache: Path | None, store: MemoryStore, size: int, dim: int,
                           rounds: int = 5) -> dict[str, Any]:
    """A second process opens the store (time, memory), then catches up after one-passage writes."""
    repo = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", _SECOND.format(repo=repo, dim=dim), str(location),
                             str(cache.parent / "second-cache") if cache is not None else "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    import json

    opened = json.loads(proc.stdout.readline())
    writes, catch_ups = [], []
    for r in range(rounds):
        docs, facts = corpus(size + 10 + r, 1)
        began = time.perf_counter()
        store.ingest(docs, facts=facts)
        writes.append(time.perf_counter() - began)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        catch_ups.append(json.loads(proc.stdout.readline())["catch_up_seconds"])
    proc.stdin.close()
    proc.wait(timeout=600)
    return {"open_seconds": round(opened["open_seconds"], 3), "rss_mb": round(opened["rss_mb"], 1),
            "one_passage_write_ms": round(percentile(writes, 50) * 1e3, 2),
            "catch_up_ms": round(percentile(catch_ups, 50) * 1e3, 2)}


def _reader(location: str, cache: str | None, dim: int, queries: list[str], seconds: float, barrier: Any,
            results: Any) -> None:
    store = _open(location, HashEncoder(dim), Path(cache) if cache else None)
    store.retrieve(queries[0])
    barrier.wait()
    deadline, done = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        store.retrieve(queries[done % len(queries)])
        done += 1
    results.put(done)
    store.close()


def measure_throughput(location: str, cache: Path | None, dim: int, queries: list[str], readers: list[int],
                       seconds: float) -> dict[str, float]:
    """Queries per second with N reader processes on the store."""
    context = mp.get_context("spawn")
    out = {}
    for count in readers:
        barrier, results = context.Barrier(count + 1), context.Queue()
        procs = [context.Process(target=_reader, args=(location, str(cache.parent / f"reader{i}") if cache else None,
                                                       dim, queries, seconds, barrier, results))
                 for i in range(count)]
        for proc in procs:
            proc.start()
        barrier.wait()
        total = sum(results.get(timeout=3600) for _ in procs)
        for proc in procs:
            proc.join(timeout=600)
        out[str(count)] = round(total / seconds, 2)
    return out


def run_size(location: str | Path, cache: Path | None, size: int, args: argparse.Namespace,
             built: int) -> tuple[dict[str, Any], int]:
    """Grow the store from ``built`` to ``size`` passages and measure it."""
    encoder = HashEncoder(args.dim)
    store = _open(location, encoder, cache)
    began, added = time.perf_counter(), 0
    from memory.progress import progress

    with progress(total=size - built, desc=f"ingest to {size:,}", unit="passage") as bar:
        for start in range(built, size, args.batch):
            docs, facts = corpus(start, min(args.batch, size - start))
            store.ingest(docs, facts=facts)
            added += len(docs)
            bar.update(len(docs))
    ingest_seconds = time.perf_counter() - began
    stats = store.stats()
    queries = _queries(args.queries, size)
    result = {"passages": stats["documents"], "entities": stats["entities"], "facts": stats["facts"],
              "bytes_stored": stats["bytes_on_disk"],
              "ingest_passages_per_second": round(added / ingest_seconds, 1) if added else None,
              "queries": measure_queries(store, queries)}
    result["second_process"] = measure_second_process(str(location), cache, store, size, args.dim)
    store.close()
    result["read_throughput_qps"] = measure_throughput(str(location), cache, args.dim, queries, args.readers,
                                                       args.seconds)
    logger.info("%s passages: %s", f"{size:,}", result)
    return result, size  # the second process's 5 passages come again, unchanged, with the next size


def plot(result: dict[str, Any], path: Path) -> None:
    """Cost against size, one panel per cost, a line per backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("query p50 (ms)", lambda r: r["queries"]["total"]["p50_ms"]),
              ("PPR p50 (ms)", lambda r: r["queries"]["ppr"]["p50_ms"]),
              ("linking p50 (ms)", lambda r: r["queries"]["linking"]["p50_ms"]),
              ("RSS of a reader (MB)", lambda r: r["second_process"]["rss_mb"]),
              ("catch-up after 1 write (ms)", lambda r: r["second_process"]["catch_up_ms"]),
              ("ingest (passages/s)", lambda r: r["ingest_passages_per_second"] or 0)]
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    for axis, (title, value) in zip(axes.ravel(), panels):
        for backend, rows in result["backends"].items():
            sizes = [r["passages"] for r in rows]
            axis.plot(sizes, [value(r) for r in rows], marker="o", label=backend)
        axis.set_xscale("log")
        axis.set_title(title)
        axis.set_xlabel("passages")
        axis.grid(True, alpha=0.3)
    axes[0][0].legend()
    figure.suptitle("eval.scale: synthetic HippoRAG-shaped stores (hash encoder, given facts)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _backend_list(text: str) -> list[str]:
    """``--backends``: names from :data:`BACKEND_NAMES`, or ``both``."""
    names = parse_list(text, str.strip, "backend")
    expanded = [b for name in names for b in (BACKEND_NAMES if name == "both" else (name,))]
    unknown = sorted(set(expanded) - set(BACKEND_NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown backend {', '.join(unknown)}: use sqlite, postgresql or both")
    return list(dict.fromkeys(expanded))


#: The backends ``--backends`` accepts.
BACKEND_NAMES = ("sqlite", "postgresql")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m eval.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda t: parse_list(t, int, "size"), default=[10_000, 30_000, 100_000],
                        help="store sizes in passages, ascending (default 10000,30000,100000)")
    parser.add_argument("--backends", type=_backend_list, default=["sqlite", "postgresql"],
                        help="sqlite, postgresql (a throwaway cluster), a comma-separated list of them, "
                             "or both (default)")
    parser.add_argument("--dim", type=int, default=64, help="hash encoder dimension (default 64)")
    parser.add_argument("--batch", type=int, default=2000, help="passages per ingest call (default 2000)")
    parser.add_argument("--queries", type=int, default=40, help="queries timed per size (default 40)")
    parser.add_argument("--readers", type=lambda t: parse_list(t, int, "reader"), default=[1, 2, 4],
                        help="reader process counts (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per throughput run (default 10)")
    parser.add_argument("--workdir", type=Path, default=None, help="where stores are built (default: temporary)")
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here")
    add_output_arguments(parser, "write the result here")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eval-scale-"))
    result: dict[str, Any] = {"sizes": args.sizes, "dim": args.dim, "backends": {}}
    for backend in args.backends:
        rows: list[dict[str, Any]] = []
        if backend == "postgresql":
            from .pgcluster import throwaway_cluster

            with throwaway_cluster() as cluster:
                built = 0
                for size in args.sizes:
                    row, built = run_size(cluster.url("scale"), workdir / "pg-cache", size, args, built)
                    rows.append(row)
        else:
            built = 0
            for size in args.sizes:
                row, built = run_size(workdir / "sqlite-store", None, size, args, built)
                rows.append(row)
        result["backends"][backend] = rows
        write_json(args.json, result)
    if args.plot is not None:
        plot(result, args.plot)
    print("| backend | passages | entities | ingest passages/s | query p50/p95 ms | PPR p50 ms | reader RSS MB "
          "| catch-up ms (write ms) | reads/s with 1/2/4 processes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backend, rows in result["backends"].items():
        for r in rows:
            q, second = r["queries"], r["second_process"]
            print(f"| {backend} | {r['passages']:,} | {r['entities']:,} | {r['ingest_passages_per_second']} | "
                  f"{q['total']['p50_ms']} / {q['total']['p95_ms']} | {q['ppr']['p50_ms']} | {second['rss_mb']} | "
                  f"{second['catch_up_ms']} ({second['one_passage_write_ms']}) | "
                  f"{' / '.join(str(v) for v in r['read_throughput_qps'].values())} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
