"""Worker processes for the concurrency tests: ``python -m tests.workers ROLE CONFIG_JSON``.

Each worker opens the store itself (as a separate application process would), does its
seeded share of work, and appends one JSON line per event to its log file, flushed at
once, with ``time.monotonic()`` stamps (one clock for every process on the machine).
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PEOPLE = ["Ada Quill", "Bram Osei", "Cleo Varga", "Dov Lind", "Esme Rook", "Finn Adler", "Gia Moreau", "Hugo Tan",
          "Iris Nkemelu", "Jonas Brink", "Kira Sato", "Lev Marsh"]
PLACES = ["Lakeview", "Norland", "Eastport", "Harrow", "Solmere", "Kelmar", "Brisk", "Dunmore"]
COMPANIES = ["Atlas Robotics", "Borealis Labs", "Cobalt Freight", "Delta Optics", "Ember Foods", "Fjord Bank"]
MODES = ("hipporag", "hipporag1", "dense", "bm25", "hybrid")


def document(rng: random.Random, doc_id: str, version: int) -> dict[str, Any]:
    """A short passage about a person, unique by id and version."""
    person, place, other = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(PLACES)
    company = rng.choice(COMPANIES)
    text = (f"{person} was born in {place}. {person} works for {company} in {other}. "
            f"Record {doc_id} revision {version}.")
    return {"id": doc_id, "title": f"{person} ({doc_id})", "text": text}


class Log:
    """Append-only JSON-lines log of events."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "a", encoding="utf-8")

    def __call__(self, **event: Any) -> None:
        self.handle.write(json.dumps({"t": time.monotonic(), **event}) + "\n")
        self.handle.flush()


def writer(config: dict[str, Any]) -> None:
    """Ingest, replace, update and forget the writer's own documents."""
    from memory import MemoryStore

    rng = random.Random(config["seed"])
    log = Log(Path(config["log"]))
    prefix = config["prefix"]
    live: dict[str, int] = {}
    counter = 0
    with MemoryStore(config["store"], timeout=config.get("timeout", 60.0)) as store:
        log(event="ready")
        deadline = time.monotonic() + config["seconds"]
        for _ in range(config["operations"]):
            if time.monotonic() > deadline:
                break
            choice = rng.random()
            if not live or choice < 0.45:
                docs = []
                for _ in range(rng.randint(1, 3)):
                    counter += 1
                    doc_id = f"{prefix}{counter}"
                    docs.append(document(rng, doc_id, 0))
                    live[doc_id] = 0
                store.ingest(docs)
                log(event="ingest", docs=docs, generation=store.last_write_generation)
            elif choice < 0.65:
                doc_id = rng.choice(sorted(live))
                live[doc_id] += 1
                doc = document(rng, doc_id, live[doc_id])
                store.ingest(doc)
                log(event="ingest", docs=[doc], generation=store.last_write_generation)
            elif choice < 0.8:
                subject, company = rng.choice(PEOPLE), rng.choice(COMPANIES)
                at = f"{rng.randint(2000, 2024)}-0{rng.randint(1, 9)}-01"
                report = store.update(subject, "work for", company, at=at)
                log(event="update", args=[subject, "work for", company, at], generation=report.generation)
            else:
                doc_id = rng.choice(sorted(live))
                del live[doc_id]
                log(event="forget_start", doc=doc_id)
                report = store.forget(doc_id)
                log(event="forget", doc=doc_id, generation=report.generation)
        log(event="done")


def reader(config: dict[str, Any]) -> None:
    """Query every mode with explanations until the writers are done; check visibility."""
    from memory import MemoryStore

    rng = random.Random(config["seed"])
    log = Log(Path(config["log"]))
    with MemoryStore(config["store"]) as store:
        log(event="ready")
        run_reader(store, rng, log, config)


def run_reader(store: Any, rng: random.Random, log: Any, config: dict[str, Any]) -> None:
    """The reader loop (also run in a thread of the test process on a long-lived object)."""
    writer_logs = [Path(p) for p in config["writer_logs"]]
    deadline = time.monotonic() + config["seconds"]
    while time.monotonic() < deadline and not _writers_done(writer_logs, config.get("writers", 0)):
        mode = rng.choice(MODES)
        query = f"Where does {rng.choice(PEOPLE)} work?" if rng.random() < 0.5 else \
            f"Who was born in {rng.choice(PLACES)}?"
        started = time.monotonic()
        try:
            hits = store.retrieve(query, top_k=5, mode=mode, explain=True)
            seen = [h.doc_id for h in hits]
            log(event="query", started=started, mode=mode, docs=seen)
            ingested = _ingested(writer_logs, before=started)
            if ingested:
                doc = rng.choice(sorted(ingested))
                started = time.monotonic()
                found = [h.doc_id for h in store.retrieve(ingested[doc], top_k=3, mode="dense")]
                present = doc in store
                log(event="lookup", started=started, doc=doc, present=present, found=doc in found)
        except Exception:  # noqa: BLE001 - every error is a failure the test reports
            log(event="error", traceback=traceback.format_exc())


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _writers_done(paths: list[Path], count: int) -> bool:
    return count > 0 and sum(any(e["event"] == "done" for e in _events(p)) for p in paths) >= count


def _ingested(paths: list[Path], before: float) -> dict[str, str]:
    """Documents whose last ingest returned before ``before`` and whose forget never started: id -> text."""
    texts: dict[str, str] = {}
    for path in paths:
        for event in _events(path):
            if event["event"] == "ingest" and event["t"] < before:
                texts.update({d["id"]: d["text"] for d in event["docs"]})
            elif event["event"] == "forget_start":
                texts.pop(event["doc"], None)
    return texts


def main(argv: list[str]) -> int:
    role, config = argv[0], json.loads(argv[1])
    try:
        {"writer": writer, "reader": reader}[role](config)
    except Exception:  # noqa: BLE001
        Log(Path(config["log"]))(event="error", traceback=traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
