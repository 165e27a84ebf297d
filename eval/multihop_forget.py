"""Forgetting in multi-hop retrieval: ``python -m eval.multihop ... --forget hop|fact|entity``.

After GONE and MQuAKE: for a set of questions, the knowledge that links a
question's hops is forgotten in a copy of the store, and every question is asked
of three stores built in the same run:

- **before**: the benchmark's store, which holds everything;
- **after**: a copy of it after the forget calls;
- **never**: a store indexed from scratch without the forgotten knowledge.

What is forgotten, per question (``--forget``):

- ``hop``: the bridge passage (the one that answers the first hop), ``forget(id)``;
- ``fact``: the facts of that passage that name the bridge entity (the first hop's
  answer), ``forget_fact``; the never-store's extractor leaves them out;
- ``entity``: the bridge entity, ``forget_entity``; the never-store's extractor
  leaves it (and every fact naming it) out.

Each forgotten question is asked as written, **hop by hop** (MuSiQue's
decomposition, the first hop's answer filled into the second) and **paraphrased**
(fixed rewrites), the adversary's routes in the unlearning literature. Reported:

1. **efficacy**: the forgotten item is never returned (the passage in the top k,
   the fact among the linked facts, the entity as a linked fact's end), and answer
   recall after forgetting equals the never-store's, query by query; any excess is
   *leakage* through derived state;
2. **reasoning leakage**: how often the answer is still retrieved after forgetting,
   split into what the never-store retrieves too (*redundancy*: other passages
   state it) and what it does not (*leak*);
3. **collateral**: Recall@k and answer recall of every other question, after against
   never (goal: equal) and against before.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from memory import MemoryStore
from memory.config import RetrievalConfig, StoreConfig
from memory.documents import Document
from memory.extract import SpacyExtractor
from memory.extract.base import Extraction, Extractor, normalize_phrase

from .datasets import QADataset, QAItem
from .metrics import answer_in_passages, recall_at_k

__all__ = ["FORGET_KINDS", "ForgetCase", "FilteringExtractor", "forget_cases", "run_forgetting",
           "forget_table"]

logger = logging.getLogger("eval.multihop")

FORGET_KINDS = ("hop", "fact", "entity")
#: Fixed rewrites of a question (the adversary's paraphrases).
PARAPHRASES = ("Tell me: {q}", "I would like to know the following. {q} Please answer briefly.")


@dataclasses.dataclass(frozen=True)
class ForgetCase:
    """One question and what forgetting its bridge removes.

    ``queries`` maps a variant (``question``, ``hop 1``, ``hop 2``, ``paraphrase 1``...)
    to its text; ``answers`` the answers that variant asks for.
    """

    question: QAItem
    bridge_doc: str
    bridge_entity: str
    facts: tuple[tuple[str, str, str], ...]
    queries: dict[str, str]
    answers: dict[str, tuple[str, ...]]


class FilteringExtractor:
    """The spaCy extractor leaving out some entities and triples (for a never-store)."""

    def __init__(self, inner: Extractor, entities: Iterable[str] = (),
                 triples: Iterable[tuple[str, str, str]] = ()) -> None:
        self.inner = inner
        self.entities = frozenset(normalize_phrase(e) for e in entities)
        self.triples = frozenset(triples)
        self.name = f"{inner.name}:without-{len(self.entities)}e-{len(self.triples)}t"

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        """The inner extraction, minus the left-out entities and triples (and triples naming them)."""
        out = []
        for found in self.inner.extract(docs):
            triples = [t for t in found.triples if t not in self.triples
                       and t[0] not in self.entities and t[2] not in self.entities]
            entities = [e for e in found.entities if e not in self.entities]
            out.append(Extraction.build(entities, triples))
        return out


def _decompositions(path: Path | None) -> dict[str, list[dict[str, Any]]]:
    """MuSiQue's question decompositions by question id (empty for other formats)."""
    if path is None:
        return {}
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(item.get("id")): item["question_decomposition"] for item in raw
            if isinstance(item, dict) and item.get("question_decomposition") and item.get("paragraphs")} | {
        f"{item.get('id')}:paragraphs": item["paragraphs"] for item in raw
        if isinstance(item, dict) and item.get("question_decomposition") and item.get("paragraphs")}


