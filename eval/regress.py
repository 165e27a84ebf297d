"""Pinned benchmark numbers: ``python -m eval.regress [NAME ...] [--small] [--update]``.

Every number the README reports comes from a regression file in
``eval/regressions/*.yaml`` (after pyserini's regression files). A file names
a benchmark command and the numbers it must reproduce::

    name: musique
    description: MuSiQue train sample, 100 questions, 1,890 passages
    small: false               # small ones are rerun by the slow-marked test
    tolerance: 0.005           # largest accepted |actual - expected| per number
    command: python -m eval.multihop --dataset musique --retriever hipporag,dense
    expected:                  # mirrors the command's --json output from its root
      summary:
        hipporag: {R@2: 0.611, R@5: 0.767}
        dense: {R@2: 0.496, R@5: 0.667}

``eval.regress`` runs each command with ``--json`` (and ``--quiet``) added,
reads the output and compares every expected number with the one at the same
place in it. Any difference beyond the tolerance fails (a drop is a regression;
a rise means the README is out of date): the exit status is 1 and each
difference is listed. ``--update`` writes the new numbers into the files instead.
Commands run with ``MEMORY_SHARED_DATA`` as set; a file whose dataset is not
available is skipped with a note.

Examples::

    python -m eval.regress --list
    python -m eval.regress --small
    python -m eval.regress musique 2wiki --update
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from .cli import configure_logging
from .datasets import DATASETS

__all__ = ["Regression", "Difference", "RegressionFileError", "load_regressions", "compare", "run",
           "update", "REGRESSIONS_DIR", "main"]

logger = logging.getLogger("eval.regress")

#: Where the regression files live.
REGRESSIONS_DIR = Path(__file__).resolve().parent / "regressions"


class RegressionFileError(ValueError):
    """A regression file that cannot be read or lacks a required field."""


@dataclass(frozen=True)
class Regression:
    """One regression file: a command and the numbers its JSON output must hold."""

    name: str
    path: Path
    command: list[str]
    expected: dict[str, Any]
    tolerance: float = 0.005
    small: bool = False
    description: str = ""
    datasets: tuple[str, ...] = field(default=())

    def available(self) -> bool:
        """Whether every named dataset the command reads is on this machine."""
        return all(DATASETS[name].available() for name in self.datasets if name in DATASETS)


@dataclass(frozen=True)
class Difference:
    """An expected number that the run did not reproduce (``actual`` None: missing)."""

    regression: str
    where: str
    expected: float
    actual: float | None

    def __str__(self) -> str:
        if self.actual is None:
            return f"{self.regression}: {self.where} expected {self.expected}, missing from the output"
        kind = "regression" if self.actual < self.expected else "rise (update the pinned number)"
        return f"{self.regression}: {self.where} expected {self.expected}, got {self.actual} ({kind})"


def _datasets_of(command: list[str]) -> tuple[str, ...]:
    return tuple(command[i + 1] for i, part in enumerate(command[:-1]) if part == "--dataset")


def load_regressions(directory: Path = REGRESSIONS_DIR) -> list[Regression]:
    """Every ``*.yaml`` regression file in ``directory``, by name.

    Raises
    ------
    RegressionFileError
        When a file is not valid YAML or lacks ``command`` or ``expected``.
    """
    found = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RegressionFileError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("command"), str) \
                or not isinstance(data.get("expected"), dict):
            raise RegressionFileError(f"{path}: needs a 'command' string and an 'expected' mapping")
        command = shlex.split(data["command"])
        found.append(Regression(name=str(data.get("name", path.stem)), path=path, command=command,
                                expected=data["expected"], tolerance=float(data.get("tolerance", 0.005)),
                                small=bool(data.get("small", False)),
                                description=str(data.get("description", "")),
                                datasets=_datasets_of(command)))
    return found


def _leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (str(key),))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield prefix + (str(key),), float(value)


def _lookup(tree: Any, where: tuple[str, ...]) -> float | None:
    for key in where:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return float(tree) if isinstance(tree, (int, float)) and not isinstance(tree, bool) else None


def compare(regression: Regression, output: dict[str, Any]) -> list[Difference]:
    """The expected numbers that ``output`` does not reproduce within the tolerance.

    >>> r = Regression("x", Path("x.yaml"), ["true"], {"summary": {"dense": {"R@2": 0.5}}}, 0.01)
    >>> compare(r, {"summary": {"dense": {"R@2": 0.505}}})
    []
    >>> [str(d) for d in compare(r, {"summary": {"dense": {"R@2": 0.45}}})]
    ['x: summary/dense/R@2 expected 0.5, got 0.45 (regression)']
    """
    differences = []
    for where, expected in _leaves(regression.expected):
        actual = _lookup(output, where)
        if actual is None or abs(actual - expected) > regression.tolerance + 1e-12:
            differences.append(Difference(regression.name, "/".join(where), expected, actual))
    return differences


def run(regression: Regression, workdir: Path) -> dict[str, Any]:
    """Run the regression's command with ``--json`` into ``workdir``; return the parsed output.

    Raises
    ------
    RuntimeError
        When the command exits non-zero (its last lines of stderr are included).
    """
    out = workdir / f"{regression.name}.json"
    command = list(regression.command)
    if command[0] == "python":
        command[0] = sys.executable
    command += ["--json", str(out), "--quiet"]
    logger.info("%s: %s", regression.name, shlex.join(command))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{regression.name}: {shlex.join(command)} exited {completed.returncode}: {tail}")
    return json.loads(out.read_text(encoding="utf-8"))


def _updated(tree: dict[str, Any], output: Any) -> dict[str, Any]:
    fresh: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            fresh[key] = _updated(value, output.get(key, {}) if isinstance(output, dict) else {})
        else:
            actual = output.get(key) if isinstance(output, dict) else None
            fresh[key] = round(float(actual), 4) if isinstance(actual, (int, float)) else value
    return fresh


def update(regression: Regression, output: dict[str, Any]) -> None:
    """Write the numbers of ``output`` into the regression file (same keys, other fields kept)."""
    data = yaml.safe_load(regression.path.read_text(encoding="utf-8"))
    data["expected"] = _updated(regression.expected, output)
    regression.path.write_text(yaml.safe_dump(data, sort_keys=False, width=110), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Rerun the pinned benchmarks; exit 1 on any difference (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m eval.regress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="regression names (default: all)")
    parser.add_argument("--small", action="store_true", help="only the files marked small: true")
    parser.add_argument("--update", action="store_true", help="write the new numbers into the files")
    parser.add_argument("--list", action="store_true", help="list the regressions and exit")
    parser.add_argument("--from", dest="from_json", type=Path, default=None, metavar="JSON",
                        help="with one NAME: compare (or --update) against this output of the regression's "
                             "own command, run before, instead of running it")
    parser.add_argument("--dir", type=Path, default=REGRESSIONS_DIR, help="regression files (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    try:
        regressions = load_regressions(args.dir)
    except RegressionFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unknown = set(args.names) - {r.name for r in regressions}
    if unknown:
        print(f"error: unknown regression(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    chosen = [r for r in regressions if (not args.names or r.name in args.names) and (r.small or not args.small)]
    if args.from_json is not None and len(chosen) != 1:
        print("error: --from needs exactly one regression name", file=sys.stderr)
        return 2
    if args.list:
        for r in chosen:
            print(f"{r.name}{' (small)' if r.small else ''}: {shlex.join(r.command)}  {r.description}")
        return 0
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="eval-regress-") as tmp:
        for regression in chosen:
            if not regression.available():
                print(f"{regression.name}: skipped (dataset not available here)")
                continue
            try:
                output = (json.loads(args.from_json.read_text(encoding="utf-8")) if args.from_json
                          else run(regression, Path(tmp)))
            except RuntimeError as exc:
                failures.append(str(exc))
                print(f"{regression.name}: FAILED to run")
                continue
            if args.update:
                update(regression, output)
                print(f"{regression.name}: updated {regression.path}")
                continue
            differences = compare(regression, output)
            checked = sum(1 for _ in _leaves(regression.expected))
            print(f"{regression.name}: {'OK' if not differences else 'DIFFERS'} ({checked} numbers, "
                  f"tolerance {regression.tolerance})")
            failures += [str(d) for d in differences]
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
