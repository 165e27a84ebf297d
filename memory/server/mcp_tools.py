"""MCP: the operations as tools, over streamable HTTP (per tenant) and stdio (one tenant).

Built on the official SDK's low-level ``Server`` so that a tool's input and output
schemas are exactly the operation's pydantic schemas (:mod:`memory.server.schemas`)
and every failure, argument validation included, comes back as the same JSON error
as over HTTP (``{"error": {"code", "message", "status"}}``) in a tool result with
``isError``. Over HTTP the transport is stateless (no MCP session is kept between
requests), so nothing of one tenant's connection can be reused for another: each
request is authorized for the tenant in its own URL by :mod:`memory.server.app`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import ValidationError

from .. import __version__
from .errors import ServerError, error_from_exception
from .ops import OPERATIONS, Operation, call
from .tenants import TenantRegistry, validate_tenant_name

__all__ = ["build_mcp_server", "mcp_tools", "http_session_manager", "run_stdio", "validation_error"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Long-term memory backed by a knowledge graph. Use 'ingest' to store passages (give ids to "
    "update or forget them later), 'retrieve' to find passages that answer a question (set "
    "'explain' to see why each was found), 'get' to read one, 'forget' to delete documents, an "
    "entity or a fact for good, 'update'/'facts'/'history' for facts that change over time, "
    "'recall' for closed-book answers and 'stats' for counts. Errors come back as JSON with a "
    "stable 'code'."
)


def validation_error(exc: ValidationError) -> ServerError:
    """``invalid_request`` naming the fields that failed (never echoing their values)."""
    details = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    fields = ", ".join(".".join(d["loc"]) or "(body)" for d in details)
    return ServerError("invalid_request", f"invalid arguments: {fields}", details=details)


def _tool(op: Operation) -> types.Tool:
    return types.Tool(
        name=op.name, title=op.title, description=op.description,
        input_schema=op.request.model_json_schema(),
        output_schema=op.result.model_json_schema(),
        annotations=types.ToolAnnotations(title=op.title, read_only_hint=not op.write,
                                          destructive_hint=op.destructive, idempotent_hint=op.idempotent,
                                          open_world_hint=False))


def mcp_tools() -> list[types.Tool]:
    """The MCP tool list: one tool per operation, same names and schemas as the HTTP API."""
    return [_tool(op) for op in OPERATIONS.values()]


def _error_result(err: ServerError) -> types.CallToolResult:
    body = err.to_dict()
    return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(body))],
                                structured_content=body, is_error=True)


def build_mcp_server(registry: TenantRegistry, tenant_of: Callable[[Any], str]) -> Server:
    """An MCP server whose tools run on ``registry``.

    Parameters
    ----------
    registry : TenantRegistry
    tenant_of : callable
        Maps the SDK's request context to the tenant name (fixed for stdio; taken
        from the authorized HTTP request otherwise).
    """
    tools = mcp_tools()

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        op = OPERATIONS.get(params.name)
        if op is None:
            return _error_result(ServerError("not_found", f"no tool named {params.name!r}; "
                                                          f"tools: {', '.join(OPERATIONS)}"))
        try:
            request = op.request.model_validate(params.arguments or {})
            result = await call(registry, tenant_of(ctx), op, request)
        except ValidationError as exc:
            return _error_result(validation_error(exc))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON error result
            return _error_result(error_from_exception(exc))
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(result))],
                                    structured_content=result)

    def input_schema(name: str) -> dict[str, Any] | None:
        op = OPERATIONS.get(name)
        return op.request.model_json_schema() if op else None

    return Server("memory", version=__version__, title="memory", instructions=INSTRUCTIONS,
                  get_tool_input_schema=input_schema, on_list_tools=list_tools, on_call_tool=call_tool)


def _tenant_from_request(ctx: Any) -> str:
    """The tenant the HTTP guard authorized for this request (set on the ASGI scope)."""
    request = getattr(ctx, "request", None)
    tenant = getattr(request, "scope", {}).get("memory.tenant") if request is not None else None
    if tenant is None:
        raise ServerError("internal_error", "no authorized tenant on this request")
    return tenant


def http_session_manager(registry: TenantRegistry) -> StreamableHTTPSessionManager:
    """The streamable-HTTP transport for ``/t/{tenant}/mcp``: stateless, JSON responses.

    Host/Origin checks and auth happen before it (``memory.server.app``), so the SDK's
    own DNS-rebinding check is off here rather than configured twice.
    """
    server = build_mcp_server(registry, _tenant_from_request)
    return StreamableHTTPSessionManager(
        app=server, stateless=True, json_response=True,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))


async def run_stdio(registry: TenantRegistry, tenant: str) -> None:
    """Serve MCP over this process's stdin/stdout for one tenant until stdin closes."""
    validate_tenant_name(tenant)
    server = build_mcp_server(registry, lambda ctx: tenant)
    try:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await registry.aclose()
