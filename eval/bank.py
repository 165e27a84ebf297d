"""Memory-bank benchmark: ``python -m eval.bank [--dataset NAME] [--json OUT] [--plot PNG]``.

Datasets: ``musique`` (the shared MuSiQue sample with its GPT-3.5 OpenIE triples),
``musique-sample`` (bundled), ``situatedqa`` (timelines as dated statements), ``dusk``
(fictional professors: the Chronological, Feature_Story and Interview styles, facts
extracted by the store's own extractor; the set the design was developed on) and
``dusk-heldout`` (the Inverted_Pyramid and Listicle styles, never looked at while
designing). Every (subject, relation) pair of the fitted bank is a probe: right when
the answer is any stored object of the pair. Sections:

1. **closed-book recall** per frequency bucket (documents mentioning the subject): the
   hierarchical bank, a flat bank (one level, no anchor, every fact in its leaf) with the
   same parameters, and a dense FFN and a key-value memory with the same parameters
   trained on every fact (answering among every stored object);
2. **paraphrases**: the same pairs asked with rule-reworded relations;
3. **blocking** leaves, then top-level subtrees (recall of their pairs and of the others);
4. **updates**: ``update(s, r, o, at)`` on sampled pairs: latency, the new object answered,
   the old one ``as_of`` before ``at``;
5. **forgetting** (on a copy): a tenth of the documents in one call against a refit;
   forgotten pairs before -> after -> a bank fitted without them; single documents
   forgotten one at a time (p50/p95 seconds, blocks retrained, retrained blocks checked
   bit for bit against blocks trained from scratch);
6. **abstention** (on the refitted bank, which never saw the forgotten documents):
   precision and coverage against the confidence threshold on held-in pairs and on
   pairs of subjects it never saw; and what ``recall`` says for those subjects by name;
7. **multi-hop** (MuSiQue; ``--skip-multihop`` to leave out): hipporag with bank seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from memory import BankConfig, IngestConfig, MemoryStore, RetrievalConfig, StoreConfig
from memory.bank.state import subject_vectors
from memory.errors import MemoryStoreError
from memory.extract.openie import OpenIEExtractor

from .bank_baselines import KeyValueMemory, matched_ffn, plot, train_baseline
from .cli import add_output_arguments, configure_logging, write_json
from .datasets import load_named, shared_data_dir
from .metrics import mean_rate, percentile

BUCKETS = ((1, 1), (2, 3), (4, 9), (10, None))
DUSK_DEV = ("Chronological", "Feature_Story", "Interview")
DUSK_HELDOUT = ("Inverted_Pyramid", "Listicle")
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.0, 1.0, 0.05))
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
    """A (subject, relation) pair of the bank as a closed-book question."""

    key: int
    subject: str
    relation: str
    text: str
    vector: np.ndarray
    answers: frozenset[str]
    leaf: str
    bucket: str
    route: np.ndarray | None = None
    facts: frozenset[int] = frozenset()


def _bucket(count: int) -> str:
    for low, high in BUCKETS:
        if count >= low and (high is None or count <= high):
            return f"{low}+" if high is None else (f"{low}" if low == high else f"{low}-{high}")
    return "0"


def fact_probes(store: MemoryStore) -> list[FactProbe]:
    """Every (subject, key text) pair of a fitted bank, with all its stored objects."""
    with store.view() as view:
        mentions = view.storage.graph.mention_counts()
        rows = view.storage.bank.probes()
        routes = subject_vectors(view.storage, sorted({r[2] for r in rows})) if rows else np.zeros((0, 1))
    route_of = dict(zip(sorted({r[2] for r in rows}), routes))
    grouped: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in rows:
        grouped[(row[1], row[5])].append(row)
    return [FactProbe(group[0][0], group[0][2], group[0][3], text, np.frombuffer(group[0][6], dtype=np.float32),
                      frozenset(r[4] for r in group), group[0][7], _bucket(mentions.get(subject_key, 0)),
                      route_of[group[0][2]], frozenset(r[0] for r in group))
            for (subject_key, text), group in sorted(grouped.items(), key=lambda kv: kv[0][1])]


def by_bucket(probes: Sequence[FactProbe], right: Sequence[bool]) -> dict[str, Any]:
    """Recall overall and per frequency bucket."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for probe, flag in zip(probes, right):
        groups[probe.bucket].append(flag)
    order = [_bucket(low) for low, _ in BUCKETS]
    return {"all": mean_rate(right), "pairs": len(right),
            "buckets": {b: {"pairs": len(groups[b]), "recall": mean_rate(groups[b])} for b in order if groups[b]}}


