"""The local web viewer: a read-only JSON API over :mod:`graphs.inspect.views` and a static page.

Bound to 127.0.0.1 by default; only GET is served (anything else is 405). The page
builds its DOM with ``textContent`` (document text is never parsed as HTML) and is
served with a Content-Security-Policy that allows only its own scripts.

API (all JSON): ``/api/summary``, ``/api/search?q=``, ``/api/entity?name=``,
``/api/neighbourhood?name=&depth=&limit=``, ``/api/passage?id=``,
``/api/query?q=&k=&mode=&as_of=``.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from . import views

__all__ = ["make_server", "serve"]

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
        "/api/summary": lambda p: views.summary(store),
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


def make_server(store: Any, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A viewer server over an open store (call ``serve_forever()``; port 0 picks a free one)."""
    from memory.errors import MemoryStoreError, UnknownDocumentError, UnknownEntityError

    routes = _routes(store)
    lock = threading.Lock()  # one store, one request at a time

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

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                return self._file("index.html")
            if url.path.startswith("/static/"):
                return self._file(url.path[len("/static/"):])
            route = routes.get(url.path)
            if route is None:
                return self._json(404, {"error": f"no such page {url.path!r}"})
            try:
                with lock:
                    result = route(parse_qs(url.query))
            except (UnknownEntityError, UnknownDocumentError) as exc:
                return self._json(404, {"error": str(exc).strip("'\"")})
            except (ValueError, MemoryStoreError) as exc:
                return self._json(400, {"error": str(exc)})
            return self._json(200, result)

        def _file(self, name: str) -> None:
            path = (STATIC / name).resolve()
            if path.parent != STATIC.resolve() or path.suffix not in _STATIC_TYPES or not path.is_file():
                return self._json(404, {"error": "not found"})
            self._send(200, path.read_bytes(), _STATIC_TYPES[path.suffix])

        def _read_only(self) -> None:
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "the viewer is read-only"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(store_path: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the viewer for the store at ``store_path`` until interrupted."""
    from memory.cli import open_existing

    with open_existing(store_path) as store:
        server = make_server(store, host, port)
        if host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("the viewer is reachable from other machines on %s", host)
        print(f"serving {store_path} on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
