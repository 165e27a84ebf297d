"""The memory server: HTTP JSON API and MCP, one isolated store per tenant.

``python -m memory serve --root DIR`` (HTTP + MCP over streamable HTTP) and
``python -m memory mcp --root DIR --tenant NAME`` (MCP over stdio); see docs/server.md.

- :mod:`.tenants`: name rules, tenant -> store resolution, the registry that gates calls;
- :mod:`.ops` and :mod:`.schemas`: the operations and their JSON schemas;
- :mod:`.app`: the ASGI app (FastAPI) and its request guard; :mod:`.auth`: tokens, hosts;
- :mod:`.mcp_tools`: the MCP tools; :mod:`.runner`: starting it; :mod:`.errors`: error codes.

Names are imported on first use, so ``memory.server.cli`` (wired into ``python -m memory``)
loads without the server's extra dependencies (``pip install -e ".[server]"``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "app", "HostPolicy": "auth", "TokenTable": "auth", "ServerError": "errors",
    "SERVER_ERRORS": "errors", "STORE_ERRORS": "errors", "OPERATIONS": "ops", "BackgroundServer": "runner",
    "ServerConfig": "runner", "ServerSetupError": "runner", "serve": "runner", "serve_stdio": "runner",
    "DirectoryTenants": "tenants", "TenantRegistry": "tenants", "validate_tenant_name": "tenants",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'memory.server' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
