"""Load on the memory server: ``python -m eval.serve_load --store DIR``.

Starts ``python -m memory serve`` in a subprocess on 127.0.0.1 (loopback only) over copies
of a built store (the 1,890-passage MuSiQue store: ``python -m eval.multihop --dataset
musique --store DIR --retriever dense --limit 1`` builds it), one copy per tenant, and
for 1 and for 8 tenants runs 1, 4 and 16 concurrent HTTP clients that mix ``retrieve``
(MuSiQue questions) and ``ingest`` (one new passage per request). Every scenario is
bounded by a request count and a time limit. It reports throughput, p50/p95 latency per
operation and errors, then checks each tenant's store (nothing lost: every acknowledged
ingest is stored with its vectors in SQLite and faiss, nothing else changed, integrity
check clean). Finally it compares retrieve latency through the server with the
in-process ``MemoryStore.retrieve`` on the same store and questions, interleaved in the
same run (paired per question). Writes JSON (``--json``) and prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from memory import EmbeddingConfig, MemoryStore
from memory.check import check_store
from memory.dump import canonical_dump
from memory.embed import load_embedder
from memory.retrieval import MODES

from .cli import add_output_arguments, configure_logging, parse_list, write_json
from .datasets import load_named
from .metrics import percentile

__all__ = ["main", "run_scenario", "ServerProcess"]

logger = logging.getLogger("eval.serve_load")
REPO = Path(__file__).resolve().parents[1]


class ServerProcess:
    """``python -m memory serve --root ROOT`` on a free loopback port, in a subprocess."""

    def __init__(self, root: Path, log: Path, threads: int = 32) -> None:
        self.root, self.log, self.threads = root, log, threads
        self.url = ""
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "ServerProcess":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "memory", "serve", "--root", str(self.root), "--host", "127.0.0.1",
             "--port", str(port), "--threads", str(self.threads)],
            cwd=REPO, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not start in 180 s")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log_file.close()


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {"count": len(latencies), "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 95) * 1000, 1)}


async def run_scenario(url: str, tenants: list[str], clients: int, requests: int, seconds: float,
                       write_ratio: float, questions: list[str], passages: list[dict], mode: str,
                       seed: int, label: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``clients`` concurrent clients share ``requests`` requests (or stop at ``seconds``)."""
    rng = random.Random(seed)
    plan = []
    for i in range(requests):
        tenant = tenants[i % len(tenants)] if len(tenants) > 1 else tenants[0]
        if rng.random() < write_ratio:
            source = rng.choice(passages)
            plan.append((tenant, "ingest", {"documents": [{
                "id": f"load/{label}/{i}", "title": source["title"],
                "text": f"Report {label}-{i}. {source['text']}"}]}))
        else:
            plan.append((tenant, "retrieve", {"query": rng.choice(questions), "top_k": 5, "mode": mode}))
    latencies: dict[str, list[float]] = {"retrieve": [], "ingest": []}
    errors: list[str] = []
    committed: dict[str, list[str]] = {t: [] for t in tenants}
    queue = list(reversed(plan))
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            while queue and time.monotonic() < deadline:
                tenant, op, body = queue.pop()
                began = time.perf_counter()
                try:
                    response = await http.post(f"/t/{tenant}/{op}", json=body)
                except httpx.HTTPError as exc:
                    errors.append(f"{op}: {type(exc).__name__}")
                    continue
                elapsed = time.perf_counter() - began
                if response.status_code != 200:
                    errors.append(f"{op}: {response.status_code} {response.text[:200]}")
                    continue
                latencies[op].append(elapsed)
                if op == "ingest":
                    committed[tenant] += [d["id"] for d in body["documents"]]

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - began
    done = sum(len(v) for v in latencies.values())
    result = {"tenants": len(tenants), "clients": clients, "requests": done, "planned": requests,
              "seconds": round(wall, 2), "throughput_rps": round(done / wall, 2), "errors": len(errors),
              "error_samples": errors[:5], **{op: _summary(v) for op, v in latencies.items()}}
    return result, committed


def _snapshot(path: Path, embedder: Any) -> dict[str, Any]:
    with MemoryStore(path, embedder=embedder) as store:
        return canonical_dump(store)


def check_tenant(path: Path, before: dict[str, Any], committed: list[str], embedder: Any) -> dict[str, Any]:
    """Nothing lost, nothing else changed: compare the dump with the one before the load."""
    with MemoryStore(path, embedder=embedder) as store:
        after = canonical_dump(store)
        problems = check_store(store)
    ids_before = {row[0] for row in before["documents"]}
    ids_after = {row[0] for row in after["documents"]}
    missing = [i for i in committed if i not in ids_after or f"document:{i}" not in after["vectors"]
               or f"document:{i}" not in after["index_vectors"]]
    unexpected = sorted(ids_after - ids_before - set(committed))
    lost = sorted(ids_before - ids_after)
    return {"documents_before": len(ids_before), "documents_after": len(ids_after), "committed": len(committed),
            "missing_committed": missing, "unexpected": unexpected, "lost": lost, "check_problems": problems,
            "ok": not (missing or unexpected or lost or problems)}


