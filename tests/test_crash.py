"""Crash safety: a forget killed with SIGKILL leaves the store either before or after, and sound."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time

import pytest

from memory import MemoryStore
from memory.check import check_store
from memory.dump import canonical_dump

from .conftest import REPO

#: Opens the store, says it is ready, then forgets the given ids in one transaction.
_FORGET = """
import json, sys
from memory import MemoryStore
store = MemoryStore(sys.argv[1])
ids = json.loads(sys.argv[2])
print("ready", flush=True)
store.forget(ids=ids)
store.close()
print("done", flush=True)
"""


def _run_forget(path, ids, kill_after: float | None) -> tuple[bool, float]:
    """Run the forget in a subprocess; SIGKILL it ``kill_after`` seconds after it is ready."""
    proc = subprocess.Popen([sys.executable, "-c", _FORGET, str(path), json.dumps(ids)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    began = time.perf_counter()
    if kill_after is None:
        proc.wait(timeout=120)
        return proc.returncode == 0, time.perf_counter() - began
    time.sleep(kill_after)
    proc.kill()  # SIGKILL: no cleanup handlers run
    proc.wait(timeout=60)
    return proc.returncode == 0, time.perf_counter() - began


def _state(path):
    with MemoryStore(path) as store:
        return check_store(store), canonical_dump(store)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_forgets_leave_the_store_before_or_after(tmp_path, embedder, extractor):
    docs = [{"id": f"d{i}", "title": f"Town {i}",
             "text": f"Town {i} is a place in Region {i % 7}. Person {i} was born in Town {i}. "
                     f"Person {i} studied at School {i % 11}."} for i in range(300)]
    pristine = tmp_path / "pristine"
    with MemoryStore(pristine, embedder=embedder, extractor=extractor) as store:
        store.ingest(docs)
    forget_ids = [f"d{i}" for i in range(300) if i % 4]  # a large forget: 225 of 300
    problems, before = _state(pristine)
    assert problems == []
    completed = tmp_path / "completed"
    shutil.copytree(pristine, completed)
    finished, duration = _run_forget(completed, forget_ids, None)
    assert finished
    problems, after = _state(completed)
    assert problems == [] and after != before
    outcomes = {"before": 0, "after": 0}
    rng = random.Random(20261123)
    delays = [0.0] + [rng.uniform(0.0, duration) for _ in range(7)]
    for attempt, delay in enumerate(delays):
        victim = tmp_path / f"killed{attempt}"
        shutil.copytree(pristine, victim)
        _run_forget(victim, forget_ids, delay)
        problems, state = _state(victim)
        assert problems == [], (delay, problems)
        assert state in (before, after), f"killed after {delay:.3f}s: a state that is neither"
        outcomes["before" if state == before else "after"] += 1
        shutil.rmtree(victim)
    assert outcomes["before"] >= 1  # the kill at 0 s lands before the commit


_FORGET_THEN_DIE = """
import os, sys
import memory.core
from memory import MemoryStore
memory.core.StoreCore._after_write = lambda *args: os._exit(9)  # killed right after the commit
store = MemoryStore(sys.argv[1])
store.forget(ids=["d1", "d2"])
"""


def test_a_forget_killed_right_after_its_commit_leaves_no_snapshot_of_the_removed_rows(
        tmp_path, embedder, extractor):
    from memory.snapshot import read_snapshot, snapshot_generation

    path = tmp_path / "store"
    with MemoryStore(path, embedder=embedder, extractor=extractor) as store:
        store.ingest([{"id": f"d{i}", "title": f"Town {i}", "text": f"Town {i} lies in Region {i}."}
                      for i in range(4)])
    before = snapshot_generation(path / "cache")
    assert before is not None  # closing wrote one
    proc = subprocess.run([sys.executable, "-c", _FORGET_THEN_DIE, str(path)], cwd=REPO,
                          stderr=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 9
    after = snapshot_generation(path / "cache")  # read from disk, before anything reopens the store
    assert after is None or after > before
    snapshot = read_snapshot(path / "cache", ("document",))
    assert snapshot is None or len(snapshot.arrays["document"][0]) == 2
    with MemoryStore(path) as store:
        assert len(store) == 2 and store.get("d0").text == "Town 0 lies in Region 0."
        assert check_store(store) == []
