"""Errors the server answers with: a stable ``code``, an HTTP status and a message.

Every failure reaches a client as ``{"error": {"code": ..., "message": ..., "status": ...}}``
(HTTP body, or the text and structured content of an MCP tool error). Exceptions of
:mod:`memory.errors` map through :data:`STORE_ERRORS` by class (the nearest class in the
exception's MRO wins); anything unexpected becomes ``internal_error`` with no detail (the
traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from .. import errors as store_errors

__all__ = ["ServerError", "STORE_ERRORS", "SERVER_ERRORS", "error_from_exception", "error_body"]

logger = logging.getLogger(__name__)

#: memory.errors class name -> (code, HTTP status), looked up by name along the MRO.
STORE_ERRORS: dict[str, tuple[str, int]] = {
    "InvalidDocumentError": ("invalid_document", 400),
    "DocumentTooLargeError": ("document_too_large", 413),
    "InvalidFactError": ("invalid_fact", 400),
    "InputFileError": ("invalid_input_file", 400),
    "InvalidQueryError": ("invalid_query", 400),
    "ConfigError": ("invalid_config", 400),
    "UnknownDocumentError": ("unknown_document", 404),
    "UnknownEntityError": ("unknown_entity", 404),
    "BankNotFittedError": ("bank_not_fitted", 409),
    "NotAStoreError": ("not_a_store", 409),
    "IncompatibleStoreError": ("incompatible_store", 409),
    "StoreBusyError": ("store_busy", 503),
    "ReadOnlyStoreError": ("read_only_store", 409),
    "CorruptStoreError": ("corrupt_store", 500),
    "DiskFullError": ("disk_full", 507),
    "StorageError": ("storage_error", 500),
    "StoreClosedError": ("store_closed", 503),
    "StaleResultError": ("stale_result", 409),
    "ExtractionError": ("extraction_failed", 500),
    "MemoryStoreError": ("store_error", 500),
}

#: Codes raised by the server itself -> (HTTP status, meaning).
SERVER_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (422, "the request body or arguments do not match the schema"),
    "invalid_tenant": (400, "the tenant name is not allowed (see the name rules)"),
    "tenant_not_found": (404, "no store for this tenant yet (created by its first ingest or update)"),
    "unauthorized": (401, "missing or unknown bearer token"),
    "forbidden": (403, "the token may not use this tenant"),
    "invalid_host": (421, "the Host header names neither a loopback address with the bound port "
                          "nor an allowed host"),
    "invalid_origin": (403, "the Origin header is not an allowed origin"),
    "payload_too_large": (413, "the request body is over the server's limit"),
    "not_found": (404, "no such route"),
    "method_not_allowed": (405, "the route does not take this HTTP method"),
    "not_supported": (501, "this server's library does not support the requested option"),
    "internal_error": (500, "an unexpected server error (logged on the server)"),
}


class ServerError(Exception):
    """An error with a stable code, sent to the client as JSON.

    Parameters
    ----------
    code : str
        One of :data:`SERVER_ERRORS` or of the codes in :data:`STORE_ERRORS`.
    message : str
        Human-readable, free of server paths and tracebacks.
    status : int, optional
        HTTP status (default: the code's).
    details : list, optional
        Machine-readable detail (e.g. which fields failed validation).
    """

    def __init__(self, code: str, message: str, status: int | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else _status_of(code)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"code", "message", "status"[, "details"]}}``."""
        return error_body(self.code, self.message, self.status, self.details)


def _status_of(code: str) -> int:
    if code in SERVER_ERRORS:
        return SERVER_ERRORS[code][0]
    for store_code, status in STORE_ERRORS.values():
        if store_code == code:
            return status
    return 500


def error_body(code: str, message: str, status: int, details: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    """The error JSON, as sent on every transport."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _scrub(message: str, secrets: Iterable[tuple[str, str]]) -> str:
    for secret, replacement in secrets:
        if secret:
            message = message.replace(secret, replacement)
    return message


def error_from_exception(exc: BaseException, scrub: Iterable[tuple[str, str]] = ()) -> ServerError:
    """The :class:`ServerError` to answer for an exception raised while serving a call.

    Parameters
    ----------
    exc : BaseException
    scrub : iterable of (text, replacement)
        Strings to hide from the message (the store's directory, the server root).

    Returns
    -------
    ServerError

    Examples
    --------
    >>> from memory.errors import UnknownDocumentError
    >>> err = error_from_exception(UnknownDocumentError("no document 'x' in /srv/t/a"), [("/srv/t/a", "tenant 'a'")])
    >>> err.code, err.status, err.message
    ('unknown_document', 404, "no document 'x' in tenant 'a'")
    """
    if isinstance(exc, ServerError):
        return exc
    if isinstance(exc, store_errors.MemoryStoreError):
        for cls in type(exc).__mro__:
            if cls.__name__ in STORE_ERRORS and getattr(store_errors, cls.__name__, cls) is cls:
                code, status = STORE_ERRORS[cls.__name__]
                return ServerError(code, _scrub(str(exc), scrub), status)
    logger.error("unexpected error while serving a call", exc_info=exc)
    return ServerError("internal_error", "unexpected server error (see the server log)")
