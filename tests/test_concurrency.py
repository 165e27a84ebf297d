"""One truth, many processes: a store shared by processes, objects and threads stays correct.

The reproductions of what broke before the store-core rewrite (each failed on the
old code), then a seeded multi-process stress test whose outcome is compared with
a serial replay of the committed operations.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memory import MemoryStore, StoreBusyError, StoreConfig
from memory.check import check_store
from memory.dump import canonical_dump

from .conftest import BOTH_BACKENDS, REPO
from .helpers import location, reopen
from .workers import MODES, document, run_reader

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and locks")
BACKENDS = BOTH_BACKENDS


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The environment of worker processes: each keeps its PostgreSQL caches under tmp_path."""
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}


def _spawn(role: str, config: dict[str, Any], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.workers", role, json.dumps(config)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wait(procs: list[subprocess.Popen], timeout: float = 600) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]


def _docs(prefix: str, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [document(rng, f"{prefix}{i}", 0) for i in range(count)]


# -- the reproductions ------------------------------------------------------------------------------

_INGEST = """
import json, sys
from memory import MemoryStore
store, docs = sys.argv[1], json.loads(sys.argv[2])
with MemoryStore(store) as s:
    for start in range(0, len(docs), 5):
        s.ingest(docs[start:start + 5])
"""


def test_two_processes_ingesting_at_once_lose_no_vector(make_store, env):
    store = make_store()
    store.ingest(_docs("base", 10, 0))
    batches = [_docs("a", 30, 1), _docs("b", 30, 2)]
    procs = [subprocess.Popen([sys.executable, "-c", _INGEST, location(store), json.dumps(docs)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True, env=env) for docs in batches]
    _wait(procs)
    assert len(store) == 70
    assert check_store(store) == []
    for doc in batches[0][::7] + batches[1][::7]:
        assert doc["id"] in [h.doc_id for h in store.retrieve(doc["text"], top_k=3, mode="dense")]
    store.forget(batches[1][0]["id"])  # forgetting one of them works
    assert check_store(store) == []
    with reopen(store, cache_dir=store.path.parent / "second-machine") as fresh:
        assert canonical_dump(fresh) == canonical_dump(store)


_WRITE = """
import json, sys
from memory import MemoryStore
store, op, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with MemoryStore(store) as s:
    s.ingest(arg) if op == "ingest" else s.forget(arg)
"""


def _other_process(path: str, op: str, arg: Any, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-c", _WRITE, path, op, json.dumps(arg)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_long_lived_object_sees_other_processes_ingests_and_forgets(make_store, env):
    store = make_store()
    docs = _docs("d", 6, 3)
    store.ingest(docs)
    store.retrieve("Where does Ada Quill work?")  # derived state loaded, as a server holds it
    new = _docs("late", 1, 4)[0]
    _other_process(location(store), "ingest", new, env)
    assert new["id"] in [h.doc_id for h in store.retrieve(new["text"], top_k=2, mode="dense")]
    gone = docs[2]
    _other_process(location(store), "forget", gone["id"], env)
    for mode in MODES:
        for query in (gone["text"], gone["title"], "Who was born in Lakeview?"):
            hits = store.retrieve(query, top_k=6, mode=mode, explain=True)
            assert gone["id"] not in [h.doc_id for h in hits]
            for hit in hits:  # no seed and no path node is the forgotten passage
                explanation = hit.explain()
                named = [s.name for s in explanation.seeds] + [n for p in explanation.paths for n in p.nodes]
                assert not any(repr(gone["title"]) in name for name in named)
    assert gone["id"] not in store and check_store(store) == []


def test_a_stale_object_never_writes_forgotten_vectors_back(make_store, embedder, extractor):
    a = make_store()
    docs = _docs("v", 8, 5)
    a.ingest(docs)
    b = reopen(a, embedder=embedder, extractor=extractor)
    with b.view() as view:
        victim = view.storage.documents.keys_of([docs[3]["id"]])[docs[3]["id"]]
        vector = view.derived.vectors["document"].reconstruct([victim])[0].tobytes()
    b.forget(docs[3]["id"])
    a.ingest(_docs("w", 2, 6))  # A was stale: it must catch up, not save its old copy
    a.close()
    b.close()
    for file in a.path.rglob("*"):  # the store's files (PostgreSQL: this machine's derived caches)
        if file.is_file():
            assert vector not in file.read_bytes(), file
    with reopen(a) as reopened:
        assert check_store(reopened) == []
        assert docs[3]["id"] not in reopened


class _SlowExtractor:
    """The real spaCy extractor, slowed down: extraction must not hold the write lock."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self.inner, self.seconds, self.name = inner, seconds, inner.name

    def extract(self, docs: Any) -> Any:
        time.sleep(self.seconds)
        return self.inner.extract(docs)


def test_extraction_runs_outside_the_write_lock(make_store, embedder, extractor):
    store = make_store()
    store.ingest(_docs("s", 3, 7))
    slow = reopen(store, embedder=embedder, extractor=_SlowExtractor(extractor, 4.0))
    quick = reopen(store, embedder=embedder, extractor=extractor, timeout=1.0)
    worker = threading.Thread(target=slow.ingest, args=(_docs("slow", 2, 8),))
    worker.start()
    time.sleep(0.5)  # the slow writer is extracting now
    quick.ingest(_docs("quick", 2, 9))  # would wait 4 s for the lock if extraction held it
    assert store.stats()["documents"] == 5  # and readers were never refused meanwhile
    worker.join()
    assert len(store) == 7 and check_store(store) == []
    slow.close()
    quick.close()


_HOLD = """
import sys, time
from memory import MemoryStore
with MemoryStore(sys.argv[1]) as s:
    with s.core.storage.write():
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
"""


def test_a_writer_that_waits_too_long_gets_store_busy_and_changes_nothing(make_store, env):
    store = make_store()
    store.ingest(_docs("h", 2, 10))
    before = canonical_dump(store)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, location(store), "6"], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout.readline().strip() == "locked"
    impatient = reopen(store, timeout=0.5)
    with pytest.raises(StoreBusyError, match="busy"):
        impatient.ingest(_docs("late", 1, 11))
    with pytest.raises(StoreBusyError):
        impatient.forget("h0")
    impatient.close()
    holder.wait(timeout=60)
    assert canonical_dump(store) == before


_BANK_WRITE = """
import json, sys
from memory import MemoryStore
with MemoryStore(sys.argv[1]) as s:
    for doc in json.loads(sys.argv[2]):
        s.ingest(doc)
    s.forget(json.loads(sys.argv[2])[0]["id"])
print(json.dumps(s.last_write_generation))
"""


def test_concurrent_writes_with_a_fitted_bank(make_store, env):
    from memory import BankConfig

    small = BankConfig(branching=2, depth=2, min_leaf=2, hidden=16, anchor_hidden=16, epochs=10, min_steps=20)
    store = make_store(config=StoreConfig(bank=small))
    store.ingest(_docs("k", 12, 12))
    store.bank.fit()
    procs = [subprocess.Popen([sys.executable, "-c", _BANK_WRITE, location(store), json.dumps(_docs(p, 3, s))],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for p, s in (("p", 13), ("q", 14))]
    _wait(procs)
    assert check_store(store) == []
    assert store.bank.stale() == []
    for doc in ("p0", "q0"):
        assert doc not in store
    answer = store.recall("Ada Quill", "bear in")
    assert answer.answer is None or answer.answer != "ada quill"


# -- the stress test ------------------------------------------------------------------------------------

def _stress(tmp_path: Path, embedder: Any, extractor: Any, writers: int, operations: int, seconds: float,
            locations: Any, env: dict[str, str]) -> None:
    path = str(locations())
    with MemoryStore(path, embedder=embedder, extractor=extractor, cache_dir=tmp_path / "seed-cache") as seed_store:
        seed_store.ingest(_docs("seed", 4, 99))
        seed_generation = seed_store.generation
    writer_logs = [tmp_path / f"writer{i}.jsonl" for i in range(writers)]
    reader_logs = [tmp_path / f"reader{i}.jsonl" for i in range(2)]
    common = {"store": str(path), "seconds": seconds, "writer_logs": [str(p) for p in writer_logs],
              "writers": writers}
    procs = [_spawn("writer", {**common, "seed": 1000 + i, "log": str(log), "prefix": f"w{i}-",
                               "operations": operations}, env) for i, log in enumerate(writer_logs)]
    procs += [_spawn("reader", {**common, "seed": 2000 + i, "log": str(log)}, env)
              for i, log in enumerate(reader_logs)]
    # the long-lived object of this process reads in a thread all along
    local_log = tmp_path / "local.jsonl"
    long_lived = MemoryStore(path, embedder=embedder, extractor=extractor, cache_dir=tmp_path / "long-lived")
    from .workers import Log

    thread = threading.Thread(target=run_reader, args=(long_lived, random.Random(3000), Log(local_log), common))
    thread.start()
    _wait(procs, timeout=seconds + 600)
    thread.join(timeout=seconds + 600)
    writes = [e for log in writer_logs for e in _events(log)]
    reads = [e for log in reader_logs + [local_log] for e in _events(log)]
    errors = [e["traceback"] for e in writes + reads if e["event"] == "error"]
    assert not errors, errors[0]
    assert sum(e["event"] == "query" for e in reads) >= 10, "the readers hardly read"
    # no reader got a document after its forget had returned
    forgotten = {e["doc"]: e["t"] for e in writes if e["event"] == "forget"}
    late = [(e["mode"], d) for e in reads if e["event"] == "query" for d in e["docs"]
            if d in forgotten and e["started"] > forgotten[d]]
    assert not late, late
    # every document whose ingest had returned was found, unless a later write touched it
    touched = [(e.get("doc") or d["id"], e["t"]) for e in writes if e["event"] in ("forget_start", "ingest")
               for d in (e.get("docs") or [{"id": None}])]
    missed = [e for e in reads if e["event"] == "lookup" and not (e["present"] and e["found"])
              and not any(doc == e["doc"] and e["started"] - 5 < t <= e["t"] for doc, t in touched)]
    assert not missed, missed
    # the store equals one built by replaying the committed writes serially, in commit order
    committed = sorted((e for e in writes if e["event"] in ("ingest", "update", "forget")),
                       key=lambda e: e["generation"])
    check = check_store(long_lived)
    dump = canonical_dump(long_lived)
    long_lived.close()
    assert check == []
    with MemoryStore(locations(), embedder=embedder, extractor=extractor, cache_dir=tmp_path / "replay") as replay:
        replay.ingest(_docs("seed", 4, 99))
        assert replay.generation == seed_generation
        for event in committed:
            if event["event"] == "ingest":
                replay.ingest(event["docs"])
            elif event["event"] == "update":
                replay.update(*event["args"][:3], at=event["args"][3])
            else:
                replay.forget(event["doc"])
        assert canonical_dump(replay) == dump


def test_stress_writers_readers_and_a_long_lived_object(tmp_path, embedder, extractor, fresh_location, env):
    _stress(tmp_path, embedder, extractor, writers=3, operations=6, seconds=120, locations=fresh_location, env=env)


@pytest.mark.slow
def test_stress_long(tmp_path, embedder, extractor, fresh_location, env):
    _stress(tmp_path, embedder, extractor, writers=4, operations=60, seconds=900, locations=fresh_location, env=env)