def forget_cases(dataset: QADataset, questions_path: Path | None, store: MemoryStore, limit: int) -> list[ForgetCase]:
    """Up to ``limit`` questions whose bridge can be found, with disjoint forget targets.

    The bridge passage and entity come from MuSiQue's decomposition (the first hop's
    supporting paragraph and answer); for other formats, the bridge passage is the
    gold passage that does not contain the answer and the bridge entity is the other
    gold passage's title.
    """
    decompositions = _decompositions(questions_path)
    by_content = {(d["title"], " ".join(d["text"].split())): d["id"] for d in dataset.corpus}
    titles = {d["id"]: d["title"] for d in dataset.corpus}
    texts = {d["id"]: d["text"] for d in dataset.corpus}
    cases: list[ForgetCase] = []
    taken: set[str] = set()
    for question in dataset.questions:
        if len(cases) == limit:
            break
        steps = decompositions.get(question.id)
        queries = {"question": question.question}
        answers = {"question": question.answers}
        if steps and len(steps) >= 2:
            paragraphs = decompositions[f"{question.id}:paragraphs"]
            first = paragraphs[steps[0]["paragraph_support_idx"]]
            bridge_doc = by_content.get((first["title"], " ".join(first["paragraph_text"].split())))
            bridge_entity = steps[0]["answer"]
            queries["hop 1"] = steps[0]["question"]
            answers["hop 1"] = (bridge_entity,)
            queries["hop 2"] = steps[1]["question"].replace("#1", bridge_entity)
            answers["hop 2"] = (steps[1]["answer"],) if len(steps) > 2 else question.answers
        else:
            golds = sorted(question.gold_ids)
            without = [g for g in golds if not answer_in_passages([texts[g]], question.answers)]
            if len(golds) != 2 or len(without) != 1 or not question.answers:
                continue
            bridge_doc = without[0]
            bridge_entity = titles[next(g for g in golds if g != bridge_doc)]
        if bridge_doc is None or bridge_doc in taken or question.gold_ids & taken:
            continue
        for n, template in enumerate(PARAPHRASES, start=1):
            queries[f"paraphrase {n}"] = template.format(q=question.question)
            answers[f"paraphrase {n}"] = question.answers
        name = normalize_phrase(bridge_entity)
        facts = tuple(sorted(f for f in _facts_of(store, bridge_doc) if name in (f[0], f[2])))
        taken.add(bridge_doc)
        cases.append(ForgetCase(question, bridge_doc, name, facts, queries, answers))
    return cases


def _facts_of(store: MemoryStore, doc_id: str) -> list[tuple[str, str, str]]:
    with store.view() as view:
        graph = view.storage.graph
        key = view.storage.documents.keys_of([doc_id]).get(doc_id)
        if key is None:
            return []
        facts = graph.facts_by_key(graph.facts_of(key))
        names = graph.entity_names({e for s, _, o in facts.values() for e in (s, o)})
        return [(names[s], r, names[o]) for s, r, o in facts.values()]


