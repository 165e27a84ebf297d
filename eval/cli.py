"""Command-line plumbing shared by the ``python -m eval.<name>`` entrypoints."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Callable

from memory.retrieval import MODES

__all__ = ["parse_list", "retriever_list", "add_output_arguments", "configure_logging", "write_json"]


def parse_list(text: str, convert: Callable[[str], Any], what: str) -> list[Any]:
    """A comma-separated argument as a list (an ``argparse`` type).

    >>> parse_list("2,5", int, "top-k")
    [2, 5]
    """
    try:
        values = [convert(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad {what} list {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"empty {what} list")
    return values


def retriever_list(text: str) -> list[str]:
    """Comma-separated retrieval modes, each one of :data:`memory.retrieval.MODES`."""
    modes = parse_list(text, str, "retriever")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown retriever(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return modes


def add_output_arguments(parser: argparse.ArgumentParser, json_help: str) -> None:
    """``--json OUT`` and ``--quiet``."""
    parser.add_argument("--json", type=Path, default=None, help=json_help)
    parser.add_argument("--quiet", action="store_true", help="log warnings only")


def configure_logging(quiet: bool) -> None:
    """INFO logging with timestamps (WARNING with ``--quiet``)."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s: %(message)s")


def write_json(path: Path | None, payload: Any) -> None:
    """Write ``payload`` as indented JSON to ``path`` (creating its directory), if given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
