"""Command-line interface over :class:`memory.MemoryStore` (thin: parse, call, print).

``--store``, ``--json``, ``-q`` and ``-v`` may be given before or after the command;
``--store`` takes a directory or a ``postgresql://...?schema=NAME`` URL. With
``--json`` every result and every error is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .bank.cli import add_bank_parser
from .check import check_store
from .cliutil import JsonAwareParser, add_common, emit, require_store, run_cli
from .config import SPLIT_MODES, IngestConfig
from .demo import run_demo
from .dump import dump_lines
from .errors import InvalidQueryError, MemoryStoreError
from .extract import OpenIEExtractor
from .inputs import batches, read_documents
from .progress import progress
from .retrieval import MODES
from .server.cli import add_server_parsers
from .storage import is_postgres_url
from .store import MemoryStore

__all__ = ["main", "build_parser", "open_existing"]


def open_existing(location: Any) -> MemoryStore:
    """Open the store at ``location`` (a directory or a PostgreSQL URL); never creates one."""
    return MemoryStore(location, create=False)


def _cmd_ingest(args: argparse.Namespace) -> int:
    location = require_store(args)
    if args.batch_size < 0:
        raise InvalidQueryError("--batch-size must be >= 0 (0: as many documents per transaction as fit)")
    split = IngestConfig(split=args.split, window_tokens=args.window_tokens, window_overlap=args.overlap)
    docs = read_documents(args.file, split=split)  # the whole input is validated before anything is written
    extractor = OpenIEExtractor(args.openie) if args.openie else None
    with MemoryStore(location, extractor=extractor) as store:
        with progress(total=len(docs), unit="doc", desc="ingest") as bar:
            for batch in batches(docs, args.batch_size or len(docs)):
                store.ingest(batch, split=split)
                bar.update(len(batch))
        stats = store.stats()
    emit(args, {"ingested": len(docs), **{k: stats[k] for k in ("documents", "entities", "facts", "generation")}},
         lambda: f"{len(docs)} documents ingested into {stats['path']}: {stats['documents']} documents, "
                 f"{stats['entities']} entities, {stats['facts']} facts")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        hits = store.retrieve(args.text, top_k=args.top_k, mode=args.mode, as_of=args.as_of, explain=args.explain)
        trace = store.last_query
    if args.json:
        print(json.dumps([hit.to_dict(explain=args.explain) for hit in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no hits")
    if args.explain and hits and trace is not None and trace.seeds:
        print(hits[0].explain().seeds_text())  # the seeds are the query's, shown once
    for hit in hits:
        title = f" [{hit.title}]" if hit.title else ""
        print(f"{hit.rank}. {hit.doc_id}{title}  score={hit.score:.4g}")
        print(f"   {hit.text[:300]}{'...' if len(hit.text) > 300 else ''}")
        if args.explain:
            print("   " + hit.explain().paths_text().replace("\n", "\n   "))
    return 0


def _records(args: argparse.Namespace, records: list) -> None:
    def text() -> str:
        if not records:
            return "no facts"
        return "\n".join(f"{r.subject} | {r.relation} | {r.object}   valid {r.valid_from or '...'} to "
                         f"{r.valid_to or '...'}   (sources: {', '.join(r.sources)})" for r in records)
    emit(args, [r.to_dict() for r in records], text)


def _cmd_history(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        _records(args, store.history(args.subject, args.relation))
    return 0


def _cmd_facts(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        _records(args, store.facts(args.subject, args.relation, as_of=args.as_of))
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        report = store.update(args.subject, args.relation, args.object, at=args.at)
    closed = ", ".join(f"{r.object} (until {r.valid_to})" for r in report.closed) or "nothing"
    emit(args, {"document_id": report.document_id, "closed": [r.to_dict() for r in report.closed],
                "opened": report.opened.to_dict(), "generation": report.generation},
         lambda: f"{report.opened.subject} | {report.opened.relation} | {report.opened.object} from "
                 f"{report.opened.valid_from}; closed {closed}; source document {report.document_id}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        stats = store.stats()
    emit(args, stats, lambda: "\n".join(
        f"{key:>16}: {', '.join(f'{k}={v}' for k, v in value.items()) if isinstance(value, dict) else value}"
        for key, value in stats.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    location = getattr(args, "store", None)
    if location is None:
        with tempfile.TemporaryDirectory(prefix="memory-demo-") as tmp:
            return run_demo(Path(tmp) / "store", questions=args.questions, top_k=args.top_k)
    return run_demo(location, questions=args.questions, top_k=args.top_k)


def _cmd_forget(args: argparse.Namespace) -> int:
    if args.cascade and args.entity is None:
        raise InvalidQueryError("--cascade applies only with --entity")
    with open_existing(require_store(args)) as store:
        if args.entity is not None:
            report = store.forget_entity(args.entity, cascade=args.cascade, purge=args.purge)
        elif args.fact is not None:
            report = store.forget_fact(*args.fact, purge=args.purge)
        else:
            report = store.forget(ids=args.doc, purge=args.purge)

    def text() -> str:
        lines = [f"forgot {len(report.documents)} document(s); removed {report.removed}; kept (other sources) "
                 f"{report.kept}; recomputed {report.recomputed}; cached extractions purged "
                 f"{report.extraction_cache_purged}"]
        if report.stated_in:
            lines.append(f"still stated in the text of {len(report.stated_in)} passage(s): "
                         f"{', '.join(report.stated_in)}")
        return "\n".join(lines)
    emit(args, report.to_dict(), text)
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    with open_existing(require_store(args)) as store:
        lines = list(dump_lines(store))
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    location = require_store(args)
    try:
        with open_existing(location) as store:
            problems = check_store(store)
    except MemoryStoreError as exc:  # a store too damaged to open: check what can be read
        if is_postgres_url(location) or not (Path(location) / "memory.sqlite").is_file():
            raise
        problems = [f"the store cannot be opened: {exc}"] + check_store(location)
    emit(args, {"store": str(location), "ok": not problems, "problems": problems},
         lambda: "\n".join([f"problem: {p}" for p in problems]
                           + [f"{location}: {'OK' if not problems else f'{len(problems)} problem(s)'}"]))
    return 0 if not problems else 1


def _command(sub: Any, name: str, help_text: str, description: str, store: bool = True) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=description)
    add_common(parser, store=store)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m memory``."""
    parser = JsonAwareParser(
        prog="python -m memory",
        description="An embeddable HippoRAG-style knowledge store: ingest passages into a knowledge graph and "
                    "retrieve them with Personalized PageRank. --store, --json, -q and -v may come before or "
                    "after the command.")
    add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=JsonAwareParser)

    ingest = _command(sub, "ingest", "add documents from JSON, JSONL, .txt/.md files or a directory",
                      "Add documents to a store (created if missing). A JSON list or JSONL file holds objects with "
                      "'text' and optional 'id', 'title', 'metadata' (other fields are kept as metadata); a .txt or "
                      ".md file is one document (id: its path, title: its first heading or name); a directory holds "
                      "such files. Re-ingesting an id with the same content changes nothing. The whole input is "
                      "validated before anything is written; each batch is then one transaction.")
    ingest.add_argument("file", type=Path, help="a JSON list, JSONL, .txt or .md file, or a directory of them")
    ingest.add_argument("--openie", type=Path, metavar="JSON",
                        help="take entities and triples from a HippoRAG OpenIE results file instead of the offline "
                             "spaCy extractor")
    ingest.add_argument("--batch-size", type=int, default=100, metavar="N",
                        help="documents per transaction (default 100; 0 = the whole file in one)")
    ingest.add_argument("--split", choices=SPLIT_MODES, default="none",
                        help="split documents into passages: at blank lines (paragraph) or in fixed token windows "
                             "(window); default none")
    ingest.add_argument("--window-tokens", type=int, default=200, metavar="N",
                        help="tokens per passage with --split window (default 200)")
    ingest.add_argument("--overlap", type=int, default=0, metavar="N",
                        help="tokens shared by consecutive windows (default 0)")
    ingest.set_defaults(func=_cmd_ingest)

    query = _command(sub, "query", "retrieve passages for a question", "Rank the store's passages for a question.")
    query.add_argument("text", help="the question")
    query.add_argument("--top-k", type=int, default=5, metavar="N", help="number of hits (default 5)")
    query.add_argument("--mode", choices=MODES, default="hipporag",
                       help="hipporag (fact and entity linking + PPR, default), hipporag1 (entity linking + PPR), "
                            "hybrid (best dense hit, then hipporag), dense (embeddings), bm25 (lexical)")
    query.add_argument("--explain", action="store_true",
                       help="show the query's seed nodes once, and the graph paths behind each hit")
    query.add_argument("--as-of", metavar="DATE", default=None,
                       help="answer as of DATE (YYYY, YYYY-MM, YYYY-MM-DD or 'March 29, 2020'); default: a date "
                            "the question names ('in 2015'), else no time constraint")
    query.set_defaults(func=_cmd_query)

    history = _command(sub, "history", "every value a subject's relation has had",
                       "The timeline of (SUBJECT, RELATION): each value with the interval in which it held and its "
                       "sources.")
    history.add_argument("--subject", required=True, help="entity name")
    history.add_argument("--relation", required=True, help="relation label, as stored")
    history.set_defaults(func=_cmd_history)

    facts = _command(sub, "facts", "the facts that hold at a date",
                     "Facts holding at --as-of (default today), optionally of one subject and relation.")
    facts.add_argument("--subject", default=None, help="entity name")
    facts.add_argument("--relation", default=None, help="relation label, as stored")
    facts.add_argument("--as-of", metavar="DATE", default=None, help="YYYY, YYYY-MM, YYYY-MM-DD or a written date")
    facts.set_defaults(func=_cmd_facts)

    update = _command(sub, "update", "rewrite a fact from a date on, keeping history",
                      "Close the current value of (SUBJECT, RELATION) at --at and open OBJECT; the old value stays "
                      "as history.")
    update.add_argument("--subject", required=True, help="entity name")
    update.add_argument("--relation", required=True, help="relation label")
    update.add_argument("--object", required=True, help="the new value")
    update.add_argument("--at", required=True, metavar="DATE", help="when the new value starts")
    update.set_defaults(func=_cmd_update)

    stats = _command(sub, "stats", "counts and size of a store",
                     "Documents, entities, facts, edges by kind, bytes on disk, generation.")
    stats.set_defaults(func=_cmd_stats)

    demo = sub.add_parser(
        "demo", help="build a store from the bundled MuSiQue sample and answer questions",
        description="Index the bundled MuSiQue sample (data/musique_sample) with the offline extractor and encoder, "
                    "then answer multi-hop questions with hipporag and dense retrieval side by side, showing why "
                    "each hit was found.")
    demo.add_argument("--store", type=Path, default=argparse.SUPPRESS,
                      help="keep the demo store here (default: a temporary directory)")
    demo.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    demo.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log details")
    demo.add_argument("--questions", type=int, default=3, metavar="N",
                      help="questions to show in full (default 3); recall is over all 12")
    demo.add_argument("--top-k", type=int, default=5, metavar="N", help="hits per question")
    demo.set_defaults(func=_cmd_demo)

    forget = _command(sub, "forget", "remove documents and everything derived only from them",
                      "Forget documents in one transaction: their passages, the facts and entities only they "
                      "supported, their vectors, synonymy edges and cached extractions. Facts and entities other "
                      "documents still support stay, with lower weight.")
    target = forget.add_mutually_exclusive_group(required=True)
    target.add_argument("--doc", action="append", metavar="ID",
                        help="document id to forget (repeatable; all in one transaction)")
    target.add_argument("--entity", metavar="NAME", help="forget an entity: its facts, mentions and synonymy edges")
    target.add_argument("--fact", nargs=3, metavar=("SUBJECT", "RELATION", "OBJECT"),
                        help="forget one fact wherever it came from (the passages stay)")
    forget.add_argument("--cascade", action="store_true",
                        help="with --entity only: also forget every passage that mentions it")
    forget.add_argument("--purge", action="store_true",
                        help="PostgreSQL: also rewrite the tables and retire the WAL so no forgotten byte stays in "
                             "the data directory (slow; SQLite needs nothing more)")
    forget.set_defaults(func=_cmd_forget)

    dump = _command(sub, "dump", "write a canonical, content-keyed dump (sorted JSON lines)",
                    "Documents, entities, mentions, facts with their supporting documents, synonymy edges and vector "
                    "digests, keyed by content, so two stores can be diffed.")
    dump.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    dump.set_defaults(func=_cmd_dump)

    check = _command(sub, "check", "check a store's integrity (exit status 1 on a problem)",
                     "Database integrity, dangling or unsupported rows, embeddings, the saved configuration, the "
                     "vector snapshot, the derived state against the database, the memory bank.")
    check.set_defaults(func=_cmd_check)

    add_bank_parser(sub, open_existing)
    add_server_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 on a usage or store error)."""
    return run_cli(build_parser(), argv)
