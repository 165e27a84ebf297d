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
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..config import BankConfig
from ..errors import BankNotFittedError, InvalidQueryError
from ..progress import progress as bar
from ..storage import Storage
from .tree import ANCHOR, RoutingTree, TreeNode, fit_tree, key_text

if TYPE_CHECKING:
    from ..core import ReadView, StoreCore
    from ..indexing import WriteReport
    from .blocks import TrainingSet

__all__ = ["CONFIG_KEY", "FitReport", "bank_config", "load_tree", "record_write", "retrain_stale", "fit",
           "members", "training_digest", "training_set", "Member"]

logger = logging.getLogger(__name__)

CONFIG_KEY = "bank_config"


@dataclass(frozen=True)
class Member:
    """A fact a block learns: its key text, subject and answer (object), leaf and support."""

    key: int
    subject: str
    obj: str
    text: str
    leaf: str
    support: int


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


def members(storage: Storage, tree: RoutingTree, node: str, config: BankConfig) -> list[Member]:
    """The facts ``node``'s block is trained on, in canonical (content) order."""
    if node == ANCHOR:
        rows = storage.bank.routed(min_support=config.anchor_min_support)
    else:
        if node not in tree.nodes:
            raise InvalidQueryError(f"no bank node {node!r} (nodes look like '0', '0.3', '0.3.1')")
        rows = storage.bank.routed(node=node)
    return sorted((Member(*row) for row in rows), key=lambda f: (f.text, f.obj, f.subject))


