"""Where graph retrieval loses to another retriever: ``python -m eval.failures``.

Reads a result file of ``python -m eval.multihop --json`` and the store it was
run on, and lists the questions where retriever ``--worse`` ranks a gold passage
below retriever ``--than``. For each such passage it re-runs the query and
reports why the walk missed it:

- ``unreached``: no entity of the passage is a seed or a neighbour of one (a
  wrong link, or a missing triple between the question and the passage);
- ``one hop``: an entity of the passage neighbours a seed, but the walk's mass
  went elsewhere;
- ``seeded``: an entity of the passage is itself a seed, yet the passage lost,
  typically to a hub (``hub`` names the seed mentioned by the most passages).

Example::

    python -m eval.multihop --dataset musique --store runs/m --json runs/m.json
    python -m eval.failures runs/m.json --store runs/m --worse hipporag --than dense --limit 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from memory import MemoryStore
from memory.config import RetrievalConfig
from memory.errors import MemoryStoreError

__all__ = ["diagnose", "main"]


def _rank(ranked: list[str], doc_id: str) -> int | None:
    return ranked.index(doc_id) + 1 if doc_id in ranked else None


def _worse(a: int | None, b: int | None) -> bool:
    return b is not None and (a is None or a > b)


def diagnose(store: MemoryStore, result: dict[str, Any], worse: str, than: str,
             limit: int) -> list[dict[str, Any]]:
    """Diagnose up to ``limit`` questions where ``worse`` ranks a gold passage below ``than``."""
    config = RetrievalConfig(**result["retrieval"])
    mode = "hipporag" if worse == "hybrid" else worse
    cases = []
    for question in result["questions"]:
        runs = question["runs"]
        if worse not in runs or than not in runs:
            raise KeyError(f"the result file has no run named {worse!r} or {than!r}")
        lost = [g for g in question["gold"]
                if _worse(_rank(runs[worse]["ranked"], g), _rank(runs[than]["ranked"], g))]
        if not lost:
            continue
        store.retrieve(question["question"], top_k=1, mode=mode, config=config)
        seeds = [s for s in store.last_query.seeds if s.node[0] == "entity"]
        seed_nodes = {s.node for s in seeds}
        with store.view() as view:
            graph = view.graph
            neighbours = {n for s in seed_nodes for n in graph.neighbours(s) if n[0] == "entity"}
            keys = view.storage.documents.keys_of(lost)
            names = view.storage.graph.entity_names({s.node[1] for s in seeds})
        passages = []
        for doc_id in lost:
            key = keys[doc_id]
            entities = {n for n in graph.neighbours(("passage", key)) if n[0] == "entity"}
            if entities & seed_nodes:
                reason = "seeded"
            elif entities & neighbours:
                reason = "one hop"
            else:
                reason = "unreached"
            stored = store.get(doc_id)
            passages.append({"doc_id": doc_id, "title": stored.title, "reason": reason,
                             f"rank_{worse}": _rank(runs[worse]["ranked"], doc_id),
                             f"rank_{than}": _rank(runs[than]["ranked"], doc_id)})
        hub = max(seeds, key=lambda s: graph.degree(s.node, "mention"), default=None)
        cases.append({
            "id": question["id"], "question": question["question"], "lost": passages,
            "seeds": [{"entity": names[s.node[1]], "weight": round(s.weight, 4), "reason": s.reason}
                      for s in sorted(seeds, key=lambda s: -s.weight)[:6]],
            "hub": None if hub is None else {"entity": names[hub.node[1]],
                                             "passages": graph.degree(hub.node, "mention")},
        })
        if len(cases) == limit:
            break
    return cases


def _print(cases: list[dict[str, Any]], worse: str, than: str) -> None:
    counts: dict[str, int] = {}
    for case in cases:
        print(f"\n## {case['question']}")
        for p in case["lost"]:
            counts[p["reason"]] = counts.get(p["reason"], 0) + 1
            print(f"- lost {p['title']!r}: {worse} rank {p[f'rank_{worse}']}, {than} rank "
                  f"{p[f'rank_{than}']} -> {p['reason']}")
        for seed in case["seeds"]:
            print(f"  seed {seed['weight']:.3f} {seed['entity']}: {seed['reason'][:110]}")
        if case["hub"]:
            print(f"  most mentioned seed: {case['hub']['entity']} ({case['hub']['passages']} passages)")
    print(f"\n{len(cases)} questions; lost passages by reason: {counts}")


def main(argv: list[str] | None = None) -> int:
    """Run the diagnosis (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m eval.failures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", type=Path, help="JSON written by python -m eval.multihop --json")
    parser.add_argument("--store", type=Path, required=True, help="the store that run used (--store)")
    parser.add_argument("--worse", default="hipporag", help="retriever under study (default hipporag)")
    parser.add_argument("--than", default="dense", help="retriever it is compared with (default dense)")
    parser.add_argument("--limit", type=int, default=10, help="questions to diagnose (default 10)")
    parser.add_argument("--json", type=Path, default=None, help="also write the diagnosis here")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.result.read_text(encoding="utf-8"))
        with MemoryStore(args.store) as store:
            cases = diagnose(store, result, args.worse, args.than, args.limit)
    except (OSError, ValueError, KeyError, MemoryStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print(cases, args.worse, args.than)
    if args.json:
        args.json.write_text(json.dumps(cases, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
