"""The bank's state in the store: fitting, following writes, retraining what changed.

Every node of the routing tree (and the anchor) has a *version*, bumped in the
same transaction as any write that changes the node's training facts, and each
stored block records the version it was trained at. A block is used only while
the two agree, so a fact forgotten by a write is out of every answer the moment
the write commits, before any retraining. Retraining happens after the commit,
outside the write lock: it reads a node's facts and version, trains, and stores
the block only if the version is still the same (another write in between means
a later retraining will do it). Fitting trains every block before it commits
anything, then replaces the bank in one transaction. A crash at any point leaves
a bank that is before or after, with at most some blocks masked until retrained;
a read never trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..config import BankConfig
from ..errors import BankNotFittedError, InvalidQueryError
from ..progress import progress as bar
from ..storage import Storage
from .members import (DEFER, Example, Member, current_examples, examples_by_node, training_digest, training_set,
                      vocabulary)
from .tree import ANCHOR, RoutingTree, TreeNode, fit_tree, key_text

if TYPE_CHECKING:
    from ..core import ReadView, StoreCore
    from ..indexing import WriteReport
    from .blocks import TrainingSet

__all__ = ["CONFIG_KEY", "LAYOUT", "FitReport", "bank_config", "load_tree", "record_write", "retrain_stale", "fit",
           "node_examples", "changed_nodes"]

logger = logging.getLogger(__name__)

CONFIG_KEY = "bank_config"
#: Marks a bank fitted with subject routing and shared/long-tail homes (older banks must be refitted).
LAYOUT_KEY = "bank_layout"
LAYOUT = "subject-routed-homes-1"


@dataclass(frozen=True)
class FitReport:
    """What a fit or a retraining did: facts routed, blocks trained and removed, seconds."""

    routed: int
    retrained: tuple[str, ...]
    removed: tuple[str, ...]
    seconds: float


def bank_config(storage: Storage) -> BankConfig:
    """The configuration the bank was fitted with.

    Raises
    ------
    BankNotFittedError
        When the bank is not fitted, or was fitted by an incompatible version.
    """
    stored = storage.meta.get(CONFIG_KEY)
    if stored is None:
        raise BankNotFittedError("the memory bank is not fitted: run store.bank.fit() first")
    if storage.meta.get(LAYOUT_KEY) != LAYOUT:
        raise BankNotFittedError("the memory bank was fitted by an older version (keys routed, not subjects); "
                                 "run store.bank.fit() again")
    try:
        values = json.loads(stored)
        known = {f.name for f in dataclasses.fields(BankConfig)}
        if not isinstance(values, dict) or set(values) - known:
            raise ValueError("unknown options")
        return BankConfig(**values)
    except (ValueError, TypeError) as exc:
        raise BankNotFittedError(f"the memory bank's saved configuration is unreadable ({exc}); "
                                 "run store.bank.fit() again") from None


def load_tree(storage: Storage) -> RoutingTree:
    """The fitted routing tree (without the anchor)."""
    return RoutingTree([TreeNode(n, p, lvl, np.frombuffer(c, dtype=np.float32).copy())
                        for n, p, lvl, c, _, _ in storage.bank.nodes() if n != ANCHOR])


def node_examples(storage: Storage, node: str, config: BankConfig) -> list[Example]:
    """The training examples of ``node``'s block, in canonical order (empty: no block)."""
    tree = load_tree(storage)
    if node != ANCHOR and node not in tree.nodes:
        raise InvalidQueryError(f"no bank node {node!r} (nodes look like '0', '0.3', '0.3.1')")
    return current_examples(storage, tree, config).get(node, [])


def _train(node: str, data: "TrainingSet", config: BankConfig, tree: RoutingTree | None = None) -> tuple[str, bytes]:
    from .blocks import block_bytes, node_seed, train_block

    hidden = (config.anchor_hidden if node == ANCHOR else
              config.hidden if tree is None or not tree.children(node) else config.upper_hidden)
    block = train_block(data, hidden, node_seed(config.seed, node), config.epochs, config.learning_rate,
                        config.temperature, config.batch_size, config.negatives, min_steps=config.min_steps)
    payload = block_bytes(block)  # type: ignore[arg-type]
    return hashlib.sha256(payload).hexdigest(), payload