def training_digest(node: str, facts: list[Member], config: BankConfig) -> str:
    """What a block's weights are a function of: its node, the configuration and its facts."""
    payload = {"node": node, "config": dataclasses.asdict(config), "facts": [[f.text, f.subject, f.obj] for f in facts]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def training_set(view: "ReadView", facts: list[Member]) -> "TrainingSet":
    """Keys, answer indices and candidate entity vectors for facts in canonical order."""
    from .blocks import TrainingSet

    storage = view.storage
    names = sorted({f.subject for f in facts} | {f.obj for f in facts})
    keys_by_name = storage.graph.entity_keys(names)
    candidates = view.derived.vectors_of("entity", [keys_by_name[n] for n in names])
    vectors = storage.bank.key_vectors([f.key for f in facts])
    keys = np.stack([np.frombuffer(vectors[f.key], dtype=np.float32) for f in facts])
    index = {name: i for i, name in enumerate(names)}
    return TrainingSet(keys, np.array([index[f.obj] for f in facts]), candidates)


def _train(node: str, data: "TrainingSet", config: BankConfig) -> tuple[str, bytes]:
    from .blocks import block_bytes, node_seed, train_block

    hidden = config.anchor_hidden if node == ANCHOR else config.hidden
    block = train_block(data, hidden, node_seed(config.seed, node), config.epochs, config.learning_rate,
                        config.temperature, config.batch_size, config.negatives, min_steps=config.min_steps)
    payload = block_bytes(block)  # type: ignore[arg-type]
    return hashlib.sha256(payload).hexdigest(), payload


# -- following writes -----------------------------------------------------------------------------

def record_write(storage: Storage, report: "WriteReport", encode_keys: Callable[[list[str]], np.ndarray]) -> set[str]:
    """Inside a write: route its new facts and bump the versions of the nodes whose facts changed."""
    tree = load_tree(storage)
    affected: set[str] = set()
    for leaf in report.removed_fact_leaves:
        affected.update(tree.path(leaf))
    new = storage.bank.unrouted(report.new_facts) if report.new_facts else []
    if new:
        texts = [key_text(subject, relation, valid_from[:4] if valid_from else None)
                 for _, subject, relation, valid_from in new]
        vectors = np.asarray(encode_keys(texts), dtype=np.float32)
        leaves = tree.route(vectors)
        storage.bank.add_routes((key, leaf, text, vector.tobytes())
                                for (key, *_), leaf, text, vector in zip(new, leaves, texts, vectors))
        for leaf in leaves:
            affected.update(tree.path(leaf))
    if report.new_facts or report.removed_facts or report.weakened_facts or report.strengthened_facts:
        affected.add(ANCHOR)  # the set of common facts may have changed; retraining checks the digest
    existing = set(storage.bank.versions())
    storage.bank.bump_versions(affected & existing)
    return affected & existing


def retrain_stale(core: "StoreCore", progress: bool = False) -> int:
    """Retrain every block whose node's version moved; returns how many blocks changed.

    Each block is trained outside any lock and stored only if its node's facts did not
    change meanwhile (a later call retrains it then).
    """
    storage = core.storage
    with core.view():
        config = bank_config(storage)
        versions = storage.bank.versions()
        blocks = storage.bank.blocks()
    stale = sorted((n for n, v in versions.items() if n not in blocks or blocks[n][1] != v),
                   key=lambda n: (n != ANCHOR, n.count("."), n))
    changed = 0
    for node in bar(stale, desc="retrain bank blocks", unit="block", minimum=1 if progress else 8):
        with core.view() as view:
            version = view.storage.bank.version(node)
            if version is None:
                continue
            facts = members(view.storage, load_tree(view.storage), node, config)
            digest = training_digest(node, facts, config)
            current = view.storage.bank.blocks().get(node)
            reuse = current is not None and current[3] == digest
            data = training_set(view, facts) if facts and not reuse else None
        weights, payload = ("", None)
        if reuse:
            weights = current[0]  # type: ignore[index]
        elif data is not None:
            weights, payload = _train(node, data, config)
        with storage.write():
            if storage.bank.version(node) != version:
                continue  # its facts changed meanwhile: the write that changed them retrains it
            if not facts:
                storage.bank.delete_block(node)
            else:
                storage.bank.store_block(node, weights, payload, version, len(facts), digest)
            storage.bank.delete_unreferenced_weights()
        changed += 0 if reuse else 1
    return changed


# -- fitting --------------------------------------------------------------------------------------

def fit(core: "StoreCore", config: BankConfig) -> FitReport:
    """Fit the routing tree on the current facts' keys and train every block, then commit at once."""
    started = time.perf_counter()
    storage = core.storage
    with core.view():
        rows = storage.bank.facts_for_fit()
    if not rows:
        raise BankNotFittedError("the store has no facts to learn")
    texts = [key_text(s, r, vf[:4] if vf else None) for _, s, r, vf, _, _ in rows]
    vectors = np.asarray(core.models.encode("entity", texts), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: texts[i])  # canonical: by content
    tree = fit_tree(vectors[order], config.branching, config.depth, config.min_leaf, config.seed)
    leaves = tree.route(vectors)
    facts = [Member(key, s, o, text, leaf, support)
             for (key, s, _, _, o, support), text, leaf in zip(rows, texts, leaves)]
    by_node = _group(tree, facts, config)
    sets: dict[str, Any] = {}
    with core.view() as view:
        alive = view.storage.graph.entity_keys({f.subject for f in facts} | {f.obj for f in facts})
        for node, node_facts in by_node.items():
            usable = [f for f in node_facts if f.subject in alive and f.obj in alive]
            if usable:
                sets[node] = (usable, _training_set_from(view, usable, dict(zip((f.key for f in facts), vectors))))
    trained = {}
    for node in bar(sorted(sets, key=lambda n: (n != ANCHOR, n.count("."), n)), desc="train bank blocks",
                    unit="block", minimum=8):
        node_facts, data = sets[node]
        trained[node] = (*_train(node, data, config), len(node_facts), training_digest(node, node_facts, config))
    fitted_keys = {f.key for f in facts}
    fitted_support = {f.key: f.support for f in facts}
    with storage.write():
        storage.bank.replace_tree([(ANCHOR, "", 0, b"")] + [(n.id, n.parent, n.level, n.centroid.tobytes())
                                                           for n in tree.nodes.values()])
        now = {key: support for key, _, _, _, _, support in storage.bank.facts_for_fit()}
        key_vectors = dict(zip((f.key for f in facts), vectors))
        storage.bank.add_routes((f.key, f.leaf, f.text, key_vectors[f.key].tobytes()) for f in facts if f.key in now)
        for node, (weights, payload, count, digest) in trained.items():
            storage.bank.store_block(node, weights, payload, 1, count, digest)
        storage.meta.set(CONFIG_KEY, json.dumps(dataclasses.asdict(config), sort_keys=True))
        # writes that committed while the blocks trained: their nodes go stale at once
        affected: set[str] = set()
        for fact in facts:
            if fact.key not in now:
                affected.update(tree.path(fact.leaf))
        added = [k for k in now if k not in fitted_keys]
        if added:
            new_rows = storage.bank.unrouted(added)
            new_texts = [key_text(s, r, vf[:4] if vf else None) for _, s, r, vf in new_rows]
            new_vectors = np.asarray(core.models.encode("entity", new_texts), dtype=np.float32)
            new_leaves = tree.route(new_vectors)
            storage.bank.add_routes((key, leaf, text, vector.tobytes()) for (key, *_), leaf, text, vector
                                    in zip(new_rows, new_leaves, new_texts, new_vectors))
            for leaf in new_leaves:
                affected.update(tree.path(leaf))
        if added or any(now.get(k) != s for k, s in fitted_support.items()):
            affected.add(ANCHOR)
        storage.bank.bump_versions(affected)
        storage.bank.delete_unreferenced_weights()
    retrain_stale(core)
    return FitReport(len(facts), tuple(sorted(trained)), (), time.perf_counter() - started)


def _group(tree: RoutingTree, facts: Iterable[Member], config: BankConfig) -> dict[str, list[Member]]:
    """Each node's training facts, canonical order (nodes without facts are left out)."""
    ordered = sorted(facts, key=lambda f: (f.text, f.obj, f.subject))
    out: dict[str, list[Member]] = {}
    common = [f for f in ordered if f.support >= config.anchor_min_support]
    if common:
        out[ANCHOR] = common
    for fact in ordered:
        for node in tree.path(fact.leaf):
            out.setdefault(node, []).append(fact)
    return out


def _training_set_from(view: "ReadView", facts: list[Member], key_vectors: dict[int, np.ndarray]) -> "TrainingSet":
    from .blocks import TrainingSet

    names = sorted({f.subject for f in facts} | {f.obj for f in facts})
    keys_by_name = view.storage.graph.entity_keys(names)
    candidates = view.derived.vectors_of("entity", [keys_by_name[n] for n in names])
    index = {name: i for i, name in enumerate(names)}
    return TrainingSet(np.stack([key_vectors[f.key] for f in facts]), np.array([index[f.obj] for f in facts]),
                       candidates)
