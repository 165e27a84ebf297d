"""Who may call: bearer tokens per tenant, Host and Origin checks, the request guard.

Token file (JSON)::

    {"tokens": [
        {"name": "desktop", "token": "<at least 32 characters>", "tenants": ["alice"]},
        {"name": "ops", "sha256": "<hex SHA-256 of the token>", "tenants": ["*"]}
    ]}

``tenants`` lists the tenant names a token may use; ``"*"`` means all. A token may be
given in clear (``token``) or as the hex SHA-256 of its UTF-8 bytes (``sha256``), so the
file need not hold secrets. A presented token is hashed and compared with every entry
in constant time (:func:`hmac.compare_digest`, no early exit).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import ServerError
from .tenants import validate_tenant_name

__all__ = ["TokenTable", "TokenEntry", "HostPolicy", "is_loopback_host", "MIN_TOKEN_LENGTH"]

logger = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 32
_HEX64 = re.compile(r"[0-9a-f]{64}")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenEntry:
    """One token: its name (for logs), SHA-256 digest and tenants (``*``: all)."""

    name: str
    digest: bytes
    tenants: frozenset[str]

    def allows(self, tenant: str) -> bool:
        """Whether this token may use ``tenant``."""
        return "*" in self.tenants or tenant in self.tenants


class TokenTable:
    """Bearer tokens and the tenants each may use.

    Parameters
    ----------
    entries : iterable of TokenEntry

    Examples
    --------
    >>> table = TokenTable.from_dict({"tokens": [{"name": "a", "token": "x" * 32, "tenants": ["alice"]}]})
    >>> table.authorize("Bearer " + "x" * 32, "alice").name
    'a'
    """

    def __init__(self, entries: Iterable[TokenEntry]) -> None:
        self.entries = tuple(entries)

    @classmethod
    def from_dict(cls, data: Any, source: str = "token file") -> "TokenTable":
        """Build from the parsed JSON; ``ValueError`` naming the problem when malformed."""
        if not isinstance(data, dict) or set(data) != {"tokens"} or not isinstance(data["tokens"], list):
            raise ValueError(f'{source}: expected {{"tokens": [...]}}')
        entries, names, digests = [], set(), set()
        for i, item in enumerate(data["tokens"]):
            where = f"{source}: tokens[{i}]"
            if not isinstance(item, dict) or not set(item) <= {"name", "token", "sha256", "tenants"}:
                raise ValueError(f"{where}: an object with name, token or sha256, and tenants")
            if ("token" in item) == ("sha256" in item):
                raise ValueError(f"{where}: give exactly one of 'token' and 'sha256'")
            if "token" in item:
                token = item["token"]
                if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH or token != token.strip():
                    raise ValueError(f"{where}: a token needs at least {MIN_TOKEN_LENGTH} characters, "
                                     "no surrounding spaces")
                digest = _digest(token)
            else:
                if not isinstance(item["sha256"], str) or not _HEX64.fullmatch(item["sha256"]):
                    raise ValueError(f"{where}: 'sha256' must be 64 lowercase hex digits")
                digest = bytes.fromhex(item["sha256"])
            tenants = item.get("tenants")
            if not isinstance(tenants, list) or not tenants:
                raise ValueError(f"{where}: 'tenants' must be a non-empty list of names or '*'")
            for tenant in tenants:
                if tenant != "*":
                    try:
                        validate_tenant_name(tenant)
                    except ServerError:
                        raise ValueError(f"{where}: {tenant!r} is not a valid tenant name") from None
            name = str(item.get("name") or f"token-{i}")
            if name in names or digest in digests:
                raise ValueError(f"{where}: duplicate name or token")
            names.add(name)
            digests.add(digest)
            entries.append(TokenEntry(name, digest, frozenset(tenants)))
        if not entries:
            raise ValueError(f"{source}: no tokens")
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path) -> "TokenTable":
        """Read a token file (see the module docstring); warns if others may read it."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read token file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"token file {path} is not JSON ({exc})") from None
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("token file %s is readable by group or others (chmod 600 it)", path)
        return cls.from_dict(data, source=str(path))

    def identify(self, authorization: str | None) -> TokenEntry:
        """The entry of the bearer token in an ``Authorization`` header value.

        Raises
        ------
        ServerError
            ``unauthorized`` (401) when the header is missing, malformed or unknown.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServerError("unauthorized", "send 'Authorization: Bearer <token>'")
        presented = _digest(token.strip())
        found = None
        for entry in self.entries:  # every entry, no early exit
            if hmac.compare_digest(presented, entry.digest):
                found = entry
        if found is None:
            raise ServerError("unauthorized", "unknown token")
        return found

    def authorize(self, authorization: str | None, tenant: str) -> TokenEntry:
        """:meth:`identify`, then check the tenant: ``forbidden`` (403) if not allowed."""
        entry = self.identify(authorization)
        if not entry.allows(tenant):
            raise ServerError("forbidden", "this token may not use this tenant")
        return entry


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` reaches only this machine (127.0.0.0/8, ::1, localhost).

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("0.0.0.0"), is_loopback_host("::1")
    (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """Which ``Host`` and ``Origin`` headers a request may carry (against DNS rebinding).

    Allowed hosts: ``127.0.0.1``, ``localhost`` and ``[::1]`` with the bound port (bare
    too on port 80), the bound address itself with the port, and every host given
    explicitly (``name`` or ``name:port``). An ``Origin``, when sent, must be
    ``http://`` or ``https://`` followed by an allowed host.

    Parameters
    ----------
    port : int
        The port the server listens on.
    bound_host : str
        The address it is bound to.
    extra_hosts : sequence of str
        Further ``Host`` values to accept (e.g. the machine's name behind a token file).
    """

    def __init__(self, port: int, bound_host: str = "127.0.0.1", extra_hosts: Sequence[str] = ()) -> None:
        bound = f"[{bound_host}]" if ":" in bound_host and not bound_host.startswith("[") else bound_host
        names = {*LOOPBACK_NAMES, bound} - {"0.0.0.0", "[::]"}
        self.hosts = {f"{n}:{port}" for n in names} | {h.lower() for h in extra_hosts}
        if port == 80:
            self.hosts |= names
        self.origins = {f"{scheme}://{h}" for h in self.hosts for scheme in ("http", "https")}

    def check(self, host: str | None, origin: str | None) -> None:
        """Raise ``invalid_host`` (421) or ``invalid_origin`` (403) if not allowed."""
        if not host or host.lower() not in self.hosts:
            raise ServerError("invalid_host", "Host header not allowed (DNS rebinding protection); "
                                              "start the server with --allow-host to accept it")
        if origin is not None and origin.lower() not in self.origins:
            raise ServerError("invalid_origin", "Origin not allowed")