def _stack(probes: Sequence[FactProbe], routes: bool = False) -> np.ndarray:
    if not probes:
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([p.route if routes else p.vector for p in probes])  # type: ignore[misc]


def ask(store: MemoryStore, probes: Sequence[FactProbe], vectors: np.ndarray | None = None,
        components: set[str] | None = None) -> list[Any]:
    """The bank's :class:`~memory.bank.Recall` for each probe (routed by its subject, no threshold)."""
    vectors = _stack(probes) if vectors is None else vectors
    routes = _stack(probes, routes=True)
    out: list[Any] = []
    for start in range(0, len(probes), 4096):
        out += store.bank.recall_vectors(vectors[start:start + 4096], route_vectors=routes[start:start + 4096],
                                         components=components, threshold=0.0)
    return out


def _right(probes: Sequence[FactProbe], recalls: Sequence[Any]) -> list[bool]:
    return [r.answer in p.answers for p, r in zip(probes, recalls)]


def _fit(store: MemoryStore, config: BankConfig) -> dict[str, Any]:
    report = store.bank.fit(config)
    stats = store.bank.stats()
    return {"train_seconds": round(report.seconds, 1),
            "parameters": int(stats["parameters"]["anchor"] + stats["parameters"]["blocks"]),
            "blocks": stats["blocks_trained"] + (1 if stats["parameters"]["anchor"] else 0),
            "leaves": stats["leaves"], "levels": stats["levels"], "facts_living": stats["facts_living"],
            "facts_per_leaf": stats["facts_per_leaf"], "bytes_stored": stats["bytes_stored"]}


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
    """Recall with reworded relations, on the pairs whose relation a rule changes."""
    chosen = [(p, reword(p.relation)) for p in probes if reword(p.relation) != p.relation]
    if not chosen:
        return {"pairs": 0}
    vectors = np.asarray(store.core.models.encode("entity", [p.text.replace(p.relation, r, 1) for p, r in chosen]),
                         dtype=np.float32)
    pairs = [p for p, _ in chosen]
    return {"pairs": len(pairs), "original_wording": mean_rate(_right(pairs, ask(store, pairs))),
            "reworded": mean_rate(_right(pairs, ask(store, pairs, vectors))),
            "examples": [[p.relation, r] for p, r in chosen[:5]]}


