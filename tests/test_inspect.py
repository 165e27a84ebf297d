"""graphs.inspect: the CLI, the viewer's HTTP API and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from graphs.inspect.cli import build_parser, main
from graphs.inspect.server import make_server

from .conftest import BRIDGE_CORPUS, REPO

SCRIPT = {"id": "evil", "title": "Evil <b>title</b>",
          "text": "Mallory lives in Lakeview. <script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"}


@pytest.fixture
def store(make_store):
    store = make_store("inspect")
    store.ingest(BRIDGE_CORPUS + [SCRIPT])
    return store


def _cli(capsys, store, *args: str) -> object:
    assert main(["--store", str(store.path), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_commands_in_json(store, capsys, tmp_path) -> None:
    path = store.path
    store.close()
    from memory import MemoryStore

    reopened = MemoryStore(path)
    summary = _cli(capsys, reopened, "summary")
    assert summary["documents"] == len(BRIDGE_CORPUS) + 1 and summary["hubs"]
    entity = _cli(capsys, reopened, "entity", "Lakeview")
    assert {"alice", "lakeview"} <= {m["doc_id"] for m in entity["mentions"]}
    assert any(f["object"] == "lakeview" for f in entity["facts_in"])
    paths = _cli(capsys, reopened, "path", "Alice Varga", "Norland")
    assert paths and paths[0]["entities"][0] == "alice varga" and paths[0]["entities"][-1] == "norland"
    explained = _cli(capsys, reopened, "explain", "Where was Alice Varga born?", "--top-k", "2")
    assert explained["seeds"] and explained["ppr_mass"] and explained["hits"][0]["doc_id"] == "alice"
    out = tmp_path / "graph.graphml"
    assert _cli(capsys, reopened, "export", "--format", "graphml", "--out", str(out))["nodes"] > 0
    assert out.read_text().startswith("<?xml")
    reopened.close()
    assert main(["--store", str(path), "entity", "Lakevew"]) == 2
    assert "did you mean 'lakeview'" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "none"), "summary"]) == 2


def test_cli_tables_and_help(store, capsys) -> None:
    assert main(["--store", str(store.path), "entity", "Lakeview"]) == 0
    assert "facts in" in capsys.readouterr().out
    action = next(a for a in build_parser()._actions if a.dest == "command")
    for name, sub in action.choices.items():
        assert sub.description, name
        assert all(a.help for a in sub._actions if a.dest != "help"), name
    assert "python -m graphs.inspect" in (REPO / "README.md").read_text()


@pytest.fixture
def viewer(store):
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_http_api_is_read_only_and_bounded(viewer) -> None:
    status, headers, body = _get(viewer + "/api/search?q=lake")
    assert status == 200 and json.loads(body)[0]["name"] == "lakeview"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    hood = json.loads(_get(viewer + "/api/neighbourhood?name=Lakeview&limit=3")[2])
    assert hood["center"] == "lakeview" and len(hood["nodes"]) <= 3
    passage = json.loads(_get(viewer + "/api/passage?id=evil")[2])
    assert "<script>" in passage["text"]  # JSON carries the text; the page shows it as text
    status, _, body = _get(viewer + "/api/entity?name=Nowhere")
    assert status == 404 and "no entity" in json.loads(body)["error"]
    assert _get(viewer + "/api/search")[0] == 400
    assert _get(viewer + "/api/query?q=Where+was+Alice+born%3F&k=2")[0] == 200
    assert _get(viewer + "/static/../server.py")[0] == 404
    request = urllib.request.Request(viewer + "/api/search?q=x", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 405
    status, headers, page = _get(viewer + "/")
    assert status == 200 and b"cytoscape.min.js" in page and b"cdn" not in page.lower()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _until(page, script: str, timeout: float = 15.0):
    """Poll a page function until it returns something truthy (the CSP forbids string eval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(script)
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {script}")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_page_in_headless_chromium(viewer) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(viewer + "/")
        page.fill("#search", "Lakeview")
        page.click("#search-form button")
        # the first page draws the largest hub on its own: wait for the searched entity
        _until(page, "() => document.querySelector('#detail-title').textContent === 'lakeview'"
                     " && window.viewerGraph && window.viewerGraph.nodes().length > 1")
        assert page.text_content("#detail-title") == "lakeview"
        # click the node of another entity on the canvas, as a user would
        box = page.locator("#graph").bounding_box()
        position = page.evaluate("""() => { const n = window.viewerGraph.nodes().filter(
            x => x.data('name') !== 'lakeview')[0]; const p = n.renderedPosition();
            return [n.data('name'), p.x, p.y]; }""")
        page.mouse.click(box["x"] + position[1], box["y"] + position[2])
        _until(page, f"() => document.getElementById('detail-title').textContent === {json.dumps(position[0])}")
        # open the passage with markup in it: shown as text, never run
        page.fill("#search", "Mallory")
        page.click("#search-form button")
        page.wait_for_selector("text=evil")
        page.click("#detail .clickable >> text=evil")
        page.wait_for_selector(".passage")
        assert "<script>window.pwned = 1</script>" in page.text_content(".passage")
        assert page.evaluate("window.pwned") is None
        page.screenshot(path=str(artifacts / "viewer.png"))
        browser.close()
    assert not errors


# -- Host header (DNS rebinding) ---------------------------------------------------------------

def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes, return (status, body): the Host header is whatever the test wrote."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def viewer_server(store):
    server = make_server(store, "127.0.0.1", 0, allowed_hosts=["viewer.test", "other.test:9"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


HOSTILE_HOSTS = ["evil.example", "evil.example:{port}", "attacker.com:{port}", "127.0.0.1.nip.io:{port}",
                 "localhost.evil.example:{port}", "127.0.0.1:{other}", "localhost:{other}", "127.0.0.1",
                 "127.0.0.1:{port}@evil.example", "127.0.0.2:{port}", "0.0.0.0:{port}", "viewer.test:1",
                 "other.test:{port}", "", " ", "[::1]:{other}", "localhost.:{port}", "127.0.0.1:{port}:{port}"]
FRIENDLY_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}", "viewer.test:{port}",
                  "other.test:9"]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
@pytest.mark.parametrize("path", ["/api/passage?id=evil", "/", "/static/viewer.js"])
def test_hostile_host_headers_are_refused(viewer_server, host: str, path: str) -> None:
    port = viewer_server
    value = host.format(port=port, other=port + 1)
    status, body = _raw(port, f"GET {path} HTTP/1.1\r\nHost: {value}\r\nConnection: close\r\n\r\n".encode())
    assert status == 421
    assert "does not answer" in json.loads(body)["error"] and b"Mallory" not in body


def test_requests_without_host_or_with_other_methods_are_refused(viewer_server) -> None:
    port = viewer_server
    assert _raw(port, b"GET /api/summary HTTP/1.0\r\n\r\n")[0] == 421
    assert _raw(port, b"POST /api/search?q=x HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")[0] == 421
    assert _raw(port, f"POST /api/search?q=x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n".encode())[0] == 405


@pytest.mark.parametrize("host", FRIENDLY_HOSTS)
def test_loopback_and_allowed_hosts_are_answered(viewer_server, host: str) -> None:
    port = viewer_server
    status, body = _raw(port, f"GET /api/passage?id=evil HTTP/1.1\r\nHost: {host.format(port=port)}\r\n"
                              "Connection: close\r\n\r\n".encode())
    assert status == 200 and json.loads(body)["doc_id"] == "evil"


def test_bad_allowed_hosts_are_refused_at_start(store) -> None:
    with pytest.raises(ValueError, match="port must be a number"):
        make_server(store, "127.0.0.1", 0, allowed_hosts=["viewer.test:http"])


# -- the CLI: options anywhere, JSON errors, quiet ---------------------------------------------

def test_options_before_or_after_the_command(store, capsys) -> None:
    path = str(store.path)
    for argv in (["--store", path, "--json", "summary"], ["summary", "--store", path, "--json"],
                 ["--json", "summary", "--store", path], ["--store", path, "summary", "--json", "-q"]):
        assert main(argv) == 0, argv
        assert json.loads(capsys.readouterr().out)["documents"] == len(BRIDGE_CORPUS) + 1


def test_errors_are_json_with_json(store, capsys, tmp_path) -> None:
    path = str(store.path)
    assert main(["entity", "Lakevew", "--store", path, "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["type"] == "UnknownEntityError" and "did you mean 'lakeview'" in error["error"]
    assert captured.err == ""
    assert main(["--json", "summary", "--store", str(tmp_path / "none")]) == 2
    assert json.loads(capsys.readouterr().out)["type"] == "NotAStoreError"
    for argv in (["--json", "summary"], ["--json", "nonsense", "--store", path], ["--json", "summary", "--top", "x"]):
        assert main(argv) == 2, argv
        assert json.loads(capsys.readouterr().out)["type"] == "UsageError"
    assert main(["summary"]) == 2
    assert "--store" in capsys.readouterr().err
    assert main(["entity", "Lakevew", "--store", path]) == 2
    assert capsys.readouterr().err.startswith("error: no entity named")


def test_quiet_and_no_library_debug_lines(tmp_path, store) -> None:
    import subprocess
    import sys

    store.close()
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONWARNINGS"}
    for extra in ([], ["-q"]):
        done = subprocess.run([sys.executable, "-m", "graphs.inspect", "--store", str(store.path), "explain",
                               "Where was Alice Varga born?", "--json", *extra], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["hits"]
        assert "DEBUG" not in done.stderr and "%|" not in done.stderr


def test_quiet_silences_the_package_progress_bars(store) -> None:
    from graphs.inspect.cli import _quiet_progress
    from memory.progress import progress, quiet

    with _quiet_progress(True):
        assert quiet()
        bar = progress(range(3), desc="a bar")
        assert bar.disable
        bar.close()
    assert not quiet()
    bar = progress(range(3), desc="a bar", file=sys.stderr)
    assert bar.disable is not True or not sys.stderr.isatty()  # tqdm itself hides bars off a terminal
    bar.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_first_page_and_entities_named_like_element_ids(make_store) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    store = make_store("ids")
    # entities whose names are the ids Cytoscape elements used to get ("e0", "e1", "n0")
    store.ingest([{"id": "d", "text": "e0 knows e1. e1 likes e2. e2 follows e0. n0 meets e0."}],
                 facts=[[("e0", "knows", "e1"), ("e1", "likes", "e2"), ("e2", "follows", "e0"),
                         ("n0", "meets", "e0")]])
    server = make_server(store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            # the first page: summary, hubs to click, a legend
            page.wait_for_selector("#results li[data-name]")
            hubs = page.eval_on_selector_all("#results li", "items => items.map(i => i.dataset.name)")
            assert set(hubs) == {"e0", "e1", "e2", "n0"}
            detail = page.text_content("#detail")
            assert "This store" in detail and "Largest hubs" in detail
            _until(page, "() => window.viewerGraph && window.viewerGraph.nodes('.center').length === 1")
            legend = page.text_content("#legend")
            assert "PPR mass" in legend and "synonymy" in legend and "fact" in legend
            page.click("#results li[data-name='e0']")
            _until(page, "() => document.getElementById('detail-title').textContent === 'e0'"
                         " && window.viewerGraph && window.viewerGraph.nodes().length === 4")
            drawn = page.evaluate("""() => ({
                edges: window.viewerGraph.edges().map(e => [e.source().data('name'), e.data('label'),
                                                            e.target().data('name')]).sort(),
                e0: window.viewerGraph.nodes().filter(n => n.data('name') === 'e0')[0].degree(),
                center: window.viewerGraph.nodes('.center').map(n => n.data('name'))})""")
            assert drawn["edges"] == [["e0", "knows", "e1"], ["e1", "likes", "e2"], ["e2", "follows", "e0"],
                                      ["n0", "meets", "e0"]]
            assert drawn["e0"] == 3 and drawn["center"] == ["e0"]
            assert page.text_content("#detail-title") == "e0"
            page.click("#overview-button")
            _until(page, "() => document.getElementById('detail-title').textContent === 'Overview'")
            page.screenshot(path=str(REPO / "test-artifacts" / "viewer-first-page.png"))
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert not errors
