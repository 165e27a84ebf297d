"""``python -m graphs.inspect [--store DIR] [--json] [-q] [-v] summary|entity|path|explain|export|serve``.

Thin: parses arguments, calls :mod:`graphs.inspect.views`, prints rich tables (or
JSON with ``--json``). ``--store``, ``--json``, ``-q`` and ``-v`` go before or after
the command. Errors print ``error: ...`` on standard error, or with ``--json`` a
JSON object ``{"error": ..., "type": ...}`` on standard output, and exit with
status 2. ``-q`` discards the progress bars libraries draw on standard error;
logging shows warnings only (``-v``: this package's INFO lines too), never DEBUG.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterator, NoReturn, Sequence

from rich.console import Console
from rich.table import Table

from . import views

__all__ = ["main", "build_parser"]

#: Loggers of ours that ``-v`` opens to INFO (libraries stay at WARNING).
_OWN_LOGGERS = ("memory", "graphs")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are JSON when asked (``json_errors``)."""

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            print(json.dumps({"error": message, "type": "UsageError"}))
            raise SystemExit(2)
        super().error(message)


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

        serve(args.store, args.host, args.port, allowed_hosts=args.allow_host, as_json=args.json)
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


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """Options accepted before and after the command (after it, they override nothing unless given)."""
    unset = {} if top else {"default": argparse.SUPPRESS}
    from memory.cliutil import store_location

    parser.add_argument("--store", type=store_location, help="store directory or postgresql://...?schema=NAME",
                        **({"default": None} if top else unset))
    parser.add_argument("--json", action="store_true", help="print JSON (errors too) instead of tables",
                        **unset)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars", **unset)
    parser.add_argument("-v", "--verbose", action="store_true", help="log this package's INFO lines", **unset)


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The argument parser (sub-commands with their own ``--help``)."""
    parser = _Parser(prog="python -m graphs.inspect", json_errors=json_errors,
                     description="Explore what a memory store's graph holds.")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="summary, entity, path, explain, export or serve")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:  # noqa: A002
        sub_parser = sub.add_parser(name, help=help, description=description, json_errors=json_errors)
        _add_common(sub_parser, top=False)
        return sub_parser

    summary = command("summary", "counts, degree distribution, hubs, synonymy clusters",
                      "Counts, entity degree distribution, largest hubs and synonymy clusters.")
    summary.add_argument("--top", type=int, default=10, help="hubs and clusters shown (default 10)")
    entity = command("entity", "an entity's facts, mentions and synonyms",
                     "Facts in and out (with validity and sources), mentions, synonyms.")
    entity.add_argument("name", help="entity name")
    path = command("path", "shortest weighted paths between two entities",
                   "Shortest paths over fact and synonymy edges (length 1/weight), with the fact on each hop.")
    path.add_argument("source", help="first entity")
    path.add_argument("target", help="second entity")
    path.add_argument("--count", type=int, default=3, help="paths shown (default 3)")
    explain = command("explain", "seeds, PPR mass and how each hit was reached",
                      "Run a query and show its seed nodes, the entities holding the most PPR mass and the "
                      "strongest path to each top passage.")
    explain.add_argument("query", help="the question")
    explain.add_argument("--top-k", type=int, default=5, help="passages (default 5)")
    explain.add_argument("--mode", default="hipporag", help="retrieval mode (default hipporag)")
    explain.add_argument("--as-of", default=None, metavar="DATE", help="answer as of this date")
    export = command("export", "the whole graph as GraphML or JSON (networkx)",
                     "Write the graph (entity and passage nodes, weighted edges by kind).")
    export.add_argument("--format", choices=["graphml", "json"], default="graphml", help="file format")
    export.add_argument("--out", required=True, type=Path, help="output file")
    serve = command("serve", "the local read-only web viewer",
                    "Serve the viewer on http://HOST:PORT (127.0.0.1 by default). It answers only requests "
                    "whose Host header names this machine's loopback (127.0.0.1, localhost, [::1]) with its "
                    "port, or a host given with --allow-host.")
    serve.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME[:PORT]",
                       help="also answer requests for this Host (repeatable), e.g. a name that points here")
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


@contextlib.contextmanager
def _quiet_progress(quiet: bool) -> Iterator[None]:
    """With ``quiet``, silence every progress bar of the package for the command."""
    from memory.progress import quiet as is_quiet
    from memory.progress import set_quiet

    before = is_quiet()
    set_quiet(quiet or before)
    try:
        yield
    finally:
        set_quiet(before)


def _fail(message: str, kind: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": message, "type": kind}, ensure_ascii=False))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 on a usage or store error)."""
    from memory.errors import MemoryStoreError

    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    parser = build_parser(json_errors=as_json)
    try:
        args = parser.parse_args(argv)
        if args.store is None:
            parser.error("the following arguments are required: --store")
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return int(exit_.code or 0)
    _configure_logging(args.verbose)
    try:
        with _quiet_progress(args.quiet):
            result = _run(args)
    except (MemoryStoreError, OSError, ValueError) as exc:
        return _fail(str(exc), type(exc).__name__, as_json)
    if result is not None:
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        else:
            _render(args.command, result, Console(soft_wrap=False))
    return 0
