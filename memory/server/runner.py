"""Running the server: checks, the blocking ``serve``, a background server, stdio MCP.

The socket is bound before uvicorn starts (so ``port=0`` works and the Host check
knows the real port); a non-loopback address is refused without a token file.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import EmbeddingConfig
from ..embed import Embedder, load_embedder
from .auth import HostPolicy, TokenTable, is_loopback_host
from .tenants import TenantRegistry, tenant_backend

__all__ = ["ServerConfig", "bind_socket", "build", "serve", "BackgroundServer", "serve_stdio", "ServerSetupError"]

logger = logging.getLogger(__name__)


class ServerSetupError(ValueError):
    """The server cannot start as configured (bad token file, unsafe bind, ...)."""


@dataclass
class ServerConfig:
    """How to run the server.

    Parameters
    ----------
    root : Path
        Directory holding one store directory per tenant (with ``database``: each
        tenant's derived caches).
    database : str, optional
        ``postgresql://user@host:port/db``: each tenant is a schema of this database.
    host, port : str, int
        Where to listen (default 127.0.0.1:8700; port 0 picks a free port).
    token_file : Path, optional
        Bearer tokens per tenant (required for a non-loopback host).
    allow_hosts : sequence of str
        Extra ``Host`` header values to accept.
    embedder : Embedder, optional
        Encoder shared by the tenants' stores (default: the default encoder, loaded once).
    workers : int
        Worker threads: how many tenants can run calls at once.
    max_open : int
        Tenant stores kept open.
    max_body : int
        Largest request body in bytes (default 32 MiB).
    """

    root: Path
    database: str | None = None
    host: str = "127.0.0.1"
    port: int = 8700
    token_file: Path | None = None
    allow_hosts: Sequence[str] = ()
    embedder: Embedder | None = None
    workers: int = 32
    max_open: int = 64
    max_body: int = 32 * 1024 * 1024
    tokens: TokenTable | None = field(default=None, repr=False)

    def check(self) -> None:
        """Load the token file and refuse an unsafe bind (:class:`ServerSetupError`)."""
        if self.token_file is not None and self.tokens is None:
            try:
                self.tokens = TokenTable.load(self.token_file)
            except ValueError as exc:
                raise ServerSetupError(str(exc)) from None
        if self.tokens is None and not is_loopback_host(self.host):
            raise ServerSetupError(f"refusing to listen on {self.host} without --token-file: "
                                   "only a loopback address (127.0.0.1, ::1, localhost) may serve "
                                   "without authentication")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. Without it, a response written in two pieces on a
    # kept-alive connection waits for the client's delayed ACK (40 ms on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServerSetupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def build(config: ServerConfig, port: int) -> tuple[Any, TenantRegistry]:
    """The ASGI app and its tenant registry for a server listening on ``port``."""
    from .app import create_app

    config.check()
    embedder = config.embedder or load_embedder(EmbeddingConfig())
    registry = TenantRegistry(tenant_backend(config.root, config.database, embedder), workers=config.workers,
                              max_open=config.max_open)
    hosts = HostPolicy(port, config.host, config.allow_hosts)
    return create_app(registry, tokens=config.tokens, hosts=hosts, max_body=config.max_body), registry


def _uvicorn(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False,
                                         timeout_graceful_shutdown=10))


def serve(config: ServerConfig, log_level: str = "info") -> None:
    """Serve HTTP and MCP until interrupted (blocking)."""
    config.check()
    sock = bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    app, _ = build(config, port)
    logger.warning("memory server on http://%s:%d (tenants under %s; %s)",
                   config.host if ":" not in config.host else f"[{config.host}]", port, config.root,
                   "bearer tokens required" if config.tokens else "no authentication, loopback only")
    _uvicorn(app, log_level).run(sockets=[sock])


class BackgroundServer:
    """A server in a background thread on a free loopback port (tests, benchmarks).

    >>> with BackgroundServer(ServerConfig(root=tmp)) as server:  # doctest: +SKIP
    ...     httpx.post(server.url + "/t/alice/stats")
    """

    def __init__(self, config: ServerConfig, log_level: str = "warning", start_timeout: float = 60.0) -> None:
        self.config = config
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.url = ""
        self.registry: TenantRegistry | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "BackgroundServer":
        sock = bind_socket(self.config.host, 0)
        port = sock.getsockname()[1]
        app, self.registry = build(self.config, port)
        self._server = _uvicorn(app, self.log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="memory-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)


def serve_stdio(root: Path, tenant: str, embedder: Embedder | None = None, database: str | None = None) -> None:
    """Serve MCP for one tenant over stdin/stdout until stdin closes (blocking)."""
    import anyio

    from .mcp_tools import run_stdio
    from .tenants import validate_tenant_name

    validate_tenant_name(tenant)
    registry = TenantRegistry(tenant_backend(root, database, embedder or load_embedder(EmbeddingConfig())),
                              workers=4)
    anyio.run(run_stdio, registry, tenant)
