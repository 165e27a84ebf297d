"""Pinned benchmark numbers: the regression files and ``python -m eval.regress``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from eval import regress

WRITER = ("import json, sys; out = sys.argv[sys.argv.index('--json') + 1]; "
          "json.dump({'summary': {'dense': {'R@2': 0.5, 'R@5': 0.75}}}, open(out, 'w'))")


def _write(directory: Path, name: str, expected: dict, command: str | None = None) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "test", "small": True, "tolerance": 0.01,
                                    "command": command or f"python -c \"{WRITER}\"", "expected": expected}))
    return path


def test_every_shipped_regression_file_reads() -> None:
    found = regress.load_regressions()
    names = {r.name for r in found}
    assert {"musique", "2wiki", "hotpotqa", "situatedqa", "musique-forget"} <= names
    assert all(r.command[:3] == ["python", "-m", "eval.multihop"] or r.command[:3] == ["python", "-m", "eval.temporal"]
               for r in found)
    assert any(r.small for r in found)


def test_a_matching_run_passes_and_a_drop_fails(tmp_path, capsys) -> None:
    _write(tmp_path / "ok", "ok", {"summary": {"dense": {"R@2": 0.5, "R@5": 0.745}}})
    assert regress.main(["--dir", str(tmp_path / "ok"), "--quiet"]) == 0
    _write(tmp_path / "drop", "drop", {"summary": {"dense": {"R@2": 0.6}}})
    assert regress.main(["--dir", str(tmp_path / "drop"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "summary/dense/R@2 expected 0.6, got 0.5 (regression)" in err


def test_update_rewrites_the_numbers_and_keeps_the_rest(tmp_path) -> None:
    path = _write(tmp_path / "up", "up", {"summary": {"dense": {"R@2": 0.1, "R@5": 0.2}}})
    assert regress.main(["--dir", str(tmp_path / "up"), "--update", "--quiet"]) == 0
    data = yaml.safe_load(path.read_text())
    assert data["expected"] == {"summary": {"dense": {"R@2": 0.5, "R@5": 0.75}}}
    assert data["description"] == "test" and data["small"] is True
    assert regress.main(["--dir", str(tmp_path / "up"), "--quiet"]) == 0


def test_from_a_saved_output_and_errors(tmp_path, capsys) -> None:
    _write(tmp_path / "f", "f", {"summary": {"dense": {"R@2": 0.5, "missing": 1.0}}})
    saved = tmp_path / "out.json"
    saved.write_text(json.dumps({"summary": {"dense": {"R@2": 0.5}}}))
    assert regress.main(["--dir", str(tmp_path / "f"), "f", "--from", str(saved), "--quiet"]) == 1
    assert "missing from the output" in capsys.readouterr().err
    _write(tmp_path / "fail", "fail", {"x": {"y": 1.0}}, command=f"{sys.executable} -c \"raise SystemExit(3)\"")
    assert regress.main(["--dir", str(tmp_path / "fail"), "--quiet"]) == 1
    assert regress.main(["--dir", str(tmp_path / "fail"), "nope"]) == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.yaml").write_text("command: [unclosed")
    assert regress.main(["--dir", str(tmp_path / "bad")]) == 2


@pytest.mark.slow
def test_the_small_pinned_benchmarks_reproduce() -> None:
    assert regress.main(["--small", "--quiet"]) == 0
