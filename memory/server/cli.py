"""The ``serve`` and ``mcp`` commands of ``python -m memory`` (wired in by :mod:`memory.cli`).

Only :mod:`argparse` is imported here; the server's dependencies (FastAPI, uvicorn, the
``mcp`` SDK: ``pip install -e ".[server]"``) load when a command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_server_parsers"]


def _missing_extra(exc: ImportError) -> int:
    print(f"error: the server needs its extra dependencies ({exc.name} is missing): "
          'pip install -e ".[server]"', file=sys.stderr)
    return 2


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .runner import ServerConfig, ServerSetupError, serve
    except ImportError as exc:
        return _missing_extra(exc)
    config = ServerConfig(root=args.root, database=args.database, host=args.host, port=args.port,
                          token_file=args.token_file, allow_hosts=args.allow_host, workers=args.threads)
    try:
        serve(config, log_level="info" if args.verbose else "warning")
    except ServerSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_mcp(args: argparse.Namespace) -> int:
    try:
        from .errors import ServerError
        from .runner import serve_stdio
    except ImportError as exc:
        return _missing_extra(exc)
    # stdout carries the protocol: everything else goes to stderr
    logging.getLogger().handlers[:] = [logging.StreamHandler(sys.stderr)]
    try:
        serve_stdio(args.root, args.tenant, database=args.database)
    except ServerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


def add_server_parsers(subparsers: Any) -> None:
    """Add ``serve`` and ``mcp`` to the ``python -m memory`` subcommands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.
    """
    serve = subparsers.add_parser(
        "serve", help="serve tenants' stores over HTTP (JSON API) and MCP",
        description="Serve one store per tenant (ROOT/<tenant>, created on its first write): an HTTP "
                    "JSON API at /t/<tenant>/<operation> (schema at /openapi.json) and MCP over "
                    "streamable HTTP at /t/<tenant>/mcp. Binds 127.0.0.1 unless told otherwise; any "
                    "other address needs --token-file.")
    serve.add_argument("--root", required=True, type=Path,
                       help="directory holding the tenants' stores (with --database: their derived caches)")
    serve.add_argument("--database", default=None, metavar="URL",
                       help="postgresql://user@host:port/db: each tenant is a schema of this database")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 picks a free one)")
    serve.add_argument("--token-file", type=Path, default=None, metavar="FILE",
                       help='JSON {"tokens": [{"name", "token" or "sha256", "tenants": [...] or ["*"]}]}; '
                            "every request then needs 'Authorization: Bearer <token>'")
    serve.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]",
                       help="also accept this Host header (repeatable; loopback names with the port "
                            "are always accepted)")
    serve.add_argument("--threads", type=int, default=32, metavar="N",
                       help="worker threads: tenants that can run calls at once (default 32)")
    serve.set_defaults(func=_cmd_serve)

    mcp = subparsers.add_parser(
        "mcp", help="serve one tenant's store over MCP on stdin/stdout (for desktop agents)",
        description="Speak MCP over stdin/stdout for the store ROOT/TENANT (created on its first "
                    "write), with the same tools as the HTTP server.")
    mcp.add_argument("--root", required=True, type=Path,
                     help="directory holding the tenants' stores (with --database: their derived caches)")
    mcp.add_argument("--database", default=None, metavar="URL",
                     help="postgresql://user@host:port/db: the tenant is a schema of this database")
    mcp.add_argument("--tenant", required=True, help="tenant name (a-z, 0-9, '_', '-')")
    mcp.set_defaults(func=_cmd_mcp)
