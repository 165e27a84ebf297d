"""The ASGI app: HTTP JSON API at ``/t/{tenant}/{operation}``, MCP at ``/t/{tenant}/mcp``.

Routes (all JSON):

- ``POST /t/{tenant}/{op}`` for every operation in :data:`memory.server.ops.OPERATIONS`
  (ingest, retrieve, get, forget, update, facts, history, recall, stats);
- ``/t/{tenant}/mcp``: MCP over streamable HTTP (stateless, JSON responses);
- ``GET /health`` and ``GET /openapi.json`` (no token needed).

Every request first passes :class:`Guard` (a plain ASGI middleware, so no route can
skip it): Host/Origin check, body size limit, tenant name whitelist (on the raw,
undecoded path) and bearer token for that tenant. Errors are JSON
(:mod:`memory.server.errors`).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations.
import contextlib
import logging
from typing import Any, AsyncIterator, Optional

from fastapi import Body, Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from .auth import HostPolicy, TokenTable
from .errors import SERVER_ERRORS, STORE_ERRORS, ServerError, error_from_exception
from .mcp_tools import http_session_manager, validation_error
from .ops import OPERATIONS, Operation, call
from .schemas import ErrorResponse
from .tenants import MAX_TENANT_NAME, TENANT_NAME_RULE, TenantRegistry, validate_tenant_name

__all__ = ["create_app", "Guard", "DEFAULT_MAX_BODY"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 32 * 1024 * 1024
_TENANT_PREFIX = b"/t/"


def _error_response(err: ServerError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.code == "unauthorized" else None
    return JSONResponse(err.to_dict(), status_code=err.status, headers=headers)


class Guard:
    """ASGI middleware in front of everything: Host/Origin, body size, tenant name, token.

    Sets ``scope["memory.tenant"]`` (validated and authorized) for ``/t/<tenant>/...``
    paths; the tenant segment must be plain ASCII in the raw path (no percent-encoding).

    Parameters
    ----------
    app : ASGI app
    hosts : HostPolicy, optional
        None disables the Host check (only for in-process tests).
    tokens : TokenTable, optional
        None: no authentication (only allowed on a loopback bind).
    max_body : int
        Largest request body in bytes.
    """

    def __init__(self, app: ASGIApp, hosts: Optional[HostPolicy], tokens: Optional[TokenTable],
                 max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app, self.hosts, self.tokens, self.max_body = app, hosts, tokens, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = Headers(scope=scope)
            if self.hosts is not None:
                self.hosts.check(headers.get("host"), headers.get("origin"))
            tenant = self._tenant(scope)
            if tenant is not None:
                if self.tokens is not None:
                    scope["memory.token"] = self.tokens.authorize(headers.get("authorization"), tenant).name
                scope["memory.tenant"] = tenant
            receive = await self._buffered(headers, receive)
        except ServerError as err:
            await _error_response(err)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _tenant(scope: Scope) -> Optional[str]:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        if not raw.startswith(_TENANT_PREFIX):
            return None
        segment = raw[len(_TENANT_PREFIX):].split(b"/", 1)[0]
        try:
            name = segment.decode("ascii")
        except UnicodeDecodeError:
            name = None
        # the decoded path must name the same tenant (no %2F, %2e, ... tricks)
        if name is None or not scope["path"].startswith(f"/t/{name}/") and scope["path"] != f"/t/{name}":
            raise ServerError("invalid_tenant", "invalid tenant name in the URL")
        return validate_tenant_name(name)

    async def _buffered(self, headers: Headers, receive: Receive) -> Receive:
        """Read the whole body (refusing more than ``max_body``) and replay it."""
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise ServerError("payload_too_large", f"request body over {self.max_body} bytes")
        chunks, size, more = [], 0, True
        trailing: list[Message] = []
        while more:
            message = await receive()
            if message["type"] != "http.request":
                trailing.append(message)
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                raise ServerError("payload_too_large", f"request body over {self.max_body} bytes")
            chunks.append(body)
            more = message.get("more_body", False)
        queue: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}, *trailing]

        async def replay() -> Message:
            return queue.pop(0) if queue else await receive()
        return replay


def _documented_errors() -> dict:
    model = {"model": ErrorResponse}
    return {400: {**model, "description": "invalid_document, invalid_query, invalid_config, invalid_tenant"},
            401: {**model, "description": "unauthorized"}, 403: {**model, "description": "forbidden"},
            404: {**model, "description": "tenant_not_found, unknown_document, unknown_entity"},
            409: {**model, "description": "bank_not_fitted, not_a_store, incompatible_store"},
            413: {**model, "description": "payload_too_large"},
            422: {**model, "description": "invalid_request (schema validation)"},
            500: {**model, "description": "internal_error, store_error, extraction_failed"}}


def _add_operation(app: FastAPI, registry: TenantRegistry, op: Operation) -> None:
    optional = not any(f.is_required() for f in op.request.model_fields.values())
    body_type = Optional[op.request] if optional else op.request  # type: ignore[valid-type]

    async def endpoint(request: Request, body: body_type = Body(None if optional else ...),  # type: ignore
                       tenant: str = Path(description=f"Tenant name: {TENANT_NAME_RULE}",
                                          max_length=MAX_TENANT_NAME, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
                       ) -> JSONResponse:
        if body is None:
            body = op.request()
        result = await call(registry, request.scope["memory.tenant"], op, body)
        return JSONResponse(result)

    endpoint.__name__ = f"op_{op.name}"
    app.post(f"/t/{{tenant}}/{op.name}", summary=op.title, description=op.description,
             responses={200: {"model": op.result, "description": "success"}, **_documented_errors()},
             tags=["write" if op.write else "read"], operation_id=op.name,
             dependencies=[Depends(HTTPBearer(auto_error=False, description="token from the token file "
                                              "(when the server has one)"))])(endpoint)


class _MCPEndpoint:
    """``/t/{tenant}/mcp``: hands the (already authorized) request to the MCP transport."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app.state.mcp.handle_request(scope, receive, send)


