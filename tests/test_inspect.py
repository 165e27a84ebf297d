"""graphs.inspect: the CLI, the viewer's HTTP API and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
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
        _until(page, "() => window.viewerGraph && window.viewerGraph.nodes().length > 1")
        assert page.text_content("#detail-title") == "lakeview"
        # click the node of another entity on the canvas, as a user would
        box = page.locator("#graph").bounding_box()
        position = page.evaluate("""() => { const n = window.viewerGraph.nodes().filter(
            x => x.id() !== 'lakeview')[0]; const p = n.renderedPosition(); return [n.id(), p.x, p.y]; }""")
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
