"""``python -m graphs.inspect --store DIR summary|entity|path|explain|export|serve``.

Thin: parses arguments, calls :mod:`graphs.inspect.views`, prints rich tables (or
JSON with ``--json``). Errors print ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from . import views

__all__ = ["main", "build_parser"]


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def _facts(title: str, facts: list[dict[str, Any]]) -> Table:
    return _table(title, ["subject", "relation", "object", "valid", "sources"],
                  [(f["subject"], f["relation"], f["object"],
                    f"{f['valid_from'] or '...'} to {f['valid_to'] or '...'}"
                    if f["valid_from"] or f["valid_to"] else "always", ", ".join(f["sources"][:4]))
                   for f in facts])


def _render(command: str, result: Any, console: Console) -> None:
    if command == "summary":
        console.print(_table("store", ["documents", "entities", "facts", "edges"],
                             [(result["documents"], result["entities"], result["facts"],
                               ", ".join(f"{k} {v}" for k, v in result["edges"].items()))]))
        console.print(_table("entity degree", list(result["degree_distribution"]),
                             [list(result["degree_distribution"].values())]))
        console.print(_table("largest hubs", ["entity", "degree"], [(h["name"], h["degree"]) for h in result["hubs"]]))
        console.print(_table("synonymy clusters", ["size", "members"],
                             [(c["size"], ", ".join(c["members"])) for c in result["synonymy_clusters"]]))
    elif command == "entity":
        console.print(f"[bold]{result['name']}[/bold]", markup=True, highlight=False)
        console.print(_facts("facts out", result["facts_out"]))
        console.print(_facts("facts in", result["facts_in"]))
        console.print(_table("mentioned in", ["document", "title"], [(m["doc_id"], m["title"]) for m in result["mentions"]]))
        console.print(_table("synonyms", ["entity", "cosine"], [(s["name"], s["score"]) for s in result["synonyms"]]))
    elif command == "path":
        if not result:
            console.print("no path")
        for number, path in enumerate(result, 1):
            rows = [(s["from"], " | ".join(s["fact"]) if "fact" in s else f"synonym ({s['synonym']})", s["to"])
                    for s in path["steps"]]
            console.print(_table(f"path {number} (length {path['length']})", ["from", "via", "to"], rows))
    elif command == "explain":
        console.print(_table("seeds", ["kind", "node", "weight", "why"],
                             [(s["kind"], s["name"], s["weight"], s["reason"]) for s in result["seeds"]]))
        console.print(_table("PPR mass", ["entity", "mass"], [(m["name"], m["mass"]) for m in result["ppr_mass"]]))
        for hit in result["hits"]:
            paths = hit["explanation"].get("paths", [])
            route = " -> ".join(paths[0]["nodes"]) if paths else hit["explanation"].get("summary", "")
            console.print(f"{hit['rank']}. {hit['doc_id']} ({hit['score']:.4g}): {route}", markup=False,
                          highlight=False)
    elif command == "export":
        console.print(f"wrote {result['nodes']} nodes to {result['out']}", markup=False, highlight=False)


def _run(args: argparse.Namespace) -> Any:
    from memory.cli import open_existing

    if args.command == "serve":
        from .server import serve

        serve(args.store, args.host, args.port)
        return None
    with open_existing(args.store) as store:
        if args.command == "summary":
            return views.summary(store, args.top)
        if args.command == "entity":
            return views.entity_view(store, args.name)
        if args.command == "path":
            return views.paths(store, args.source, args.target, args.count)
        if args.command == "explain":
            return views.explain_query(store, args.query, args.top_k, args.mode, args.as_of)
        return {"nodes": views.export_graph(store, args.format, args.out), "out": str(args.out)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (sub-commands with their own ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m graphs.inspect",
                                     description="Explore what a memory store's graph holds.")
    parser.add_argument("--store", required=True, type=Path, help="store directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="summary, entity, path, explain, export or serve")
    summary = sub.add_parser("summary", help="counts, degree distribution, hubs, synonymy clusters",
                             description="Counts, entity degree distribution, largest hubs and synonymy clusters.")
    summary.add_argument("--top", type=int, default=10, help="hubs and clusters shown (default 10)")
    entity = sub.add_parser("entity", help="an entity's facts, mentions and synonyms",
                            description="Facts in and out (with validity and sources), mentions, synonyms.")
    entity.add_argument("name", help="entity name")
    path = sub.add_parser("path", help="shortest weighted paths between two entities",
                          description="Shortest paths over fact and synonymy edges (length 1/weight), "
                                      "with the fact on each hop.")
    path.add_argument("source", help="first entity")
    path.add_argument("target", help="second entity")
    path.add_argument("--count", type=int, default=3, help="paths shown (default 3)")
    explain = sub.add_parser("explain", help="seeds, PPR mass and how each hit was reached",
                             description="Run a query and show its seed nodes, the entities holding the "
                                         "most PPR mass and the strongest path to each top passage.")
    explain.add_argument("query", help="the question")
    explain.add_argument("--top-k", type=int, default=5, help="passages (default 5)")
    explain.add_argument("--mode", default="hipporag", help="retrieval mode (default hipporag)")
    explain.add_argument("--as-of", default=None, metavar="DATE", help="answer as of this date")
    export = sub.add_parser("export", help="the whole graph as GraphML or JSON (networkx)",
                            description="Write the graph (entity and passage nodes, weighted edges by kind).")
    export.add_argument("--format", choices=["graphml", "json"], default="graphml", help="file format")
    export.add_argument("--out", required=True, type=Path, help="output file")
    serve = sub.add_parser("serve", help="the local read-only web viewer",
                           description="Serve the viewer on http://HOST:PORT (127.0.0.1 by default).")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    from memory.errors import MemoryStoreError

    args = build_parser().parse_args(argv)
    try:
        result = _run(args)
    except (MemoryStoreError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        else:
            _render(args.command, result, Console(soft_wrap=False))
    return 0