def create_app(registry: TenantRegistry, *, tokens: Optional[TokenTable] = None,
               hosts: Optional[HostPolicy] = None, max_body: int = DEFAULT_MAX_BODY) -> ASGIApp:
    """Build the server's ASGI app.

    Parameters
    ----------
    registry : TenantRegistry
        Where tenants' stores live and how calls on them are run.
    tokens : TokenTable, optional
        Bearer tokens per tenant; None serves every tenant without authentication
        (the CLI allows that only on a loopback address).
    hosts : HostPolicy, optional
        Host/Origin whitelist; None disables the check (in-process tests only).
    max_body : int
        Largest request body in bytes.

    Returns
    -------
    ASGI app
        The FastAPI app wrapped in :class:`Guard`; its lifespan runs the MCP transport
        and closes every store on shutdown.
    """
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.mcp = http_session_manager(registry)
        async with app.state.mcp.run():
            try:
                yield
            finally:
                await registry.aclose()

    app = FastAPI(title="memory server", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json",
                  description="HippoRAG-style memory, one isolated store per tenant. Error codes: "
                              + ", ".join(sorted({c for c, _ in STORE_ERRORS.values()} | set(SERVER_ERRORS))))

    @app.exception_handler(ServerError)
    async def server_error(request: Request, exc: ServerError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                   for e in exc.errors()]
        fields = ", ".join(".".join(d["loc"]) for d in details)
        return _error_response(ServerError("invalid_request", f"invalid request: {fields}", details=details))

    @app.exception_handler(ValidationError)
    async def invalid_model(request: Request, exc: ValidationError) -> JSONResponse:
        return _error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return _error_response(ServerError(code, str(exc.detail), status=exc.status_code))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(error_from_exception(exc))

    @app.get("/health", tags=["server"], summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    for op in OPERATIONS.values():
        _add_operation(app, registry, op)
    app.router.routes.append(Route("/t/{tenant}/mcp", endpoint=_MCPEndpoint(app), include_in_schema=False))
    return Guard(app, hosts, tokens, max_body)