def _order(node: str) -> tuple[bool, int, str]:
    return (node != ANCHOR, node.count("."), node)


# -- following writes -----------------------------------------------------------------------------

def _route(storage: Storage, tree: RoutingTree, keys: list[int] | None,
           encode: Callable[[list[str]], np.ndarray]) -> None:
    """Route facts without a route (all, or among ``keys``) by their subject's embedding."""
    new = storage.bank.unrouted(keys)
    if not new:
        return
    texts = [key_text(subject, relation, valid_from[:4] if valid_from else None)
             for _, subject, relation, valid_from in new]
    vectors = np.asarray(encode(texts), dtype=np.float32)
    leaves = tree.route(subject_vectors(storage, [subject for _, subject, _, _ in new]))
    storage.bank.add_routes((key, leaf, text, vector.tobytes())
                            for (key, *_), leaf, text, vector in zip(new, leaves, texts, vectors))


def subject_vectors(storage: Storage, names: list[str]) -> np.ndarray:
    """The stored embeddings of the subjects named (what facts are routed by)."""
    keys = storage.graph.entity_keys(names)
    found, vectors = storage.vectors.get("entity", sorted(set(keys.values())))
    by_key = {int(k): v for k, v in zip(found, np.asarray(vectors, dtype=np.float32))}
    return np.stack([by_key[keys[n]] for n in names])


def changed_nodes(storage: Storage, config: BankConfig) -> set[str]:
    """Nodes whose training examples differ from those their stored block was trained on
    (or that gained or lost every fact living in them)."""
    tree = load_tree(storage)
    examples = current_examples(storage, tree, config, fresh=True)
    blocks = storage.bank.blocks()
    changed = {node for node in blocks if node not in examples}
    changed |= {node for node, rows in examples.items()
                if node not in blocks or blocks[node][3] != training_digest(node, rows, config)}
    return changed


def record_write(storage: Storage, report: "WriteReport", encode_keys: Callable[[list[str]], np.ndarray]) -> set[str]:
    """Inside a write: route its new facts, bump the versions of the nodes whose examples changed.

    Exact: a node is bumped iff its training examples now differ from its stored block's
    (so the forgotten or rewritten facts' blocks are masked from this commit on, and no
    other block is). Costs one pass over the routed facts.
    """
    if not (report.new_facts or report.removed_facts):
        return set()
    if storage.meta.get(LAYOUT_KEY) != LAYOUT:  # fitted by an older version: unusable, and must not keep
        storage.bank.clear()                    # what this write removes
        return set()
    config = bank_config(storage)
    tree = load_tree(storage)
    if report.new_facts:
        _route(storage, tree, sorted(report.new_facts), encode_keys)
    existing = set(storage.bank.versions())
    affected = changed_nodes(storage, config) & existing
    storage.bank.bump_versions(affected)
    return affected


def retrain_stale(core: "StoreCore", progress: bool = False) -> int:
    """Retrain every block whose node's version moved; returns how many blocks changed.

    The examples and versions are read in one view; each block is trained outside any
    lock and stored only if its node's version is unchanged (compare-and-set: a write in
    between bumped it, and its own retraining does the work).
    """
    storage = core.storage
    with core.view() as view:
        config = bank_config(storage)
        versions = storage.bank.versions()
        blocks = storage.bank.blocks()
        if all(n in blocks and blocks[n][1] == v for n, v in versions.items() if n in blocks) and \
                all(v <= 1 for n, v in versions.items() if n not in blocks):
            return 0
        tree = load_tree(storage)
        examples = current_examples(storage, tree, config)
        stale = [n for n, v in versions.items() if (n in blocks and blocks[n][1] != v)
                 or (n not in blocks and n in examples)]
        jobs = {}
        for node in stale:
            rows = examples.get(node, [])
            digest = training_digest(node, rows, config) if rows else ""
            reuse = node in blocks and blocks[node][3] == digest
            jobs[node] = (rows, digest, reuse, training_set(view, rows) if rows and not reuse else None)
    changed = 0
    for node in bar(sorted(jobs, key=_order), desc="retrain bank blocks", unit="block",
                    minimum=1 if progress else 8):
        rows, digest, reuse, data = jobs[node]
        weights, payload = (blocks[node][0], None) if reuse else ("", None)
        if data is not None:
            weights, payload = _train(node, data, config, tree)
        with storage.write():
            if storage.bank.version(node) != versions[node]:
                continue  # its facts changed meanwhile: the write that changed them retrains it
            if not rows:
                storage.bank.delete_block(node)
            else:
                storage.bank.store_block(node, weights, payload, versions[node], len(rows), digest)
            storage.bank.delete_unreferenced_weights()
        changed += 0 if reuse else 1
    return changed


