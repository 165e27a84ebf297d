"""Server parts without a running server: tenant names, tokens, hosts, error codes, the gate."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")

import memory.errors as store_errors  # noqa: E402
from memory.aio import ConcurrencyPolicy, ReadWriteGate, run_gated  # noqa: E402
from memory.cli import main  # noqa: E402
from memory.server.auth import HostPolicy, TokenTable, is_loopback_host  # noqa: E402
from memory.server.errors import STORE_ERRORS, ServerError, error_from_exception  # noqa: E402
from memory.server.runner import ServerConfig, ServerSetupError  # noqa: E402
from memory.server.tenants import DirectoryTenants, validate_tenant_name  # noqa: E402

#: Every way we could think of for a name to escape its directory or alias another tenant.
BAD_NAMES = [
    "", ".", "..", "...", "../x", "..\\x", "a/b", "a\\b", "/abs", "a\x00b", "\x00", "a b", " a", "a ",
    "a\n", "a\r", "a\t", "Alice", "ALICE", "ａｌｉｃｅ", "аlice", "alicе", "ⅰ", "a.b", "a..b", ".hidden",
    "%2e%2e", "a%2fb", "%2F", "a%00", "-a", "_a", "a:b", "a*b", "a?b", "a|b", "a\"b", "a<b", "a'b",
    "x" * 49, "x" * 10_000, "con", "nul", "aux", "prn", "com1", "lpt9", "clock", "pg_catalog", "pg_x",
    "public", "information_schema", "\u200balice", "alice\u200b", "ß", "İ", None, 5, b"alice",
]
GOOD_NAMES = ["a", "alice", "team-7", "t_1", "0", "x" * 48, "con1", "nulls", "pgx", "publico"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_tenant_names_are_refused(name):
    with pytest.raises(ServerError) as err:
        validate_tenant_name(name)
    assert err.value.code == "invalid_tenant" and err.value.status == 400


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_tenant_names_pass(name):
    assert validate_tenant_name(name) == name


def test_directory_tenants_stay_under_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    tenants = DirectoryTenants(root)
    assert tenants.path("alice") == root / "alice"
    (root / "evil").symlink_to(outside, target_is_directory=True)  # planted by someone else
    with pytest.raises(ServerError) as err:
        tenants.open("evil", create=True)
    assert err.value.code == "invalid_tenant" and not any(outside.iterdir())
    with pytest.raises(ServerError) as err:
        tenants.open("ghost", create=False)
    assert err.value.code == "tenant_not_found" and not (root / "ghost").exists()


def _table(*entries):
    return TokenTable.from_dict({"tokens": list(entries)})


def test_tokens_authorize_per_tenant():
    alice, admin = "a" * 40, "s3cret-" * 6
    table = _table({"name": "alice", "token": alice, "tenants": ["alice"]},
                   {"name": "admin", "sha256": hashlib.sha256(admin.encode()).hexdigest(), "tenants": ["*"]})
    assert table.authorize(f"Bearer {alice}", "alice").name == "alice"
    assert table.authorize(f"bearer {admin}", "anyone").name == "admin"
    with pytest.raises(ServerError) as err:
        table.authorize(f"Bearer {alice}", "bob")
    assert err.value.code == "forbidden" and err.value.status == 403
    for header in (None, "", "Bearer", "Bearer ", f"Basic {alice}", f"Bearer {alice}x", f"Bearer {alice[:-1]}",
                   f"Bearer {hashlib.sha256(admin.encode()).hexdigest()}"):
        with pytest.raises(ServerError) as err:
            table.authorize(header, "alice")
        assert err.value.code == "unauthorized" and err.value.status == 401


def test_token_comparison_is_constant_time():
    source = inspect.getsource(TokenTable.identify)
    assert "compare_digest" in source and "break" not in source and "return entry" not in source


@pytest.mark.parametrize("data", [
    [], {"tokens": []}, {"tokens": {}}, {"tokens": [{"token": "short", "tenants": ["a"]}]},
    {"tokens": [{"token": "a" * 40, "tenants": []}]}, {"tokens": [{"token": "a" * 40, "tenants": ["../x"]}]},
    {"tokens": [{"token": "a" * 40, "sha256": "0" * 64, "tenants": ["a"]}]},
    {"tokens": [{"sha256": "XYZ", "tenants": ["a"]}]}, {"tokens": [{"token": "a" * 40, "tenants": "a"}]},
    {"tokens": [{"token": "a" * 40, "tenants": ["a"]}, {"token": "a" * 40, "tenants": ["b"]}]},
    {"tokens": [{"token": "a" * 40, "tenants": ["a"], "admin": True}]}, {"tokens": [], "x": 1},
])
def test_malformed_token_files_are_refused(data):
    with pytest.raises(ValueError):
        TokenTable.from_dict(data)


def test_host_policy():
    policy = HostPolicy(8700)
    for host in ("127.0.0.1:8700", "localhost:8700", "[::1]:8700", "LOCALHOST:8700"):
        policy.check(host, None)
    policy.check("127.0.0.1:8700", "http://localhost:8700")
    for host in ("evil.com", "evil.com:8700", "127.0.0.1:8701", "127.0.0.1", "localhost", None, "",
                 "127.0.0.1:8700.evil.com", "0.0.0.0:8700"):
        with pytest.raises(ServerError) as err:
            policy.check(host, None)
        assert err.value.code == "invalid_host" and err.value.status == 421
    for origin in ("http://evil.com", "null", "http://127.0.0.1:9999", "http://localhost:8700.evil.com"):
        with pytest.raises(ServerError) as err:
            policy.check("127.0.0.1:8700", origin)
        assert err.value.code == "invalid_origin"
    extra = HostPolicy(443, "10.0.0.5", ["memory.internal"])
    extra.check("memory.internal", None)
    extra.check("10.0.0.5:443", "https://memory.internal")


def test_loopback_and_unsafe_binds():
    assert all(map(is_loopback_host, ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback_host, ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", ""]))
    with pytest.raises(ServerSetupError, match="token-file"):
        ServerConfig(root="x", host="0.0.0.0").check()
    ServerConfig(root="x", host="0.0.0.0", tokens=_table({"token": "a" * 40, "tenants": ["*"]})).check()


def test_cli_refuses_a_public_bind_without_tokens(tmp_path, capsys):
    assert main(["serve", "--root", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without --token-file" in capsys.readouterr().err
    bad = tmp_path / "tokens.json"
    bad.write_text('{"tokens": [{"token": "short", "tenants": ["*"]}]}')
    assert main(["serve", "--root", str(tmp_path), "--token-file", str(bad), "--port", "0"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err
    assert main(["mcp", "--root", str(tmp_path), "--tenant", "../up"]) == 2
    assert "invalid tenant name" in capsys.readouterr().err


def test_every_store_error_has_a_code():
    classes = [obj for obj in vars(store_errors).values()
               if isinstance(obj, type) and issubclass(obj, store_errors.MemoryStoreError)]
    assert len(classes) >= 10
    for cls in classes:
        assert cls.__name__ in STORE_ERRORS, f"{cls.__name__} has no error code"
        err = error_from_exception(cls("at /srv/root/alice/memory.sqlite"), [("/srv/root/alice", "tenant 'alice'")])
        assert (err.code, err.status) == STORE_ERRORS[cls.__name__]
        assert "/srv" not in err.message and "tenant 'alice'" in err.message
    unexpected = error_from_exception(RuntimeError("secret /srv/root detail"))
    assert unexpected.code == "internal_error" and "secret" not in unexpected.message


# -- the concurrency gate --------------------------------------------------------------------


async def _overlaps(policy: ConcurrencyPolicy, kinds: list[bool]) -> int:
    """Run calls of the given kinds (True: write) together; the most that were inside at once."""
    gate, inside, peak = ReadWriteGate(policy), [0], [0]

    async def one(write: bool) -> None:
        await gate.acquire(write)
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        await asyncio.sleep(0.01)
        inside[0] -= 1
        gate.release(write)
    await asyncio.gather(*(one(w) for w in kinds))
    assert gate.idle
    return peak[0]


def test_gate_policies():
    reads, mixed = [False] * 4, [False, True, False, True]
    assert asyncio.run(_overlaps(ConcurrencyPolicy.EXCLUSIVE, reads)) == 1
    assert asyncio.run(_overlaps(ConcurrencyPolicy.READERS_WRITER, reads)) == 4
    assert asyncio.run(_overlaps(ConcurrencyPolicy.READERS_WRITER, [True] * 3)) == 1
    assert asyncio.run(_overlaps(ConcurrencyPolicy.STORE_MANAGED, reads + [True])) == 5


def test_gate_is_first_come_first_served():
    async def scenario() -> list[str]:
        gate, order = ReadWriteGate(ConcurrencyPolicy.READERS_WRITER), []
        await gate.acquire(False)  # a reader inside
        waiting = [asyncio.ensure_future(_enter(gate, w, name, order))
                   for w, name in ((True, "writer"), (False, "late reader"))]
        await asyncio.sleep(0.01)
        assert order == []  # the late reader does not overtake the waiting writer
        gate.release(False)
        await asyncio.gather(*waiting)
        return order

    async def _enter(gate, write, name, order):
        await gate.acquire(write)
        order.append(name)
        await asyncio.sleep(0.005)
        gate.release(write)
    assert asyncio.run(scenario()) == ["writer", "late reader"]


def test_cancelled_waiter_leaves_the_queue():
    async def scenario() -> bool:
        gate = ReadWriteGate(ConcurrencyPolicy.EXCLUSIVE)
        await gate.acquire(True)
        waiter = asyncio.ensure_future(gate.acquire(False))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.release(True)
        return gate.idle
    assert asyncio.run(scenario())


def test_gate_is_held_until_the_thread_finishes_even_if_the_caller_gives_up():
    started, release, events = threading.Event(), threading.Event(), []

    def slow() -> None:
        started.set()
        release.wait(10)
        events.append("slow done")

    async def scenario() -> None:
        gate = ReadWriteGate(ConcurrencyPolicy.EXCLUSIVE)
        first = asyncio.ensure_future(run_gated(gate, None, slow, write=True))
        while not started.is_set():
            await asyncio.sleep(0.005)
        first.cancel()  # the client went away; the thread still runs
        second = asyncio.ensure_future(run_gated(gate, None, lambda: events.append("second"), write=False))
        await asyncio.sleep(0.05)
        assert events == []  # the second call has not entered the store
        release.set()
        await second
        assert events == ["slow done", "second"] and gate.idle
    asyncio.run(scenario())
