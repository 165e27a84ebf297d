"""Memory-bank benchmark: ``python -m eval.bank [--json OUT]``.

On the facts of a store built from the MuSiQue sample with its GPT-3.5 OpenIE triples
(``../shared/data/musique``; ``--dataset musique-sample`` uses the bundled one), or of
the temporal data (``--dataset situatedqa``: timelines as dated statements, so fact
keys carry their year):

1. **closed-book recall** (exact entity match; a key with several stored objects is
   right on any of them) on the trained facts, by frequency bucket (the number of
   documents mentioning the fact's subject), for: the anchor alone; a flat (one-level)
   bank; the hierarchical bank; a dense FFN and a key-value memory with the same
   parameter count as the hierarchical bank, trained on every fact;
2. **paraphrase robustness**: the same facts asked with rule-reworded relations
   (auxiliaries and common verbs swapped for synonyms; facts whose relation the
   rules do not change are left out);
3. **blocking**: 1/branching of the leaf blocks switched off, then 1/branching of the
   top-level subtrees (every block under them); recall on their facts and on the rest,
   before -> after (a leaf's facts are also stored in its ancestors);
4. **multi-hop**: Recall@k of ``hipporag`` with and without bank seeds in PPR;
5. **forgetting** (on a copy of the store): 10% of the documents forgotten in one
   call; recall of the facts that went, before -> after -> a bank fitted from scratch
   without them (the never-trained level); collateral recall of remaining facts in
   the leaves that lost facts and in the others; the forget's time against refitting
   the whole bank; then single-document forgets, timed, with the blocks each retrained.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from memory import BankConfig, MemoryStore, RetrievalConfig, StoreConfig
from memory.bank import ANCHOR, MemoryBank
from memory.bank.blocks import TrainingSet, node_seed, predict, train_block
from memory.errors import MemoryStoreError
from memory.extract.openie import OpenIEExtractor

from .bank_baselines import KeyValueMemory, matched_ffn
from .cli import add_output_arguments, configure_logging, write_json
from .datasets import load_named, shared_data_dir
from .metrics import mean_rate, percentile
from .multihop import Run, evaluate
from .temporal import statement_docs
from .temporal_data import load_situatedqa

BUCKETS = ((1, 1), (2, 3), (4, 9), (10, None))
# Relation rewordings for the paraphrase probe: generic English, not tuned to any question.
_REWORDINGS = [(r"\bis\b", "was"), (r"\bwas\b", "is"), (r"\bborn in\b", "birthplace is"),
               (r"\blocated in\b", "situated in"), (r"\bfounded\b", "established"),
               (r"\bmarried to\b", "spouse of"), (r"\bmember of\b", "belongs to"),
               (r"\bpart of\b", "belongs to"), (r"\bdirected\b", "was director of"),
               (r"\bwritten by\b", "authored by"), (r"\breleased\b", "came out"),
               (r"\bplays\b", "performs"), (r"\bplayed\b", "performed"), (r"\bworks\b", "is employed"),
               (r"\bcapital of\b", "main city of"), (r"\bhas\b", "possesses"), (r"\bcreated\b", "made"),
               (r"\bknown as\b", "called"), (r"\bwon\b", "received"), (r"\bdied in\b", "passed away in")]


@dataclasses.dataclass(frozen=True)
class FactProbe:
    """A stored fact as a closed-book question: key, accepted answers, leaf, bucket."""

    key: int
    subject: str
    relation: str
    text: str
    vector: np.ndarray
    answers: frozenset[str]
    leaf: str
    bucket: str


def _bucket(count: int) -> str:
    for low, high in BUCKETS:
        if count >= low and (high is None or count <= high):
            return f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")
    return "0"


def fact_probes(store: MemoryStore) -> list[FactProbe]:
    """Every routed fact of a fitted bank, as a probe."""
    with store.view() as view:
        mentions = view.storage.graph.mention_counts()
        rows = view.storage.bank.probes()
    answers: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        answers[row[5]].add(row[4])
    return [FactProbe(key, subject, relation, text, np.frombuffer(vector, dtype=np.float32),
                      frozenset(answers[text]), leaf, _bucket(mentions.get(subject_key, 0)))
            for key, subject_key, subject, relation, _, text, vector, leaf in rows]


def by_bucket(probes: Sequence[FactProbe], right: Sequence[bool]) -> dict[str, Any]:
    """Recall overall and per frequency bucket."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for probe, flag in zip(probes, right):
        groups[probe.bucket].append(flag)
    order = [_bucket(low) for low, _ in BUCKETS]
    return {"all": mean_rate(right), "facts": len(right),
            "buckets": {b: {"facts": len(groups[b]), "recall": mean_rate(groups[b])} for b in order if groups[b]}}