# -- fitting --------------------------------------------------------------------------------------

def fit(core: "StoreCore", config: BankConfig) -> FitReport:
    """Fit the routing tree on the current facts' subjects and train every block, then commit at once."""
    started = time.perf_counter()
    storage = core.storage
    with core.view() as view:
        rows = storage.bank.facts_for_fit()
        if not rows:
            raise BankNotFittedError("the store has no facts to learn")
        subjects = view.storage.graph.entity_keys({s for _, s, _, _, _, _ in rows})
        objects = view.storage.graph.entity_keys({o for _, _, _, _, o, _ in rows})
        routes = subject_vectors(storage, [s for _, s, _, _, _, _ in rows])
    texts = [key_text(s, r, vf[:4] if vf else None) for _, s, r, vf, _, _ in rows]
    vectors = np.asarray(core.models.encode("entity", texts), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: (texts[i], rows[i][4]))  # canonical: by content
    tree = fit_tree(routes[order], config.branching, config.depth, config.min_leaf, config.seed)
    leaves = tree.route(routes)
    members = [Member(key, subjects[s], r, objects[o], o, text, leaf, vf)
               for (key, s, r, vf, o, _), text, leaf in zip(rows, texts, leaves)]
    vector_of = {m.key: v for m, v in zip(members, vectors)}
    examples = examples_by_node(tree, members, config)
    with core.view() as view:
        sets = {node: _training_set_from(view, rows_, vector_of) for node, rows_ in examples.items()}
    trained = {}
    for node in bar(sorted(sets, key=_order), desc="train bank blocks", unit="block", minimum=8):
        trained[node] = (*_train(node, sets[node], config, tree), len(examples[node]),
                         training_digest(node, examples[node], config))
    with storage.write():
        storage.bank.replace_tree([(ANCHOR, "", 0, b"")] + [(n.id, n.parent, n.level, n.centroid.tobytes())
                                                           for n in tree.nodes.values()])
        now = {key for key, *_ in storage.bank.facts_for_fit()}
        storage.bank.add_routes((m.key, m.leaf, m.text, vector_of[m.key].tobytes()) for m in members if m.key in now)
        for node, (weights, payload, count, digest) in trained.items():
            storage.bank.store_block(node, weights, payload, 1, count, digest)
        storage.meta.set(CONFIG_KEY, json.dumps(dataclasses.asdict(config), sort_keys=True))
        storage.meta.set(LAYOUT_KEY, LAYOUT)
        # writes that committed while the blocks trained: route their facts, mask what they changed
        _route(storage, tree, None, lambda t: np.asarray(core.models.encode("entity", t), dtype=np.float32))
        storage.bank.bump_versions(changed_nodes(storage, config))
        storage.bank.delete_unreferenced_weights()
    retrain_stale(core)
    return FitReport(len(members), tuple(sorted(trained)), (), time.perf_counter() - started)


def _training_set_from(view: "ReadView", examples: list[Example], key_vectors: dict[int, np.ndarray]) -> "TrainingSet":
    from .blocks import TrainingSet, defer_vector

    answers = vocabulary(examples)
    names = [a for a in answers if a != DEFER]
    keys_by_name = view.storage.graph.entity_keys(names)
    keys = np.stack([key_vectors[e.member.key] for e in examples])
    candidates = np.asarray(view.derived.vectors_of("entity", [keys_by_name[n] for n in names]),
                            dtype=np.float32).reshape(len(names), keys.shape[1])
    if DEFER in answers:
        candidates = np.vstack([candidates, defer_vector(keys.shape[1])[None]])
    index = {name: i for i, name in enumerate(answers)}
    return TrainingSet(keys, np.array([index[e.answer] for e in examples]), candidates)