def _ask(store: MemoryStore, cases: Sequence[ForgetCase], kind: str, mode: str, config: RetrievalConfig,
         depth: int, ks: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Every variant of every case: answer recall at k and whether the forgotten item came back."""
    out: dict[str, dict[str, Any]] = {}
    for case in cases:
        per: dict[str, Any] = {}
        for variant, text in case.queries.items():
            hits = store.retrieve(text, top_k=depth, mode=mode, config=config)
            trace = store.last_query
            linked = set(trace.facts) if trace is not None else set()
            if kind == "hop":
                returned = case.bridge_doc in [h.doc_id for h in hits]
            elif kind == "fact":
                returned = bool(linked & set(case.facts))
            else:
                returned = any(case.bridge_entity in (s, o) for s, _, o in linked)
            passages = [f"{h.title} {h.text}" for h in hits]
            per[variant] = {f"AR@{k}": answer_in_passages(passages[:k], case.answers[variant]) for k in ks}
            per[variant]["returned"] = returned
        out[case.question.id] = per
    return out


def _recall(store: MemoryStore, questions: Sequence[QAItem], mode: str, config: RetrievalConfig,
            ks: Sequence[int]) -> dict[str, dict[str, float]]:
    depth = max(ks)
    out = {}
    for question in questions:
        hits = store.retrieve(question.question, top_k=depth, mode=mode, config=config)
        ranked = [h.doc_id for h in hits]
        passages = [f"{h.title} {h.text}" for h in hits]
        row = {f"R@{k}": recall_at_k(ranked, question.gold_ids, k) for k in ks}
        if question.answers:
            row |= {f"AR@{k}": answer_in_passages(passages[:k], question.answers) for k in ks}
        out[question.id] = row
    return out


def _forget(store: MemoryStore, cases: Sequence[ForgetCase], kind: str) -> None:
    if kind == "hop":
        store.forget(ids=[c.bridge_doc for c in cases])
        return
    for case in cases:
        if kind == "fact":
            for fact in case.facts:
                try:
                    store.forget_fact(*fact)
                except Exception as exc:  # already gone with an earlier case's fact
                    logger.debug("forget_fact %s: %s", fact, exc)
        else:
            try:
                store.forget_entity(case.bridge_entity)
            except Exception as exc:
                logger.debug("forget_entity %s: %s", case.bridge_entity, exc)


def _usable(cases: list[ForgetCase], kind: str, store: MemoryStore) -> list[ForgetCase]:
    if kind == "fact":
        return [c for c in cases if c.facts]
    if kind == "entity":
        with store.view() as view:
            known = view.storage.graph.entity_keys([c.bridge_entity for c in cases])
        return [c for c in cases if c.bridge_entity in known]
    return cases


def _compare(before: dict, after: dict, never: dict, ks: Sequence[int]) -> dict[str, Any]:
    """Efficacy and leakage over every (case, variant)."""
    k = max(ks)
    rows = [(after[q][v], never[q][v], before[q][v]) for q in after for v in after[q]]
    n = max(1, len(rows))
    leak = sum(1 for a, nv, _ in rows if a[f"AR@{k}"] > nv[f"AR@{k}"])
    reachable = sum(1 for a, _, _ in rows if a[f"AR@{k}"] > 0)
    redundant = sum(1 for a, nv, _ in rows if a[f"AR@{k}"] > 0 and nv[f"AR@{k}"] > 0)
    by_variant: dict[str, dict[str, float]] = {}
    for variant in sorted({v for q in after for v in after[q]}):
        cells = [(after[q][variant], never[q][variant], before[q][variant]) for q in after if variant in after[q]]
        m = max(1, len(cells))
        by_variant[variant] = {
            "queries": len(cells),
            f"before AR@{k}": round(sum(b[f"AR@{k}"] for _, _, b in cells) / m, 4),
            f"after AR@{k}": round(sum(a[f"AR@{k}"] for a, _, _ in cells) / m, 4),
            f"never AR@{k}": round(sum(nv[f"AR@{k}"] for _, nv, _ in cells) / m, 4),
            "returned after": sum(1 for a, _, _ in cells if a["returned"]),
            "leaks": sum(1 for a, nv, _ in cells if a[f"AR@{k}"] > nv[f"AR@{k}"]),
        }
    return {"queries": len(rows), "returned_after": sum(1 for a, _, _ in rows if a["returned"]),
            "returned_before": sum(1 for _, _, b in rows if b["returned"]),
            "after_equals_never": sum(1 for a, nv, _ in rows if a[f"AR@{k}"] == nv[f"AR@{k}"]) / n,
            "leak": leak / n, "answer_reachable_after": reachable / n, "redundancy": redundant / n,
            "by_variant": by_variant}


def _collateral(before: dict, after: dict, never: dict) -> dict[str, Any]:
    metrics = sorted({m for row in after.values() for m in row})
    n = max(1, len(after))
    out: dict[str, Any] = {"questions": len(after)}
    for metric in metrics:
        out[metric] = {name: round(sum(rows[q][metric] for q in after) / n, 4)
                       for name, rows in (("before", before), ("after", after), ("never", never))}
    main = next((m for m in metrics if m.startswith("R@")), None)
    if main:
        out["lost_vs_never"] = sum(1 for q in after if after[q][main] < never[q][main])
        out["gained_vs_never"] = sum(1 for q in after if after[q][main] > never[q][main])
    return out


def run_forgetting(store_dir: Path, dataset: QADataset, questions_path: Path | None,
                   kinds: Sequence[str], mode: str, config: RetrievalConfig, ks: Sequence[int], limit: int,
                   workdir: Path, store_config: StoreConfig, extractor: Extractor | None) -> dict[str, Any]:
    """Run the forgetting benchmark for each kind.

    ``store_dir`` holds the full (before) store, closed; it is copied, never changed.
    Returns, per kind, the cases, efficacy, collateral and per-question results.
    """
    depth = max(ks)
    base_extractor = extractor or SpacyExtractor(store_config.extraction.spacy_model)
    results: dict[str, Any] = {}
    with MemoryStore(store_dir, store_config, extractor=extractor) as store:
        cases = forget_cases(dataset, questions_path, store, limit)
        usable = {kind: _usable(cases, kind, store) for kind in kinds}
    for kind in kinds:
        chosen = usable[kind]
        if not chosen:
            results[kind] = {"cases": 0, "note": "no question has a target of this kind"}
            continue
        forgotten_ids = {c.question.id for c in chosen}
        others = [q for q in dataset.questions if q.id not in forgotten_ids]
        with MemoryStore(store_dir, store_config, extractor=extractor) as store:
            before_cases = _ask(store, chosen, kind, mode, config, depth, ks)
            before_others = _recall(store, others, mode, config, ks)
        after_dir, never_dir = workdir / f"after-{kind}", workdir / f"never-{kind}"
        for directory in (after_dir, never_dir):
            shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(store_dir, after_dir)
        with MemoryStore(after_dir, store_config, extractor=extractor) as after:
            _forget(after, chosen, kind)
            after_cases = _ask(after, chosen, kind, mode, config, depth, ks)
            after_others = _recall(after, others, mode, config, ks)
        if kind == "hop":
            targets = {c.bridge_doc for c in chosen}
            corpus, never_extractor = [d for d in dataset.corpus if d["id"] not in targets], extractor
        else:
            corpus = dataset.corpus
            never_extractor = FilteringExtractor(
                base_extractor, entities=[c.bridge_entity for c in chosen] if kind == "entity" else (),
                triples=[f for c in chosen for f in c.facts] if kind == "fact" else ())
        with MemoryStore(never_dir, store_config, extractor=never_extractor) as never:
            never.ingest(corpus)
            never_cases = _ask(never, chosen, kind, mode, config, depth, ks)
            never_others = _recall(never, others, mode, config, ks)
        results[kind] = {
            "cases": len(chosen), "forgotten": [{"question": c.question.id, "passage": c.bridge_doc,
                                                 "entity": c.bridge_entity, "facts": [list(f) for f in c.facts]}
                                                for c in chosen],
            "efficacy": _compare(before_cases, after_cases, never_cases, ks),
            "collateral": _collateral(before_others, after_others, never_others),
            "per_question": {q: {"before": before_cases[q], "after": after_cases[q], "never": never_cases[q]}
                             for q in before_cases},
        }
        for directory in (after_dir, never_dir):
            shutil.rmtree(directory, ignore_errors=True)
        logger.info("forget %s: %s", kind, {k: v for k, v in results[kind]["efficacy"].items() if k != "by_variant"})
    shutil.rmtree(workdir, ignore_errors=True)
    return results


def forget_table(results: dict[str, Any], ks: Sequence[int]) -> str:
    """Markdown tables: efficacy and leakage per kind, then collateral."""
    k = max(ks)
    lines = [f"| forget | cases | queries | item returned before -> after | AR@{k} before -> after / never "
             "(question) | after = never | leak | answer reachable after | redundancy |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in results.items():
        if not r.get("cases"):
            lines.append(f"| {kind} | 0 | | | | | | | |")
            continue
        e, q = r["efficacy"], r["efficacy"]["by_variant"].get("question", {})
        lines.append(f"| {kind} | {r['cases']} | {e['queries']} | {e['returned_before']} -> {e['returned_after']} | "
                     f"{q.get(f'before AR@{k}', 0):.3f} -> {q.get(f'after AR@{k}', 0):.3f} / "
                     f"{q.get(f'never AR@{k}', 0):.3f} | {e['after_equals_never']:.3f} | {e['leak']:.3f} | "
                     f"{e['answer_reachable_after']:.3f} | {e['redundancy']:.3f} |")
    lines += ["", f"| forget | variant | queries | AR@{k} before | after | never | leaks |", "|---|---|---|---|---|---|---|"]
    for kind, r in results.items():
        for variant, v in r.get("efficacy", {}).get("by_variant", {}).items():
            lines.append(f"| {kind} | {variant} | {v['queries']} | {v[f'before AR@{k}']:.3f} | "
                         f"{v[f'after AR@{k}']:.3f} | {v[f'never AR@{k}']:.3f} | {v['leaks']} |")
    lines += ["", "| forget | other questions | metric | before | after | never | lost vs never |",
              "|---|---|---|---|---|---|---|"]
    for kind, r in results.items():
        c = r.get("collateral")
        if not c:
            continue
        for metric in [m for m in c if "@" in m]:
            lines.append(f"| {kind} | {c['questions']} | {metric} | {c[metric]['before']:.3f} | "
                         f"{c[metric]['after']:.3f} | {c[metric]['never']:.3f} | "
                         f"{c.get('lost_vs_never', '') if metric.startswith('R@') else ''} |")
    return "\n".join(lines)
