"""The local web viewer: a read-only JSON API over :mod:`graphs.inspect.views` and a static page.

Bound to 127.0.0.1 by default; only GET is served (anything else is 405). The page
builds its DOM with ``textContent`` (document text is never parsed as HTML) and is
served with a Content-Security-Policy that allows only its own scripts.

DNS rebinding: a web page whose domain is made to resolve to 127.0.0.1 could read
the API from the user's browser. So every request's ``Host`` header must name the
server: the loopback names (``127.0.0.1``, ``localhost``, ``[::1]``) or the address
it is bound to, with its port, or a host given in ``allowed_hosts``; anything else
(or no Host) gets ``421 Misdirected Request`` with a JSON error, before any route runs.

API (all JSON): ``/api/summary``, ``/api/search?q=``, ``/api/entity?name=``,
``/api/neighbourhood?name=&depth=&limit=``, ``/api/passage?id=``,
``/api/query?q=&k=&mode=&as_of=``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlparse

from . import views

__all__ = ["make_server", "serve", "allowed_host_headers", "LOOPBACK_NAMES"]

#: Host names that always reach a viewer (with its port).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
_SECURITY = {"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                        "img-src 'self' data:; object-src 'none'; base-uri 'none'",
             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
             "Cache-Control": "no-store"}
_MAX_DEPTH, _MAX_NODES, _MAX_K = 2, 150, 20


def _int(params: dict[str, list[str]], name: str, default: int, high: int) -> int:
    try:
        value = int(params.get(name, [str(default)])[0])
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    return max(1, min(value, high))


def _text(params: dict[str, list[str]], name: str) -> str:
    value = params.get(name, [""])[0].strip()
    if not value:
        raise ValueError(f"missing parameter {name!r}")
    return value


def _routes(store: Any) -> dict[str, Callable[[dict[str, list[str]]], Any]]:
    return {
        "/api/summary": lambda p: views.summary(store, _int(p, "top", 10, 50)),
        "/api/search": lambda p: views.search_entities(store, _text(p, "q"), _int(p, "limit", 20, 100)),
        "/api/entity": lambda p: views.entity_view(store, _text(p, "name")),
        "/api/neighbourhood": lambda p: views.neighbourhood(store, _text(p, "name"),
                                                            _int(p, "depth", 1, _MAX_DEPTH),
                                                            _int(p, "limit", 60, _MAX_NODES)),
        "/api/passage": lambda p: views.passage_view(store, _text(p, "id")),
        "/api/query": lambda p: views.explain_query(store, _text(p, "q"), _int(p, "k", 5, _MAX_K),
                                                    p.get("mode", ["hipporag"])[0],
                                                    p.get("as_of", [None])[0] or None),
    }


def _split_host(entry: str) -> tuple[str, int | None]:
    """``name[:port]`` -> (name, port); IPv6 literals come back bracketed."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        name, _, rest = entry.partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        name += "]"
    elif entry.count(":") == 1:
        name, port = entry.split(":")
    else:
        name, port = (f"[{entry}]" if ":" in entry else entry), ""
    if port and not port.isdigit():
        raise ValueError(f"bad host {entry!r}: the port must be a number")
    return name, int(port) if port else None


def allowed_host_headers(port: int, bind: str = "127.0.0.1", extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` header values a viewer on ``bind:port`` answers.

    The loopback names and the bound address (when it is one address, not a
    wildcard) with the port, and each ``extra`` entry: ``name`` (with the port) or
    ``name:port`` (exactly). Port 80 also allows the bare name.

    >>> sorted(allowed_host_headers(8765, extra=["viewer.test"]))
    ['127.0.0.1:8765', '[::1]:8765', 'localhost:8765', 'viewer.test:8765']
    """
    names: set[tuple[str, int | None]] = {(name, None) for name in LOOPBACK_NAMES}
    try:
        address = ipaddress.ip_address(bind)
        if not address.is_unspecified:
            names.add(_split_host(str(address)))
    except ValueError:
        pass  # a name such as "localhost" is covered above, others must be allowed explicitly
    names.update(_split_host(entry) for entry in extra)
    allowed = set()
    for name, fixed in names:
        allowed.add(f"{name}:{fixed or port}")
        if (fixed or port) == 80:
            allowed.add(name)
    return frozenset(allowed)


def make_server(store: Any, host: str = "127.0.0.1", port: int = 8765,
                allowed_hosts: Iterable[str] = ()) -> ThreadingHTTPServer:
    """A viewer server over an open store (call ``serve_forever()``; port 0 picks a free one).

    Parameters
    ----------
    store : MemoryStore
    host, port : str, int
        Where to listen.
    allowed_hosts : iterable of str
        Further ``Host`` header values to answer (``name`` or ``name:port``), besides the
        loopback names (see :func:`allowed_host_headers`).
    """
    from memory.errors import MemoryStoreError, UnknownDocumentError, UnknownEntityError

    routes = _routes(store)
    extra = list(allowed_hosts)
    for entry in extra:
        _split_host(entry)  # a bad entry is an error now, not at the first request
    accepted: dict[str, frozenset[str]] = {}

    class Handler(BaseHTTPRequestHandler):
        server_version = "memory-inspect"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in _SECURITY.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"),
                       "application/json; charset=utf-8")

        def _host_allowed(self) -> bool:
            host = (self.headers.get("Host") or "").strip().lower()
            if host in accepted["hosts"]:
                return True
            self._json(HTTPStatus.MISDIRECTED_REQUEST,
                       {"error": f"this viewer does not answer for Host {host[:100]!r}; open it as "
                                 f"http://127.0.0.1:{self.server.server_address[1]}/ or start it with "
                                 "--allow-host NAME"})
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if not self._host_allowed():
                return None
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                return self._file("index.html")
            if url.path.startswith("/static/"):
                return self._file(url.path[len("/static/"):])
            route = routes.get(url.path)
            if route is None:
                return self._json(404, {"error": f"no such page {url.path!r}"})
            try:
                result = route(parse_qs(url.query))  # the store serves concurrent reads itself
            except (UnknownEntityError, UnknownDocumentError) as exc:
                return self._json(404, {"error": str(exc).strip("'\"")})
            except (ValueError, MemoryStoreError) as exc:
                return self._json(400, {"error": str(exc)})
            except Exception:  # noqa: BLE001 - answer, log, keep serving
                logger.exception("viewer request %s failed", url.path)
                return self._json(500, {"error": "internal error (see the viewer's log)"})
            return self._json(200, result)

        def _file(self, name: str) -> None:
            path = (STATIC / name).resolve()
            if path.parent != STATIC.resolve() or path.suffix not in _STATIC_TYPES or not path.is_file():
                return self._json(404, {"error": "not found"})
            self._send(200, path.read_bytes(), _STATIC_TYPES[path.suffix])

        def _read_only(self) -> None:
            if self._host_allowed():
                self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "the viewer is read-only"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.info("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    accepted["hosts"] = allowed_host_headers(server.server_address[1], host, extra)
    return server


def serve(store_path: Path, host: str = "127.0.0.1", port: int = 8765, allowed_hosts: Iterable[str] = (),
          as_json: bool = False) -> None:
    """Serve the viewer for the store at ``store_path`` until interrupted.

    Prints the address (a JSON line with ``as_json``); see :func:`make_server`.
    """
    from memory.cli import open_existing

    with open_existing(store_path) as store:
        server = make_server(store, host, port, allowed_hosts)
        if host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("the viewer is reachable from other machines on %s", host)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{server.server_address[1]}/"
        print(json.dumps({"serving": str(store_path), "url": url}) if as_json
              else f"serving {store_path} on {url} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