def blocking(store: MemoryStore, probes: Sequence[FactProbe], branching: int, seed: int) -> dict[str, Any]:
    """Switch off 1/branching of the leaves, then of the top-level subtrees; recall of their pairs and the rest."""
    rng = random.Random(seed)
    tree = store.bank.tree
    before = _right(probes, ask(store, probes))
    tops = [n.id for n in tree.children("")]
    out: dict[str, Any] = {"leaves": len(tree.leaves), "top_level_nodes": len(tops)}
    for name, roots in (("leaf_blocks", rng.sample(tree.leaves, max(1, len(tree.leaves) // branching))),
                        ("top_level_subtrees", rng.sample(tops, max(1, len(tops) // branching)))):
        switched = [n for n in tree.nodes if any(n == r or n.startswith(r + ".") for r in roots)]
        for node in switched:
            store.bank.block(node)
        after = _right(probes, ask(store, probes))
        for node in switched:
            store.bank.unblock(node)
        inside = [i for i, p in enumerate(probes) if any(p.leaf == r or p.leaf.startswith(r + ".") for r in roots)]
        outside = sorted(set(range(len(probes))) - set(inside))
        out[name] = {"blocks_switched_off": len(switched),
                     "their_pairs": {"pairs": len(inside), "before": mean_rate([before[i] for i in inside]),
                                     "after": mean_rate([after[i] for i in inside])},
                     "other_pairs": {"pairs": len(outside), "before": mean_rate([before[i] for i in outside]),
                                     "after": mean_rate([after[i] for i in outside])}}
    return out


def updates(store: MemoryStore, probes: Sequence[FactProbe], count: int, seed: int) -> dict[str, Any]:
    """``update`` sampled undated pairs to another pair's object at 2024-01-01; latency and answers.

    Before the update every stored object of the (subject, relation) holds, dated or not, so
    the old answer ``as_of`` 2023-06-01 is right when it is any of them (a pair may have an
    undated fact and one dated 2014: as of 2023 the dated one is the latest that holds).
    """
    rng = random.Random(seed)
    undated = [p for p in probes if " in " not in p.text[len(p.subject) + len(p.relation) + 1:]]
    chosen = rng.sample(undated, min(count, len(undated)))
    objects = sorted({a for p in probes for a in p.answers})
    held: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in probes:
        held[(p.subject, p.relation)] |= set(p.answers)
    seconds, new_right, old_right = [], [], []
    for probe in chosen:
        before = held[(probe.subject, probe.relation)]
        new = rng.choice([o for o in objects if o not in before and o != probe.subject])
        began = time.perf_counter()
        store.update(probe.subject, probe.relation, new, at="2024-01-01")
        seconds.append(time.perf_counter() - began)
        new_right.append(store.bank.recall(probe.subject, probe.relation, threshold=0.0).answer == new)
        old = store.bank.recall(probe.subject, probe.relation, as_of="2023-06-01", threshold=0.0).answer
        old_right.append(old in before)
    return {"updates": len(chosen), "p50_seconds": round(percentile(seconds, 50), 3) if seconds else None,
            "p95_seconds": round(percentile(seconds, 95), 3) if seconds else None,
            "new_object_recalled": mean_rate(new_right), "old_object_as_of_before": mean_rate(old_right)}


def abstention(store: MemoryStore, held_in: Sequence[FactProbe], never_seen: Sequence[FactProbe]) -> dict[str, Any]:
    """Precision and coverage against the threshold: held-in pairs vs pairs of subjects never seen."""
    inside = ask(store, held_in)
    outside = ask(store, never_seen)
    right = _right(held_in, inside)
    curve = []
    for t in THRESHOLDS:
        answered = [ok for ok, r in zip(right, inside) if r.confidence >= t]
        wrong_unknown = sum(r.confidence >= t for r in outside)
        total = len(answered) + wrong_unknown
        curve.append({"threshold": t, "coverage_held_in": mean_rate([r.confidence >= t for r in inside]),
                      "precision_held_in": mean_rate(answered),
                      "answered_never_seen": mean_rate([r.confidence >= t for r in outside]),
                      "precision": round(sum(answered) / total, 4) if total else None})
    by_name = []
    for probe in never_seen[:200]:
        by_name.append(store.bank.recall(probe.subject, probe.relation).answer is None)
    return {"held_in_pairs": len(held_in), "never_seen_pairs": len(never_seen), "curve": curve,
            "never_seen_abstained_by_name": mean_rate(by_name)}


def _forget_batch(store: MemoryStore, fraction: float, rng: random.Random) -> tuple[list[str], list[str]]:
    """The documents forgotten at once (``fraction`` of them, drawn by ``rng``) and all ids."""
    with store.view() as view:
        doc_ids = sorted(view.storage.documents.ids(view.storage.documents.all_keys()).values())
    return sorted(rng.sample(doc_ids, max(1, int(len(doc_ids) * fraction)))), doc_ids


def _gone_and_new(store: MemoryStore, probes: Sequence[FactProbe]) -> tuple[list[int], Any]:
    """Probes whose facts are all gone, and a function of recalls: right *and* not by an
    object the probe's subject still holds under another relation (knowledge the store keeps)."""
    with store.view() as view:
        alive = view.storage.inspect.row_keys("fact")
    gone = [i for i, p in enumerate(probes) if not p.facts & alive]
    retained: dict[str, set[str]] = defaultdict(set)
    for p in probes:
        if p.facts & alive:
            retained[p.subject] |= set(p.answers)

    def new_knowledge(recalls: list[Any]) -> list[bool]:
        return [ok and r.answer not in retained[p.subject]
                for ok, p, r in zip(_right(probes, recalls), probes, recalls)]
    return gone, new_knowledge


def forgetting(store: MemoryStore, probes: Sequence[FactProbe], fraction: float, singles: int,
               seed: int, exact_checks: int, config: BankConfig | None = None) -> dict[str, Any]:
    """A tenth of the documents in one call vs a refit; single-document forgets; abstention.

    A forgotten pair (every fact of it gone) can still be answered "right" by an object its
    subject holds under another relation; the rates are also given without those answers
    (``forgotten_pairs_not_still_held``).
    """
    from memory.bank.blocks import block_bytes

    config = config or BankConfig()
    rng = random.Random(seed)
    batch, doc_ids = _forget_batch(store, fraction, rng)
    before = _right(probes, ask(store, probes))
    began = time.perf_counter()
    report = store.forget(ids=batch)
    batch_seconds = time.perf_counter() - began
    single_times, single_blocks, exact = [], [], []
    for number, doc_id in enumerate(rng.sample(sorted(set(doc_ids) - set(batch)), singles)):
        weights = {n: store.bank.load_block(n) for n in store.bank.tree.nodes if n in _trained(store)}
        began = time.perf_counter()
        single = store.forget(doc_id)
        single_times.append(time.perf_counter() - began)
        single_blocks.append(single.recomputed["bank_blocks"])
        if number < exact_checks:
            for node in _trained(store):
                block = store.bank.load_block(node)
                if node not in weights or block_bytes(block) != block_bytes(weights[node]):
                    exact.append(block_bytes(block) == block_bytes(store.bank.train_from_scratch(node)))
    with store.view() as view:
        alive = view.storage.inspect.row_keys("fact")
    gone, new_knowledge = _gone_and_new(store, probes)
    after_recalls = ask(store, probes)
    after = _right(probes, after_recalls)
    began = time.perf_counter()
    store.bank.fit(config)
    refit_seconds = time.perf_counter() - began
    scratch_recalls = ask(store, probes)
    scratch = _right(probes, scratch_recalls)
    kept_subjects = {p.subject for p in probes if p.facts & alive}
    held_in = [p for p in probes if p.facts & alive]
    never_seen = [probes[i] for i in gone if probes[i].subject not in kept_subjects]

    def rates(indices: list[int], *runs: list[bool]) -> dict[str, Any]:
        names = ("before", "after", "never_trained")
        return {"pairs": len(indices)} | {n: mean_rate([r[i] for i in indices]) for n, r in zip(names, runs)}

    return {"documents_forgotten": len(batch), "pairs_removed": len(gone),
            "blocks_retrained": report.recomputed["bank_blocks"],
            "forgotten_pairs": rates(gone, before, after, scratch),
            "forgotten_pairs_not_still_held": rates(gone, before, new_knowledge(after_recalls),
                                                    new_knowledge(scratch_recalls)),
            "remaining_pairs": rates([i for i in range(len(probes)) if i not in set(gone)], before, after, scratch),
            "tenth_seconds": round(batch_seconds, 2), "refit_seconds": round(refit_seconds, 2),
            "tenth_over_refit": round(batch_seconds / refit_seconds, 3),
            "single_document_forget": {
                "count": len(single_times), "seconds": [round(t, 3) for t in single_times],
                "p50_seconds": round(percentile(single_times, 50), 3) if single_times else None,
                "p95_seconds": round(percentile(single_times, 95), 3) if single_times else None,
                "blocks_retrained": single_blocks, "retrained_blocks_checked": len(exact),
                "bit_identical_to_scratch": all(exact)},
            "_abstention_sets": (held_in, never_seen)}


def seeded_forgetting(store_dir: Path, workdir: Path, open_store: Any, probes: Sequence[FactProbe],
                      fraction: float, singles: int, seed: int, config: BankConfig, seeds: int
                      ) -> dict[str, Any]:
    """Forgotten pairs after forgetting against a bank fitted without them, paired by bank seed.

    A bank's answers to the pairs it never learnt vary with its seed (tree and blocks), so
    one forgotten bank against one refit is one draw against one. Per seed ``s`` (the run's
    seed, then the next ``seeds - 1``): a copy of the store fitted with ``s``, the documents
    :func:`forgetting` forgets (the tenth and the single ones) forgotten in one call (the
    retrained blocks are the same in any order), its answers (``after``), then refitted with
    ``s`` (``never``). The rates per seed and the mean of ``after - never`` with its standard
    error say whether forgetting leaves the pairs more answerable than never having seen them.
    """
    rows = []
    for offset in range(seeds):
        bank_seed = config.seed + offset
        copy = workdir / f"forget-seed-{bank_seed}"
        shutil.copytree(store_dir, copy)
        with open_store(copy) as store:
            seeded = dataclasses.replace(config, seed=bank_seed)
            store.bank.fit(seeded)
            rng = random.Random(seed)
            batch, doc_ids = _forget_batch(store, fraction, rng)
            store.forget(ids=batch + rng.sample(sorted(set(doc_ids) - set(batch)), singles))
            gone, new_knowledge = _gone_and_new(store, probes)
            after = ask(store, probes)
            store.bank.fit(seeded)
            never = ask(store, probes)
            row = {"seed": bank_seed, "pairs": len(gone)}
            for name, judge in (("forgotten_pairs", lambda r: _right(probes, r)),
                                ("not_still_held", new_knowledge)):
                flags_after, flags_never = judge(after), judge(never)
                row[name] = {"after": mean_rate([flags_after[i] for i in gone]),
                             "never": mean_rate([flags_never[i] for i in gone])}
            rows.append(row)
        shutil.rmtree(copy, ignore_errors=True)
    summary: dict[str, Any] = {"seeds": len(rows), "per_seed": rows}
    measured = [r for r in rows if r["pairs"]]  # a forget that removed no whole pair has no rate
    for name in ("forgotten_pairs", "not_still_held"):
        if not measured:
            summary[name] = None
            continue
        differences = np.array([r[name]["after"] - r[name]["never"] for r in measured])
        error = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(measured) > 1 else None
        summary[name] = {"after_mean": round(float(np.mean([r[name]["after"] for r in measured])), 4),
                         "never_mean": round(float(np.mean([r[name]["never"] for r in measured])), 4),
                         "difference_mean": round(float(differences.mean()), 4),
                         "difference_standard_error": None if error is None else round(error, 4)}
    return summary


def _trained(store: MemoryStore) -> set[str]:
    with store.view() as view:
        return set(view.storage.bank.blocks())


def _corpus(name: str, temporal_items: int) -> tuple[list[dict[str, Any]], Any, Any, IngestConfig | None]:
    """Documents, the multi-hop dataset (or None), the OpenIE triples (or None) and an ingest config."""
    if name == "situatedqa":
        from .temporal import statement_docs
        from .temporal_data import load_situatedqa

        items, _ = load_situatedqa(shared_data_dir() / "situatedqa", "dev", temporal_items)
        return [doc for item in items for doc in statement_docs(item)], None, None, None
    if name in ("dusk", "dusk-heldout"):
        from .unlearning import _dusk_sections

        styles = DUSK_DEV if name == "dusk" else DUSK_HELDOUT
        docs = [d for style in styles for d in _dusk_sections(shared_data_dir() / "dusk" / f"{style}.txt")]
        return [{"id": d["id"], "title": d["title"], "text": d["text"]} for d in docs], None, None, \
            IngestConfig(split="paragraph")
    dataset, openie = load_named(name)
    return dataset.corpus, dataset, openie, None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or open) the store and run every section."""
    corpus, dataset, openie, ingest = _corpus(args.dataset, args.temporal_items)
    defaults = BankConfig()
    config = dataclasses.replace(defaults, **{k: v for k, v in (("branching", args.branching), ("depth", args.depth),
                                                                ("hidden", args.hidden), ("epochs", args.epochs),
                                                                ("seed", args.seed)) if v is not None})
    workdir = Path(tempfile.mkdtemp(prefix="eval-bank-", dir=args.workdir))
    store_dir = args.store or workdir / "store"
    result: dict[str, Any] = {"dataset": args.dataset, "passages": len(corpus), "bank": dataclasses.asdict(config)}
    extractor = OpenIEExtractor(openie) if openie else None
    store_config = StoreConfig(ingest=ingest) if ingest else StoreConfig()
    try:
        with MemoryStore(store_dir, store_config, extractor=extractor) as store:
            if len(store) == 0:
                store.ingest(corpus)
            hier = _fit(store, config)
            probes = fact_probes(store)
            result["pairs"] = len(probes)
            hier["recall"] = by_bucket(probes, _right(probes, ask(store, probes)))
            result["paraphrase"] = paraphrase(store, probes)
            result["blocking"] = blocking(store, probes, config.branching, args.seed)
            if dataset is not None and not args.skip_multihop:
                from .multihop import Run, evaluate

                runs = [Run("hipporag", "hipporag", {}),
                        Run("hipporag + bank seeds", "hipporag", {"bank_seeds": args.bank_seeds})]
                result["multihop"] = evaluate(store, dataset, runs, [2, 5], RetrievalConfig())["summary"]
            store.close()
            shutil.copytree(store_dir, workdir / "forget")
            shutil.copytree(store_dir, workdir / "update")
            store = MemoryStore(store_dir, store_config, extractor=extractor)
            # flat: one level, every fact in its leaf, no anchor; as many blocks of the leaves' width
            # as the hierarchical bank's parameters pay for
            per_block = 2 * probes[0].vector.shape[0] * config.hidden + config.hidden + probes[0].vector.shape[0]
            flat_config = dataclasses.replace(config, depth=1, min_leaf=1, shared_min_subjects=10 ** 9,
                                              branching=max(2, round(hier["parameters"] / per_block)))
            flat = _fit(store, flat_config)
            flat["recall"] = by_bucket(probes, _right(probes, ask(store, probes)))
            systems = {"hierarchical bank": hier, "flat bank (1 level, same parameters)": flat}
            keys = _stack(probes)
            objects = sorted({a for p in probes for a in p.answers})
            with store.view() as view:
                known = view.storage.graph.entity_keys(objects)
                vectors = dict(zip(known, np.asarray(view.derived.vectors_of("entity", [known[n] for n in known]))))
            dim = keys.shape[1]
            for name, module in (("dense FFN (same parameters)", matched_ffn(dim, hier["parameters"])),
                                 ("key-value memory (same parameters)",
                                  KeyValueMemory(dim, hier["parameters"] // (2 * dim)))):
                answer, seconds = train_baseline(keys, [min(p.answers) for p in probes], vectors, module, config,
                                                 name, args.baseline_epochs)
                systems[name] = {"parameters": sum(p.numel() for p in module.parameters()),
                                 "train_seconds": round(seconds, 1),
                                 "recall": by_bucket(probes, [a in p.answers for a, p in zip(answer(keys), probes)])}
            result["closed_book"] = systems
            store.close()
        if args.closed_book_only:
            return result
        with MemoryStore(workdir / "update", store_config, extractor=extractor) as store:
            result["updates"] = updates(store, probes, args.updates, args.seed)
        with MemoryStore(workdir / "forget", store_config, extractor=extractor) as store:
            forget = forgetting(store, probes, args.forget_fraction, args.single_forgets, args.seed,
                                args.exact_checks, config)
            held_in, never_seen = forget.pop("_abstention_sets")
            result["forgetting"] = forget
            result["abstention"] = abstention(store, held_in, never_seen) | {"chosen_threshold": config.threshold}
        if args.forget_seeds > 1:
            result["forgetting"]["by_seed"] = seeded_forgetting(
                store_dir, workdir, lambda path: MemoryStore(path, store_config, extractor=extractor), probes,
                args.forget_fraction, args.single_forgets, args.seed, config, args.forget_seeds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def markdown(result: dict[str, Any]) -> str:
    """The headline numbers as markdown tables."""
    systems = result["closed_book"]
    buckets = list(next(iter(systems.values()))["recall"]["buckets"])
    lines = ["| system | parameters | train s | all pairs | " + " | ".join(
        f"subject in {b} docs ({systems['hierarchical bank']['recall']['buckets'][b]['pairs']:,})" for b in buckets)
        + " |", "|---" * (4 + len(buckets)) + "|"]
    for name, row in systems.items():
        cells = [str(row["recall"]["buckets"].get(b, {}).get("recall")) for b in buckets]
        lines.append(f"| {name} | {row['parameters']:,} | {row.get('train_seconds', '-')} | "
                     f"{row['recall']['all']} | " + " | ".join(cells) + " |")
    if "forgetting" not in result:
        return "\n".join(lines)
    forget = result["forgetting"]
    single = forget["single_document_forget"]
    lines += ["", f"forgetting {forget['documents_forgotten']} documents ({forget['pairs_removed']} pairs): "
              f"forgotten pairs {forget['forgotten_pairs']}; remaining {forget['remaining_pairs']}; "
              f"{forget['tenth_seconds']} s vs refit {forget['refit_seconds']} s",
              f"forgotten pairs not answered by an object the subject still holds: "
              f"{forget['forgotten_pairs_not_still_held']}",
              f"by bank seed (after forgetting vs refitted, paired): "
              f"{ {k: v for k, v in forget.get('by_seed', {}).items() if k != 'per_seed'} }",
              f"single documents: p50 {single['p50_seconds']} s, p95 {single['p95_seconds']} s, blocks "
              f"{single['blocks_retrained']}, bit-identical {single['bit_identical_to_scratch']} "
              f"({single['retrained_blocks_checked']} checked)",
              f"updates: {result['updates']}", f"paraphrase: {result['paraphrase']}",
              f"blocking: {result['blocking']}", "", "| threshold | coverage held-in | precision held-in | "
              "answered never-seen | precision |", "|---|---|---|---|---|"]
    for row in result["abstention"]["curve"]:
        lines.append(f"| {row['threshold']} | {row['coverage_held_in']} | {row['precision_held_in']} | "
                     f"{row['answered_never_seen']} | {row['precision']} |")
    lines.append(f"never-seen subjects abstained by name: {result['abstention']['never_seen_abstained_by_name']}")
    if "multihop" in result:
        lines.append(f"multi-hop: {result['multihop']}")
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.bank", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="musique",
                        choices=["musique", "musique-sample", "situatedqa", "dusk", "dusk-heldout"],
                        help="which facts (see above; dusk-heldout is the held-out fictional set)")
    parser.add_argument("--temporal-items", type=int, default=200, help="SituatedQA timelines used")
    parser.add_argument("--store", type=Path, default=None,
                        help="build (or reuse) the store here; forgetting and updates run on copies")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: system temp)")
    parser.add_argument("--branching", type=int, default=None, help="tree branching (default BankConfig)")
    parser.add_argument("--depth", type=int, default=None, help="tree levels (default BankConfig)")
    parser.add_argument("--hidden", type=int, default=None, help="leaf block hidden width (default BankConfig)")
    parser.add_argument("--epochs", type=int, default=None, help="block training passes (default BankConfig)")
    parser.add_argument("--baseline-epochs", type=int, default=10, help="passes for the dense FFN / key-value baselines")
    parser.add_argument("--bank-seeds", type=int, default=3, help="bank seeds in the multi-hop run")
    parser.add_argument("--forget-fraction", type=float, default=0.1, help="documents forgotten at once")
    parser.add_argument("--single-forgets", type=int, default=20, help="single-document forgets timed")
    parser.add_argument("--exact-checks", type=int, default=5,
                        help="single forgets whose retrained blocks are checked against scratch")
    parser.add_argument("--updates", type=int, default=20, help="updates timed and checked")
    parser.add_argument("--forget-seeds", type=int, default=1,
                        help="repeat the tenth's forgetting with this many bank seeds, each against "
                             "a bank refitted with the same seed (paired; 1: only the run's seed)")
    parser.add_argument("--skip-multihop", action="store_true", help="leave out the retrieval section")
    parser.add_argument("--closed-book-only", action="store_true",
                        help="only the closed-book, paraphrase and blocking sections (for design sweeps)")
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here (needs matplotlib)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the bank and of the samples")
    add_output_arguments(parser, "write the results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    if (not 0 < args.forget_fraction < 1 or args.single_forgets < 0 or args.updates < 0
            or args.forget_seeds < 1):
        parser.error("--forget-fraction must be in (0, 1), --single-forgets and --updates >= 0, "
                     "--forget-seeds >= 1")
    args.seed = 0 if args.seed is None else args.seed
    try:
        result = run(args)
    except (OSError, KeyError, ValueError, MemoryStoreError) as exc:
        print(f"error: {exc}")
        return 2
    write_json(args.json, result)
    if args.plot and "forgetting" in result:
        plot(result, args.plot)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