def bank_answers(bank: MemoryBank, vectors: np.ndarray, components: set[str] | None = None) -> list[str]:
    """The bank's answers for key vectors (optionally with only some components)."""
    answers: list[str] = []
    for start in range(0, len(vectors), 2048):
        answers += [r.answer for r in bank.recall_vectors(vectors[start:start + 2048],
                                                          components=components)]
    return answers


def _right(probes: Sequence[FactProbe], answers: Sequence[str]) -> list[bool]:
    return [answer in probe.answers for probe, answer in zip(probes, answers)]


def _stack(probes: Sequence[FactProbe]) -> np.ndarray:
    return np.stack([p.vector for p in probes]) if probes else np.zeros((0, 1), dtype=np.float32)


def _bank_parameters(stats: dict[str, Any]) -> int:
    return int(stats["parameters"]["anchor"] + stats["parameters"]["blocks"])


def _fit(store: MemoryStore, config: BankConfig) -> dict[str, Any]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = store.bank.fit(config)
    stats = store.bank.stats()
    return {"train_seconds": round(report.seconds, 1), "parameters": _bank_parameters(stats),
            "blocks": stats["blocks_trained"], "leaves": stats["leaves"], "levels": stats["levels"],
            "anchor_facts": stats["anchor_facts"], "facts_per_leaf": stats["facts_per_leaf"],
            "bytes_stored": stats["bytes_stored"],
            "peak_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024, 1)}


def train_baseline(store: MemoryStore, probes: Sequence[FactProbe], module: Any, config: BankConfig,
                   name: str) -> tuple[Callable[[np.ndarray], list[str]], float]:
    """Train a standalone corrector on every fact; returns its answer function and seconds."""
    names = sorted({p.subject for p in probes} | {a for p in probes for a in p.answers})
    index = {n: i for i, n in enumerate(names)}
    with store.view() as view:
        entity_keys = view.storage.graph.entity_keys(names)
        candidates = view.derived.vectors_of("entity", [entity_keys[n] for n in names])
    # one example per fact: its key and (the first of) its answers
    data = TrainingSet(_stack(probes), np.array([index[min(p.answers)] for p in probes]), candidates)
    began = time.perf_counter()
    trained = train_block(data, 0, node_seed(config.seed, name), config.epochs, config.learning_rate,
                          config.temperature, config.batch_size, config.negatives, module=module,
                          min_steps=config.min_steps)
    seconds = time.perf_counter() - began
    def answer(vectors: np.ndarray) -> list[str]:
        with store.view() as view:
            _, ids = view.derived.vectors["entity"].search(predict(trained, vectors), 1)
            found = view.storage.graph.entity_names({int(i) for i in ids[:, 0] if i >= 0})
        return [found.get(int(i), "") for i in ids[:, 0]]

    return answer, seconds


def reword(relation: str) -> str:
    """The relation with the first applicable generic rewording, or unchanged.

    >>> reword("was born in")
    'is born in'
    """
    for pattern, replacement in _REWORDINGS:
        changed = re.sub(pattern, replacement, relation, count=1)
        if changed != relation:
            return changed
    return relation


def paraphrase(store: MemoryStore, probes: Sequence[FactProbe]) -> dict[str, Any]:
    """Recall with reworded relations, on the facts whose relation a rule changes."""
    reworded = [(p, reword(p.relation)) for p in probes]
    reworded = [(p, r) for p, r in reworded if r != p.relation]
    if not reworded:
        return {"facts": 0}
    texts = [p.text.replace(p.relation, r, 1) for p, r in reworded]
    vectors = store.core.models.encode("entity", texts)
    chosen = [p for p, _ in reworded]
    original = _right(chosen, bank_answers(store.bank, _stack(chosen)))
    changed = _right(chosen, bank_answers(store.bank, vectors))
    return {"facts": len(chosen), "original_wording": mean_rate(original), "reworded": mean_rate(changed),
            "examples": [[p.relation, r] for p, r in reworded[:5]]}


def blocking(store: MemoryStore, probes: Sequence[FactProbe], branching: int, seed: int) -> dict[str, Any]:
    """Switch off 1/branching of the leaves, then 1/branching of the top-level subtrees; recall
    on the facts routed under them and on the rest, before -> after."""
    rng = random.Random(seed)
    tree = store.bank.tree
    vectors = _stack(probes)
    before = _right(probes, bank_answers(store.bank, vectors))
    leaves = tree.leaves
    tops = [n.id for n in tree.children("")]
    out: dict[str, Any] = {"leaves": len(leaves), "top_level_nodes": len(tops)}
    for name, roots in (("leaf_blocks", rng.sample(leaves, max(1, len(leaves) // branching))),
                        ("top_level_subtrees", rng.sample(tops, max(1, len(tops) // branching)))):
        switched = [n for n in tree.nodes if any(n == r or n.startswith(r + ".") for r in roots)]
        for node in switched:
            store.bank.block(node)
        after = _right(probes, bank_answers(store.bank, vectors))
        for node in switched:
            store.bank.unblock(node)
        inside = [i for i, p in enumerate(probes) if any(p.leaf == r or p.leaf.startswith(r + ".") for r in roots)]
        outside = sorted(set(range(len(probes))) - set(inside))
        out[name] = {"blocks_switched_off": len(switched),
                     "their_facts": {"facts": len(inside), "before": mean_rate([before[i] for i in inside]),
                                     "after": mean_rate([after[i] for i in inside])},
                     "other_facts": {"facts": len(outside), "before": mean_rate([before[i] for i in outside]),
                                     "after": mean_rate([after[i] for i in outside])}}
    return out


def forgetting(store: MemoryStore, probes: Sequence[FactProbe], fraction: float, singles: int,
               seed: int) -> dict[str, Any]:
    """Forget a fraction of the documents, then single documents; see the module docstring."""
    rng = random.Random(seed)
    with store.view() as view:
        doc_ids = sorted(view.storage.documents.ids(view.storage.documents.all_keys()).values())
    batch = sorted(rng.sample(doc_ids, max(1, int(len(doc_ids) * fraction))))
    vectors = _stack(probes)
    before = _right(probes, bank_answers(store.bank, vectors))
    began = time.perf_counter()
    report = store.forget(ids=batch)
    forget_seconds = time.perf_counter() - began
    remaining_singles = sorted(set(doc_ids) - set(batch))
    single_times, single_blocks = [], []
    for doc_id in rng.sample(remaining_singles, min(singles, len(remaining_singles))):
        began = time.perf_counter()
        single = store.forget(doc_id)
        single_times.append(time.perf_counter() - began)
        single_blocks.append(single.recomputed["bank_blocks"])
    with store.view() as view:
        alive = view.storage.inspect.row_keys("fact")
    gone = [i for i, p in enumerate(probes) if p.key not in alive]
    after = _right(probes, bank_answers(store.bank, vectors))
    touched_leaves = {probes[i].leaf for i in gone}
    same = [i for i, p in enumerate(probes) if p.key in alive and p.leaf in touched_leaves]
    other = [i for i, p in enumerate(probes) if p.key in alive and p.leaf not in touched_leaves]
    refit = store.bank.fit()
    scratch = _right(probes, bank_answers(store.bank, vectors))

    def rates(indices: list[int], *runs: list[bool]) -> dict[str, Any]:
        names = ("before", "after", "never_trained")
        return {"facts": len(indices)} | {n: mean_rate([r[i] for i in indices]) for n, r in zip(names, runs)}

    return {"documents_forgotten": len(batch), "facts_removed": len(gone),
            "blocks_retrained": report.recomputed["bank_blocks"],
            "forgotten_facts": rates(gone, before, after, scratch),
            "collateral_same_leaves": rates(same, before, after),
            "collateral_other_leaves": rates(other, before, after),
            "forget_seconds": round(forget_seconds, 2), "refit_seconds": round(refit.seconds, 2),
            "single_document_forget": {"count": len(single_times),
                                       "p50_seconds": round(percentile(single_times, 50), 3) if single_times else None,
                                       "blocks_retrained": single_blocks}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or open) the store and run every section."""
    if args.dataset == "situatedqa":  # the temporal data: dated statements, facts keyed with their year
        items, _ = load_situatedqa(shared_data_dir() / "situatedqa", "dev", args.temporal_items)
        corpus = [doc for item in items for doc in statement_docs(item)]
        dataset, openie = None, None
    else:
        dataset, openie = load_named(args.dataset)
        corpus = dataset.corpus
    config = BankConfig(branching=args.branching, depth=args.depth, hidden=args.hidden,
                        epochs=args.epochs, seed=args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="eval-bank-"))
    store_dir = args.store or workdir / "store"
    result: dict[str, Any] = {"dataset": args.dataset, "passages": len(corpus),
                              "bank": dataclasses.asdict(config)}
    extractor = OpenIEExtractor(openie) if openie else None
    try:
        with MemoryStore(store_dir, StoreConfig(), extractor=extractor) as store:
            if len(store) == 0:
                store.ingest(corpus)
            hier = _fit(store, config)
            probes = fact_probes(store)
            vectors = _stack(probes)
            result["facts"] = len(probes)
            hier["recall"] = by_bucket(probes, _right(probes, bank_answers(store.bank, vectors)))
            anchor = {"parameters": store.bank.stats()["parameters"]["anchor"],
                      "recall": by_bucket(probes, _right(probes, bank_answers(store.bank, vectors, {ANCHOR})))}
            result["paraphrase"] = paraphrase(store, probes)
            result["blocking"] = blocking(store, probes, config.branching, args.seed)
            if dataset is not None and not args.skip_multihop:
                runs = [Run("hipporag", "hipporag", {}),
                        Run("hipporag + bank seeds", "hipporag", {"bank_seeds": args.bank_seeds})]
                result["multihop"] = evaluate(store, dataset, runs, [2, 5], RetrievalConfig())["summary"]
            store.close()
            shutil.copytree(store_dir, workdir / "forget")  # the forgetting section's copy
            store = MemoryStore(store_dir, extractor=extractor)
            # flat: one level with as many blocks as the hierarchy has, same width: same parameters
            flat = _fit(store, dataclasses.replace(config, depth=1, branching=hier["blocks"], min_leaf=1))
            flat["recall"] = by_bucket(probes, _right(probes, bank_answers(store.bank, vectors)))
            budget = hier["parameters"]
            systems = {"anchor only": anchor, "flat bank (1 level)": flat, "hierarchical bank": hier}
            dim = vectors.shape[1]
            for name, module in (("dense FFN (same parameters)", matched_ffn(dim, budget)),
                                 ("key-value memory (same parameters)", KeyValueMemory(dim, budget // (2 * dim)))):
                answer, seconds = train_baseline(store, probes, module, config, name)
                systems[name] = {"parameters": sum(p.numel() for p in module.parameters()),
                                 "train_seconds": round(seconds, 1),
                                 "recall": by_bucket(probes, _right(probes, answer(vectors)))}
            result["closed_book"] = systems
            store.close()
        with MemoryStore(workdir / "forget", extractor=extractor) as store:
            result["forgetting"] = forgetting(store, probes, args.forget_fraction, args.single_forgets,
                                              args.seed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def markdown(result: dict[str, Any]) -> str:
    """The headline numbers as markdown tables."""
    systems = result["closed_book"]
    buckets = list(next(iter(systems.values()))["recall"]["buckets"])
    lines = ["| system | parameters | train s | recall | " + " | ".join(f"subject in {b} docs" for b in buckets)
             + " |", "|---" * (4 + len(buckets)) + "|"]
    for name, row in systems.items():
        cells = [str(row["recall"]["buckets"].get(b, {}).get("recall")) for b in buckets]
        lines.append(f"| {name} | {row['parameters']:,} | {row.get('train_seconds', '-')} | "
                     f"{row['recall']['all']} | " + " | ".join(cells) + " |")
    forget = result["forgetting"]
    lines += ["", f"forgetting {forget['documents_forgotten']} documents ({forget['facts_removed']} facts): "
              f"forgotten-fact recall {forget['forgotten_facts']}; same-leaf collateral "
              f"{forget['collateral_same_leaves']}; other leaves {forget['collateral_other_leaves']}; "
              f"{forget['forget_seconds']} s vs refit {forget['refit_seconds']} s"]
    lines.append(f"blocking: {result['blocking']}")
    lines.append(f"paraphrase: {result['paraphrase']}")
    if "multihop" in result:
        lines.append(f"multi-hop: {result['multihop']}")
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.bank", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="musique",
                        help="musique (shared), musique-sample (bundled) or situatedqa (the temporal "
                             "data: SituatedQA timelines as dated statements; no multi-hop section)")
    parser.add_argument("--temporal-items", type=int, default=200, help="SituatedQA timelines used")
    parser.add_argument("--store", type=Path, default=None,
                        help="build (or reuse) the store here; forgetting runs on a copy")
    defaults = BankConfig()
    parser.add_argument("--branching", type=int, default=defaults.branching, help="tree branching")
    parser.add_argument("--depth", type=int, default=defaults.depth, help="tree levels")
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help="block hidden width")
    parser.add_argument("--epochs", type=int, default=20,
                        help="training epochs (default 20; blocks also train at least "
                             f"{defaults.min_steps} steps)")
    parser.add_argument("--bank-seeds", type=int, default=3, help="bank seeds in the multi-hop run")
    parser.add_argument("--forget-fraction", type=float, default=0.1, help="documents forgotten at once")
    parser.add_argument("--single-forgets", type=int, default=5, help="single-document forgets timed")
    parser.add_argument("--skip-multihop", action="store_true", help="leave out the retrieval section")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the bank and of the blocked / forgotten samples")
    add_output_arguments(parser, "write the results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if not 0 < args.forget_fraction < 1 or args.single_forgets < 0:
        parser.error("--forget-fraction must be in (0, 1) and --single-forgets >= 0")
    try:
        result = run(args)
    except (OSError, KeyError, ValueError, MemoryStoreError) as exc:
        print(f"error: {exc}")
        return 2
    write_json(args.json, result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
