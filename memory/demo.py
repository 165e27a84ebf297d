"""``python -m memory demo``: index the bundled MuSiQue sample and answer multi-hop questions."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .errors import MemoryStoreError
from .store import MemoryStore

__all__ = ["run_demo", "sample_dir"]

logger = logging.getLogger(__name__)


def sample_dir() -> Path:
    """The bundled MuSiQue sample (``data/musique_sample`` of the source checkout)."""
    folder = Path(__file__).resolve().parents[1] / "data" / "musique_sample"
    if not (folder / "corpus.json").exists():
        raise MemoryStoreError(
            f"bundled sample not found at {folder}; run the demo from a source checkout "
            "(pip install -e .)")
    return folder


def _explain_later_hop(store: MemoryStore, question: str, gold_hits: list) -> None:
    """Explain the supporting hit least similar to the question: the later hop."""
    if not gold_hits:
        return
    dense_order = [h.doc_id for h in store.retrieve(question, top_k=len(store), mode="dense")]
    hit = max(gold_hits, key=lambda h: dense_order.index(h.doc_id))
    print(f"\n  why [{hit.title}] was found (dense alone ranks it "
          f"#{dense_order.index(hit.doc_id) + 1}):")
    print("    " + str(hit.explain()).replace("\n", "\n    "))


def run_demo(store_path: Path, questions: int = 3, top_k: int = 5) -> int:
    """Build a store from the sample corpus and print hits for a few questions.

    Prints, for the first ``questions`` questions, the hipporag and dense top-k
    (gold passages marked) and the explanation of the supporting passage
    hipporag found that is least similar to the question (usually the later
    hop); then Recall@k of both over every question of the sample.
    """
    folder = sample_dir()
    corpus = json.loads((folder / "corpus.json").read_text(encoding="utf-8"))
    items = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    docs = [{"id": f"musique-{i}", "title": d["title"], "text": d["text"]} for i, d in enumerate(corpus)]
    by_content = {(d["title"], d["text"]): d["id"] for d in docs}
    recall = {"hipporag": 0.0, "dense": 0.0}
    with MemoryStore(store_path) as store:
        print(f"Indexing {len(docs)} MuSiQue passages into {store_path} "
              f"(extractor {store.core.models.extractor.name}, encoder {store.core.models.embedder.name}) ...")
        store.ingest(docs)
        stats = store.stats()
        print(f"{stats['documents']} passages, {stats['entities']} entities, {stats['facts']} facts, "
              f"edges {stats['edges']}\n")
        for number, item in enumerate(items):
            shown = number < questions
            gold = {by_content[(p["title"], p["paragraph_text"])]
                    for p in item["paragraphs"] if p["is_supporting"]}
            if shown:
                print("=" * 100)
                print(f"Q: {item['question']}   (answer: {item['answer']})")
            for mode in ("hipporag", "dense"):
                hits = store.retrieve(item["question"], top_k=top_k, mode=mode)
                found = len(gold & {h.doc_id for h in hits})
                recall[mode] += found / len(gold)
                if not shown:
                    continue
                print(f"\n  {mode}: {found}/{len(gold)} supporting passages in the top {top_k}")
                for hit in hits:
                    mark = "*" if hit.doc_id in gold else " "
                    print(f"   {mark} {hit.rank}. [{hit.title}] {hit.text[:90]}...")
                if mode == "hipporag":
                    _explain_later_hop(store, item["question"], [h for h in hits if h.doc_id in gold])
            if shown:
                print()
    n = max(1, len(items))
    print(f"Recall@{top_k} over all {len(items)} sample questions: hipporag {recall['hipporag'] / n:.2f}, "
          f"dense {recall['dense'] / n:.2f}   (* = supporting passage; python -m eval.multihop for "
          "the full benchmark)")
    return 0
