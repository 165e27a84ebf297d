"""What every command line of the package shares: common options accepted before or after
the subcommand, store locations, JSON errors, quiet progress and logging."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from .errors import MemoryStoreError
from .progress import set_quiet
from .storage import is_postgres_url

__all__ = ["JsonAwareParser", "add_common", "store_location", "run_cli", "require_store", "emit"]


def store_location(text: str) -> str | Path:
    """A ``--store`` value: a PostgreSQL URL stays a string, anything else is a directory.

    >>> store_location("postgresql://me@db/x?schema=s"), store_location("runs/s")
    ('postgresql://me@db/x?schema=s', PosixPath('runs/s'))
    """
    return text if is_postgres_url(text) else Path(text)


class JsonAwareParser(argparse.ArgumentParser):
    """An argument parser whose usage errors come out as JSON when ``--json`` was given."""

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse's hook
        if "--json" in sys.argv[1:] or getattr(self, "_json_requested", False):
            print(json.dumps({"error": {"type": "UsageError", "message": message}}))
            raise SystemExit(2)
        super().error(message)


def add_common(parser: argparse.ArgumentParser, store: bool = True, top: bool = False) -> None:
    """``--store``, ``--json``, ``-q`` and ``-v``; on subcommands they default to SUPPRESS, so a
    value given before the subcommand is kept unless repeated after it."""
    default: Any = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    if store:
        parser.add_argument("--store", type=store_location, default=default(None), metavar="STORE",
                            help="store directory, or postgresql://user@host:port/db?schema=NAME")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print JSON (errors too)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log progress details (library DEBUG lines stay off)")


def require_store(args: argparse.Namespace) -> str | Path:
    """The ``--store`` value; a usage error when it was given nowhere."""
    if getattr(args, "store", None) is None:
        raise MemoryStoreError("--store is required (before or after the command)")
    return args.store


def emit(args: argparse.Namespace, payload: Any, text: Callable[[], str]) -> None:
    """Print ``payload`` as JSON with ``--json``, else the human-readable ``text()``."""
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(text())


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, set up logging and progress, run ``args.func``; named errors exit with status 2."""
    args = parser.parse_args(argv)
    set_quiet(bool(getattr(args, "quiet", False)))
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "huggingface_hub", "faiss", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except MemoryStoreError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}, ensure_ascii=False))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
