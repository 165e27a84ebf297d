"""What a forget leaves in a PostgreSQL data directory: ``python -m eval.pg_forget``.

Starts a throwaway cluster (see :mod:`eval.pgcluster`), ingests a corpus into a store
in it, adds passages that carry unique canary strings, then forgets them three ways and
after each scans every file of the data directory (tables, indexes, TOAST, WAL) for the
canaries:

1. ``forget`` alone, then a checkpoint (the deleted tuples reach the table files);
2. ``forget`` then ``VACUUM`` (plain, what autovacuum does);
3. ``forget(..., purge=True)`` (VACUUM FULL of the content tables, checkpoint, WAL switch,
   checkpoint, with ``wal_recycle = off``).

It reports where each canary was found and how long each forget took, against the
store's size. The derived caches (the vector snapshot) are scanned too.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from memory import MemoryStore

from .cli import add_output_arguments, configure_logging, write_json
from .datasets import DATASETS, load_named
from .pgcluster import Cluster, throwaway_cluster

logger = logging.getLogger("eval.pg_forget")


def _relations(cluster: Cluster) -> dict[str, str]:
    """File node -> relation name (table, index or TOAST table) of the cluster's ``postgres`` database."""
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        return {str(node): f"{schema}.{name}" for node, schema, name in conn.execute(
            "SELECT c.relfilenode, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relfilenode <> 0").fetchall()}


def _scan(cluster: Cluster, cache: Path, needle: bytes) -> list[str]:
    names = _relations(cluster)
    found = set()
    lower = needle.lower()
    for path in cluster.data_files():
        data = path.read_bytes()
        if needle in data or lower in data:
            node = path.name.split("_")[0].split(".")[0]
            found.add(names.get(node, str(path.relative_to(cluster.data))) if path.parent.parent.name == "base"
                      else str(path.relative_to(cluster.data)))
    found.update(str(p) for p in cache.rglob("*") if p.is_file() and lower in p.read_bytes().lower())
    return sorted(found)


def _checkpoint(cluster: Cluster) -> None:
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _vacuum(cluster: Cluster, schema: str) -> None:
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        for table in ("documents", "entities", "facts", "extraction_cache", "embeddings"):
            conn.execute(f'VACUUM "{schema}"."{table}"')
        conn.execute("CHECKPOINT")


def run(corpus: list[dict], limit: int | None) -> dict[str, Any]:
    """Build the store, forget canary passages three ways, scan after each."""
    corpus = corpus[:limit] if limit else corpus
    result: dict[str, Any] = {"passages": len(corpus), "ways": {}}
    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory(prefix="pg-forget-") as tmp:
        cache = Path(tmp) / "cache"
        url = cluster.url("forget_bench")
        with MemoryStore(url, cache_dir=cache) as store:
            began = time.perf_counter()
            for start in range(0, len(corpus), 200):
                store.ingest(corpus[start:start + 200])
            result["ingest_seconds"] = round(time.perf_counter() - began, 1)
            result["database_bytes"] = store.stats()["bytes_on_disk"]
            for way in ("forget", "forget + VACUUM", "forget(purge=True)"):
                canary = f"Zq{uuid.uuid4().hex[:12]}x"
                store.ingest([{"id": f"canary-{way}", "title": f"{canary} Hall",
                               "text": f"{canary} Hall is a manor near Harrow. The {canary} family built it."}])
                _checkpoint(cluster)
                before = _scan(cluster, cache, canary.encode())
                began = time.perf_counter()
                store.forget(f"canary-{way}", purge=way.endswith("True)"))
                seconds = time.perf_counter() - began
                if way == "forget + VACUUM":
                    _vacuum(cluster, "forget_bench")
                else:
                    _checkpoint(cluster)
                after = _scan(cluster, cache, canary.encode())
                result["ways"][way] = {"seconds": round(seconds, 3), "files_before": len(before),
                                       "files_after": after}
                logger.info("%s: %.2f s, canary in %d files before, %s after", way, seconds, len(before), after)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m eval.pg_forget", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="corpus (default musique, else musique-sample)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N passages")
    add_output_arguments(parser, "write the result here")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    name = args.dataset or ("musique" if DATASETS["musique"].available() else "musique-sample")
    dataset, _ = load_named(name)
    result = {"dataset": name, **run(dataset.corpus, args.limit)}
    write_json(args.json, result)
    print(f"{result['passages']} passages, {result['database_bytes']:,} bytes in the database")
    print("| forget | seconds | canary files before | canary files after |")
    print("|---|---|---|---|")
    for way, row in result["ways"].items():
        print(f"| {way} | {row['seconds']} | {row['files_before']} | {', '.join(row['files_after']) or 'none'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
