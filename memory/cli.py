"""Command-line interface over :class:`memory.MemoryStore` (thin: parse, call, print)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from .bank.cli import add_bank_parser
from .check import check_store
from .config import SPLIT_MODES, IngestConfig
from .demo import run_demo
from .documents import coerce_documents
from .dump import dump_lines
from .errors import InvalidDocumentError, MemoryStoreError, NotAStoreError
from .extract import OpenIEExtractor
from .retrieval import MODES
from .server.cli import add_server_parsers
from .storage import DB_FILENAME
from .store import MemoryStore

__all__ = ["main", "build_parser", "read_documents", "open_existing"]


def read_documents(path: Path) -> list[dict[str, Any]]:
    """Read documents from a JSON list or a JSONL file (one JSON object per line).

    Raises
    ------
    InvalidDocumentError
        When the file cannot be read or parsed.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidDocumentError(f"cannot read {path}: {exc.strerror}") from None
    stripped = raw.lstrip()
    try:
        if stripped.startswith("["):
            docs = json.loads(raw)
        else:
            docs = [json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InvalidDocumentError(f"{path}: not JSON or JSONL ({exc})") from None
    if not isinstance(docs, list):
        raise InvalidDocumentError(f"{path}: expected a JSON list of documents")
    return docs


def _cmd_ingest(args: argparse.Namespace) -> int:
    docs = coerce_documents(read_documents(args.file))  # validate everything before writing
    extractor = OpenIEExtractor(args.openie) if args.openie else None
    size = args.batch_size or len(docs)
    split = IngestConfig(split=args.split, window_tokens=args.window_tokens, window_overlap=args.overlap)
    with MemoryStore(args.store, extractor=extractor) as store:
        with tqdm(total=len(docs), unit="doc", desc="ingest", disable=args.quiet) as bar:
            for start in range(0, len(docs), size):
                store.ingest(docs[start : start + size], split=split)
                bar.update(len(docs[start : start + size]))
        stats = store.stats()
    print(f"{len(docs)} documents ingested into {args.store}: {stats['documents']} documents, "
          f"{stats['entities']} entities, {stats['facts']} facts")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        hits = store.retrieve(args.text, top_k=args.top_k, mode=args.mode, as_of=args.as_of)
        if args.json:
            print(json.dumps([hit.to_dict(explain=args.explain) for hit in hits], indent=2,
                             ensure_ascii=False))
            return 0
        if not hits:
            print("no hits")
        for hit in hits:
            title = f" [{hit.title}]" if hit.title else ""
            print(f"{hit.rank}. {hit.doc_id}{title}  score={hit.score:.4g}")
            print(f"   {hit.text[:300]}{'...' if len(hit.text) > 300 else ''}")
            if args.explain:
                print("   " + str(hit.explain()).replace("\n", "\n   "))
    return 0


def _print_records(records: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        print("no facts")
    for r in records:
        span = f"{r.valid_from or '...'} to {r.valid_to or '...'}"
        print(f"{r.subject} | {r.relation} | {r.object}   valid {span}   "
              f"(sources: {', '.join(r.sources)})")


def _cmd_history(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        _print_records(store.history(args.subject, args.relation), args.json)
    return 0


def _cmd_facts(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        _print_records(store.facts(args.subject, args.relation, as_of=args.as_of), args.json)
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        report = store.update(args.subject, args.relation, args.object, at=args.at)
    if args.json:
        print(json.dumps({"document_id": report.document_id,
                          "closed": [r.to_dict() for r in report.closed],
                          "opened": report.opened.to_dict()}, indent=2, ensure_ascii=False))
        return 0
    closed = ", ".join(f"{r.object} (until {r.valid_to})" for r in report.closed) or "nothing"
    print(f"{report.opened.subject} | {report.opened.relation} | {report.opened.object} from "
          f"{report.opened.valid_from}; closed {closed}; source document {report.document_id}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key, value in stats.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            print(f"{key:>16}: {value}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.store is None:
        with tempfile.TemporaryDirectory(prefix="memory-demo-") as tmp:
            return run_demo(Path(tmp) / "store", questions=args.questions, top_k=args.top_k)
    return run_demo(args.store, questions=args.questions, top_k=args.top_k)


def open_existing(path: Path) -> MemoryStore:
    """Open the store at ``path``; NotAStoreError when there is none (never creates one)."""
    if not (path / DB_FILENAME).is_file():
        raise NotAStoreError(f"{path} is not a store (no {DB_FILENAME})")
    return MemoryStore(path)


def _cmd_forget(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        if args.entity is not None:
            report = store.forget_entity(args.entity, cascade=args.cascade)
        elif args.fact is not None:
            report = store.forget_fact(*args.fact)
        else:
            report = store.forget(ids=args.doc)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(f"forgot {len(report.documents)} document(s); removed {report.removed}; "
          f"kept (other sources) {report.kept}; recomputed {report.recomputed}; "
          f"cached extractions purged {report.extraction_cache_purged}")
    if report.stated_in:
        print(f"still stated in the text of {len(report.stated_in)} passage(s): "
              f"{', '.join(report.stated_in)}")
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    with open_existing(args.store) as store:
        lines = list(dump_lines(store))
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    if not (args.store / DB_FILENAME).is_file():
        raise NotAStoreError(f"{args.store} is not a store (no {DB_FILENAME})")
    try:
        with MemoryStore(args.store) as store:
            problems = check_store(store)
    except MemoryStoreError as exc:  # a store too damaged to open: check what can be read
        problems = [f"the store cannot be opened: {exc}"] + check_store(args.store)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{args.store}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m memory``."""
    parser = argparse.ArgumentParser(
        prog="python -m memory",
        description="An embeddable HippoRAG-style knowledge store: ingest passages into a "
                    "knowledge graph and retrieve them with Personalized PageRank.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser(
        "ingest", help="add documents from a JSON or JSONL file",
        description="Add documents to a store (created if missing). Each document is an object "
                    "with 'text' and optional 'id', 'title', 'metadata'; other fields are kept "
                    "as metadata. Re-ingesting an id with the same content changes nothing.")
    ingest.add_argument("--store", required=True, type=Path, help="store directory")
    ingest.add_argument("file", type=Path, help="JSON list or JSONL file of documents")
    ingest.add_argument("--openie", type=Path, metavar="JSON",
                        help="take entities and triples from a HippoRAG OpenIE results file "
                             "instead of the offline spaCy extractor")
    ingest.add_argument("--batch-size", type=int, default=100, metavar="N",
                        help="documents per transaction (default 100; 0 = all in one)")
    ingest.add_argument("--split", choices=SPLIT_MODES, default="none",
                        help="split documents into passages: at blank lines (paragraph) or in "
                             "fixed token windows (window); default none")
    ingest.add_argument("--window-tokens", type=int, default=200, metavar="N",
                        help="tokens per passage with --split window (default 200)")
    ingest.add_argument("--overlap", type=int, default=0, metavar="N",
                        help="tokens shared by consecutive windows (default 0)")
    ingest.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(func=_cmd_ingest)

    query = sub.add_parser("query", help="retrieve passages for a question",
                           description="Rank the store's passages for a question.")
    query.add_argument("--store", required=True, type=Path, help="store directory")
    query.add_argument("text", help="the question")
    query.add_argument("--top-k", type=int, default=5, metavar="N", help="number of hits (default 5)")
    query.add_argument("--mode", choices=MODES, default="hipporag",
                       help="hipporag (fact and entity linking + PPR, default), hipporag1 (entity "
                            "linking + PPR), hybrid (best dense hit, then hipporag), dense "
                            "(embeddings), bm25 (lexical)")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.add_argument("--explain", action="store_true",
                       help="show the seed nodes and graph paths behind each hit")
    query.add_argument("--as-of", metavar="DATE", default=None,
                       help="answer as of DATE (YYYY, YYYY-MM or YYYY-MM-DD); default: a date the "
                            "question names ('in 2015'), else no time constraint")
    query.set_defaults(func=_cmd_query)

    history = sub.add_parser("history", help="every value a subject's relation has had",
                             description="The timeline of (SUBJECT, RELATION): each value with the "
                                         "interval in which it held and its sources.")
    history.add_argument("--store", required=True, type=Path, help="store directory")
    history.add_argument("--subject", required=True, help="entity name")
    history.add_argument("--relation", required=True, help="relation label, as stored")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(func=_cmd_history)

    facts = sub.add_parser("facts", help="the facts that hold at a date",
                           description="Facts holding at --as-of (default today), optionally of "
                                       "one subject and relation.")
    facts.add_argument("--store", required=True, type=Path, help="store directory")
    facts.add_argument("--subject", default=None, help="entity name")
    facts.add_argument("--relation", default=None, help="relation label, as stored")
    facts.add_argument("--as-of", metavar="DATE", default=None, help="YYYY, YYYY-MM or YYYY-MM-DD")
    facts.add_argument("--json", action="store_true", help="print JSON")
    facts.set_defaults(func=_cmd_facts)

    update = sub.add_parser("update", help="rewrite a fact from a date on, keeping history",
                            description="Close the current value of (SUBJECT, RELATION) at --at and "
                                        "open OBJECT; the old value stays as history.")
    update.add_argument("--store", required=True, type=Path, help="store directory")
    update.add_argument("--subject", required=True, help="entity name")
    update.add_argument("--relation", required=True, help="relation label")
    update.add_argument("--object", required=True, help="the new value")
    update.add_argument("--at", required=True, metavar="DATE", help="when the new value starts")
    update.add_argument("--json", action="store_true", help="print the report as JSON")
    update.set_defaults(func=_cmd_update)

    stats = sub.add_parser("stats", help="counts and size of a store",
                           description="Documents, entities, facts, edges by kind, bytes on disk.")
    stats.add_argument("--store", required=True, type=Path, help="store directory")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=_cmd_stats)

    demo = sub.add_parser(
        "demo", help="build a store from the bundled MuSiQue sample and answer questions",
        description="Index the bundled MuSiQue sample (data/musique_sample) with the offline "
                    "extractor and encoder, then answer multi-hop questions with hipporag and "
                    "dense retrieval side by side, showing why each hit was found.")
    demo.add_argument("--store", type=Path, default=None,
                      help="keep the demo store here (default: a temporary directory)")
    demo.add_argument("--questions", type=int, default=3, metavar="N",
                      help="questions to show in full (default 3); recall is over all 12")
    demo.add_argument("--top-k", type=int, default=5, metavar="N", help="hits per question")
    demo.set_defaults(func=_cmd_demo)

    forget = sub.add_parser(
        "forget", help="remove documents and everything derived only from them",
        description="Forget documents in one transaction: their passages, the facts and entities "
                    "only they supported, their vectors, synonymy edges and cached extractions. "
                    "Facts and entities other documents still support stay, with lower weight.")
    forget.add_argument("--store", required=True, type=Path, help="store directory")
    target = forget.add_mutually_exclusive_group(required=True)
    target.add_argument("--doc", action="append", metavar="ID",
                        help="document id to forget (repeatable; all in one transaction)")
    target.add_argument("--entity", metavar="NAME",
                        help="forget an entity: its facts, mentions and synonymy edges")
    target.add_argument("--fact", nargs=3, metavar=("SUBJECT", "RELATION", "OBJECT"),
                        help="forget one fact wherever it came from (the passages stay)")
    forget.add_argument("--cascade", action="store_true",
                        help="with --entity: also forget every passage that mentions it")
    forget.add_argument("--json", action="store_true", help="print the report as JSON")
    forget.set_defaults(func=_cmd_forget)

    dump = sub.add_parser(
        "dump", help="write a canonical, content-keyed dump (sorted JSON lines)",
        description="Documents, entities, mentions, facts with their supporting documents, synonymy "
                    "edges and vector digests, keyed by content, so two stores can be diffed.")
    dump.add_argument("--store", required=True, type=Path, help="store directory")
    dump.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    dump.set_defaults(func=_cmd_dump)

    check = sub.add_parser(
        "check", help="check a store's integrity (exit status 1 on a problem)",
        description="SQLite integrity, dangling or unsupported rows, embeddings, faiss indexes.")
    check.add_argument("--store", required=True, type=Path, help="store directory")
    check.set_defaults(func=_cmd_check)

    add_bank_parser(sub, open_existing)
    add_server_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 on a usage or store error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except MemoryStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
