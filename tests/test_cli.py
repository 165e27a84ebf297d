"""The CLI: every command documented, JSON/JSONL ingest, query, stats, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memory.cli import build_parser, main

from .conftest import BRIDGE_CORPUS, REPO

COMMANDS = ["ingest", "query", "update", "history", "facts", "stats", "demo", "forget", "dump", "check", "bank", "serve", "mcp"]


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices, {c.dest: c.help for c in action._choices_actions}


def test_every_command_has_help_and_readme_documentation():
    choices, helps = _subparsers()
    assert sorted(choices) == sorted(COMMANDS)
    readme = (REPO / "README.md").read_text()
    for name, sub in choices.items():
        assert helps[name], f"{name} lacks a one-line help"
        assert sub.description, f"{name} lacks a description"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.dest} lacks help text"
        assert f"python -m memory {name}" in readme, f"README does not document {name}"


def test_module_help_runs():
    result = subprocess.run([sys.executable, "-m", "memory", "query", "--help"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and "--explain" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_ingest_query_stats(tmp_path, capsys, fmt):
    source = tmp_path / f"docs.{fmt}"
    if fmt == "json":
        source.write_text(json.dumps(BRIDGE_CORPUS))
    else:
        source.write_text("\n".join(json.dumps(d) for d in BRIDGE_CORPUS) + "\n")
    store = tmp_path / "store"
    assert main(["ingest", "--store", str(store), str(source), "--quiet", "--batch-size", "4"]) == 0
    assert "6 documents ingested" in capsys.readouterr().out
    assert main(["query", "--store", str(store), "Where was Alice Varga born?", "--json", "--explain",
                 "--top-k", "2"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["doc_id"] == "alice"
    assert hits[0]["explanation"]["seeds"]
    assert main(["query", "--store", str(store), "Where was Alice Varga born?", "--mode", "bm25"]) == 0
    assert "1. alice [Alice Varga]" in capsys.readouterr().out
    assert main(["stats", "--store", str(store), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["documents"] == 6 and stats["edges"]["mention"] > 0


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["stats", "--store", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('[{"title": "no text"}]')
    assert main(["ingest", "--store", str(tmp_path / "new"), str(bad), "--quiet"]) == 2
    assert "'text' must be a string" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # validation happens before a store is created
    assert main(["ingest", "--store", str(tmp_path / "new"), str(tmp_path / "absent.json")]) == 2