def measure_overhead(url: str, store_path: Path, questions: list[str], modes: list[str], embedder: Any,
                     tenant: str) -> dict[str, Any]:
    """Retrieve through the server vs in process, same store and questions, interleaved."""
    out: dict[str, Any] = {}
    with MemoryStore(store_path, embedder=embedder) as store, httpx.Client(base_url=url, timeout=300) as http:
        for mode in modes:
            store.retrieve(questions[0], top_k=5, mode=mode)  # warm both sides
            http.post(f"/t/{tenant}/retrieve", json={"query": questions[0], "top_k": 5, "mode": mode})
            served, local, paired = [], [], []
            for question in questions:
                began = time.perf_counter()
                response = http.post(f"/t/{tenant}/retrieve", json={"query": question, "top_k": 5, "mode": mode})
                served.append(time.perf_counter() - began)
                response.raise_for_status()
                began = time.perf_counter()
                store.retrieve(question, top_k=5, mode=mode)
                local.append(time.perf_counter() - began)
                paired.append(served[-1] - local[-1])
            out[mode] = {"queries": len(questions), "server_p50_ms": round(statistics.median(served) * 1000, 2),
                         "in_process_p50_ms": round(statistics.median(local) * 1000, 2),
                         "overhead_p50_ms": round(statistics.median(paired) * 1000, 2),
                         "server_p95_ms": round(percentile(served, 95) * 1000, 2),
                         "in_process_p95_ms": round(percentile(local, 95) * 1000, 2)}
    return out


def _print(results: dict[str, Any]) -> None:
    print("\n| tenants | clients | requests | req/s | retrieve p50 / p95 ms | ingest p50 / p95 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in results["scenarios"]:
        print(f"| {r['tenants']} | {r['clients']} | {r['requests']} | {r['throughput_rps']} | "
              f"{r['retrieve']['p50_ms']} / {r['retrieve']['p95_ms']} | {r['ingest']['p50_ms']} / "
              f"{r['ingest']['p95_ms']} | {r['errors']} |")
    print("\n| mode | server p50 ms | in-process p50 ms | paired overhead p50 ms |")
    print("|---|---|---|---|")
    for mode, o in results["overhead"].items():
        print(f"| {mode} | {o['server_p50_ms']} | {o['in_process_p50_ms']} | {o['overhead_p50_ms']} |")
    print(f"\ndump check: {'all tenants OK' if results['dump_ok'] else 'PROBLEMS: see JSON'}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 on an error or a failed dump check."""
    parser = argparse.ArgumentParser(prog="python -m eval.serve_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="a built store to copy per tenant")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where tenant copies go (default: a temporary directory, removed after)")
    parser.add_argument("--clients", type=lambda t: parse_list(t, int, "clients"), default=[1, 4, 16],
                        help="concurrent client counts (default 1,4,16)")
    parser.add_argument("--tenants", type=lambda t: parse_list(t, int, "tenants"), default=[1, 8],
                        help="tenant counts (default 1,8)")
    parser.add_argument("--requests", type=int, default=64, help="requests per scenario (default 64)")
    parser.add_argument("--seconds", type=float, default=120, help="time limit per scenario (default 120)")
    parser.add_argument("--write-ratio", type=float, default=0.2, help="share of ingest requests (default 0.2)")
    parser.add_argument("--mode", choices=MODES, default="hipporag", help="retrieval mode under load")
    parser.add_argument("--overhead-queries", type=int, default=40, help="questions for the overhead comparison")
    parser.add_argument("--overhead-modes", default="hipporag,dense", help="modes for the overhead comparison")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the request mix (the same plan for every scenario)")
    add_output_arguments(parser, "write the results as JSON here")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if not (args.store / "memory.sqlite").is_file():
        parser.error(f"{args.store} is not a built store")
    dataset, _ = load_named("musique")
    questions = [q.question for q in dataset.questions]
    embedder = load_embedder(EmbeddingConfig())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serve-load-"))
    results: dict[str, Any] = {"store": str(args.store), "machine": platform.platform(), "cpus": os.cpu_count(),
                               "mode": args.mode, "write_ratio": args.write_ratio, "scenarios": [], "checks": {}}
    try:
        for count in args.tenants:
            root = workdir / f"root-{count}"
            shutil.rmtree(root, ignore_errors=True)
            names = [f"tenant-{i}" for i in range(count)]
            for name in names:
                shutil.copytree(args.store, root / name)
            before = {name: _snapshot(root / name, embedder) for name in names}
            committed: dict[str, list[str]] = {name: [] for name in names}
            with ServerProcess(root, workdir / f"server-{count}.log") as server:
                with httpx.Client(base_url=server.url, timeout=300) as http:  # load each tenant's models
                    for name in names:
                        http.post(f"/t/{name}/retrieve", json={"query": questions[0], "mode": args.mode})
                for clients in args.clients:
                    label = f"{count}t{clients}c"
                    logger.info("scenario: %d tenant(s), %d client(s)", count, clients)
                    result, done = asyncio.run(run_scenario(
                        server.url, names, clients, args.requests, args.seconds, args.write_ratio,
                        questions, dataset.corpus, args.mode, args.seed, label))
                    results["scenarios"].append(result)
                    for name, ids in done.items():
                        committed[name] += ids
                if count == min(args.tenants):
                    results["overhead"] = measure_overhead(
                        server.url, root / names[0], questions[:args.overhead_queries],
                        parse_list(args.overhead_modes, str, "modes"), embedder, names[0])
            results["checks"][str(count)] = {n: check_tenant(root / n, before[n], committed[n], embedder)
                                             for n in names}
        results["dump_ok"] = all(c["ok"] for per in results["checks"].values() for c in per.values())
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    _print(results)
    write_json(args.json, results)
    errors = sum(r["errors"] for r in results["scenarios"])
    return 0 if errors == 0 and results["dump_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
