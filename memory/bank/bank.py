"""The memory bank of a store: fit, keep in step with the facts, recall closed-book.

Layout on disk: the tree (``bank_nodes``), where each fact is routed with its key
(``bank_routes``, deleted with the fact) and each block's weights file and
training digest (``bank_blocks``) live in SQLite; the weights are safetensors files
under ``<store>/bank/``, named by the hash of their bytes.

A block's training set is every fact routed into its subtree (the anchor's: the
facts stated by at least ``anchor_min_support`` documents). After any write,
:meth:`MemoryBank.sync` routes new facts into the fixed tree and retrains exactly
the blocks whose training set changed; since a block's training depends on its
facts alone (:mod:`memory.bank.blocks`), a retrained block is bit-identical to one
trained from scratch on the remaining facts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
from tqdm.auto import tqdm

from ..config import BankConfig
from ..errors import BankNotFittedError, InvalidQueryError
from ..extract import normalize_phrase, normalize_relation
from .blocks import FFNBlock, TrainingSet, block_bytes, block_from_bytes, node_seed, predict, train_block
from .tree import RoutingTree, TreeNode, fit_tree

if TYPE_CHECKING:
    from ..store import MemoryStore

__all__ = ["MemoryBank", "Recall", "SyncReport", "key_text", "ANCHOR"]

logger = logging.getLogger(__name__)

ANCHOR = "anchor"
_META = "bank_config"
_SYNCED = "bank_generation"  # the database generation the blocks were last brought up to


def key_text(subject: str, relation: str, year: int | str | None = None) -> str:
    """The text a fact is keyed by: "subject relation", plus "in YEAR" when it has a time.

    >>> key_text("ajax", "head coach", 2016)
    'ajax head coach in 2016'
    """
    text = f"{subject} {relation}"
    return f"{text} in {year}" if year else text


@dataclass(frozen=True)
class Recall:
    """A closed-book answer.

    Attributes
    ----------
    answer : str
        The predicted entity's name.
    confidence : float
        Softmax probability of the answer among the five nearest entities.
    blocks : tuple of str
        The components used: ``"anchor"`` and the path's block ids, top level first.
    alternatives : tuple of (str, float)
        The five nearest entities with their cosine to the prediction.
    """

    answer: str
    confidence: float
    blocks: tuple[str, ...]
    alternatives: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"answer": self.answer, "confidence": self.confidence, "blocks": list(self.blocks),
                "alternatives": [list(a) for a in self.alternatives]}


@dataclass(frozen=True)
class SyncReport:
    """What a fit or sync did: facts routed, blocks retrained and removed, seconds."""

    routed: int
    retrained: tuple[str, ...]
    removed: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class _Fact:
    key: int
    subject: str
    obj: str
    text: str
    leaf: str
    support: int


class MemoryBank:
    """The hierarchical parametric memory of a :class:`memory.MemoryStore` (``store.bank``)."""

    def __init__(self, store: "MemoryStore") -> None:
        self._store = store
        self._blocks: dict[str, tuple[str, FFNBlock]] = {}
        self._tree: RoutingTree | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def _db(self):  # noqa: ANN202 - the store's Database
        return self._store.db

    @property
    def directory(self) -> Path:
        """Where the block weights are kept."""
        return self._store.path / "bank"

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been run on this store."""
        return self._db.get_meta(_META) is not None

    @property
    def config(self) -> BankConfig:
        """The configuration the bank was fitted with."""
        stored = self._db.get_meta(_META)
        if stored is None:
            raise BankNotFittedError("the memory bank is not fitted: run store.bank.fit() first")
        values = json.loads(stored)
        known = {f.name for f in dataclasses.fields(BankConfig)}
        if set(values) - known:
            raise BankNotFittedError("the memory bank was fitted by another version of memory "
                                     "(unknown options: " + ", ".join(sorted(set(values) - known))
                                     + "); run store.bank.fit() again")
        return BankConfig(**values)

    @property
    def tree(self) -> RoutingTree:
        """The fitted routing tree."""
        if self._tree is None:
            rows = self._db.query("SELECT node, parent, level, centroid FROM bank_nodes")
            self._tree = RoutingTree([TreeNode(n, p, lvl, np.frombuffer(c, dtype=np.float32).copy())
                                      for n, p, lvl, c in rows])
        return self._tree

    def blocked(self) -> set[str]:
        """Nodes switched off by :meth:`block`."""
        return {r[0] for r in self._db.query("SELECT node FROM bank_nodes WHERE blocked = 1")}

    # -- fitting and keeping in step ----------------------------------------------------------

    def fit(self, config: BankConfig | None = None) -> SyncReport:
        """Fit the routing tree on the current facts' keys and train every block.

        Refitting (also :meth:`rebalance`) replaces the tree and all blocks.

        Raises
        ------
        BankNotFittedError
            If the store has no facts.
        """
        config = config or self._store.config.bank
        started = time.perf_counter()
        facts = self._fact_rows()
        if not facts:
            raise BankNotFittedError("the store has no facts to learn")
        texts = [text for _, text in facts]
        vectors = self._store.embedder.encode(texts, "entity")
        order = sorted(range(len(texts)), key=lambda i: texts[i])  # canonical: by content
        tree = fit_tree(vectors[order], config.branching, config.depth, config.min_leaf, config.seed)
        leaves = tree.route(vectors)
        with self._db.transaction():
            for table in ("bank_nodes", "bank_blocks", "bank_routes"):
                self._db.conn.execute(f"DELETE FROM {table}")
            self._db.conn.executemany(
                "INSERT INTO bank_nodes(node, parent, level, centroid) VALUES (?, ?, ?, ?)",
                [(n.id, n.parent, n.level, n.centroid.astype(np.float32).tobytes())
                 for n in tree.nodes.values()])
            self._db.conn.executemany(
                "INSERT INTO bank_routes(fact, leaf, key_text, key_vector) VALUES (?, ?, ?, ?)",
                [(key, leaf, text, vector.astype(np.float32).tobytes())
                 for (key, text), leaf, vector in zip(facts, leaves, vectors)])
            self._db.set_meta(_META, json.dumps(dataclasses.asdict(config), sort_keys=True))
        self._tree, self._blocks = None, {}
        report = self.sync()
        return dataclasses.replace(report, routed=len(facts), seconds=time.perf_counter() - started)

    rebalance = fit

    def sync(self) -> SyncReport:
        """Route facts not yet in the tree and retrain the blocks whose training set changed.

        Called by the store after every write once the bank is fitted. Blocks left
        without facts are removed; weight files no longer referenced are deleted.
        """
        started = time.perf_counter()
        if not self.fitted:
            return SyncReport(0, (), (), 0.0)
        config = self.config
        routed = self._route_new_facts()
        facts = self._routed_facts()
        stored = {node: (weights, digest) for node, weights, digest in
                  self._db.query("SELECT node, weights, training_digest FROM bank_blocks")}
        members = self._members(facts, config)
        stale = [(node, node_facts, digest) for node, node_facts in members.items()
                 if stored.get(node, ("", ""))[1] != (digest := self._digest(node, node_facts, config))]
        updates, retrained = [], []
        for node, node_facts, digest in tqdm(stale, desc="train bank blocks", unit="block", leave=False,
                                             disable=len(stale) < 8 or None):
            block = self._train(node, node_facts, config)
            weights = self._write_weights(block)
            updates.append((node, weights, digest, len(node_facts)))
            self._blocks[node] = (weights, block)
            retrained.append(node)
        removed = sorted(set(stored) - set(members))
        if updates or removed:
            with self._db.transaction():
                self._db.conn.executemany(
                    "INSERT OR REPLACE INTO bank_blocks(node, weights, training_digest, facts) "
                    "VALUES (?, ?, ?, ?)", updates)
                self._db.conn.executemany("DELETE FROM bank_blocks WHERE node = ?", [(n,) for n in removed])
        for node in removed:
            self._blocks.pop(node, None)
        with self._db.transaction():
            self._db.set_meta(_SYNCED, str(self._db.generation))
        self._delete_unreferenced_files()
        if retrained or removed:
            logger.info("bank: routed %d facts, retrained %d blocks, removed %d", routed,
                        len(retrained), len(removed))
        return SyncReport(routed, tuple(retrained), tuple(removed), time.perf_counter() - started)

    def _fact_rows(self, only_unrouted: bool = False) -> list[tuple[int, str]]:
        sql = ("SELECT f.key, s.name, f.relation, f.valid_from FROM facts f "
               "JOIN entities s ON s.key = f.subject")
        if only_unrouted:
            sql += " WHERE f.key NOT IN (SELECT fact FROM bank_routes)"
        return [(key, key_text(subject, relation, valid_from[:4] if valid_from else None))
                for key, subject, relation, valid_from in self._db.query(sql + " ORDER BY f.key")]

    def _route_new_facts(self) -> int:
        new = self._fact_rows(only_unrouted=True)
        if not new:
            return 0
        vectors = self._store.embedder.encode([text for _, text in new], "entity")
        leaves = self.tree.route(vectors)
        with self._db.transaction():
            self._db.conn.executemany(
                "INSERT INTO bank_routes(fact, leaf, key_text, key_vector) VALUES (?, ?, ?, ?)",
                [(key, leaf, text, vector.astype(np.float32).tobytes())
                 for (key, text), leaf, vector in zip(new, leaves, vectors)])
        return len(new)

    def _routed_facts(self) -> list[_Fact]:
        rows = self._db.query(
            "SELECT f.key, s.name, o.name, r.key_text, r.leaf, "
            "(SELECT count(*) FROM fact_sources WHERE fact = f.key) "
            "FROM bank_routes r JOIN facts f ON f.key = r.fact "
            "JOIN entities s ON s.key = f.subject JOIN entities o ON o.key = f.object")
        facts = [_Fact(*row) for row in rows]
        return sorted(facts, key=lambda f: (f.text, f.obj, f.subject))  # canonical, content-keyed

    def _members(self, facts: list[_Fact], config: BankConfig) -> dict[str, list[_Fact]]:
        """Each node's training facts (nodes without facts are left out)."""
        members: dict[str, list[_Fact]] = {}
        common = [f for f in facts if f.support >= config.anchor_min_support]
        if common:
            members[ANCHOR] = common
        for fact in facts:
            for node in self.tree.path(fact.leaf):
                members.setdefault(node, []).append(fact)
        return members

    @staticmethod
    def _digest(node: str, facts: list[_Fact], config: BankConfig) -> str:
        payload = {"node": node, "config": dataclasses.asdict(config),
                   "facts": [[f.text, f.subject, f.obj] for f in facts]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def training_set(self, facts: list[_Fact]) -> TrainingSet:
        """Keys, answer indices and candidate entity vectors for facts in canonical order."""
        names = sorted({f.subject for f in facts} | {f.obj for f in facts})
        keys_by_name = dict(self._db.select_in("SELECT name, key FROM entities WHERE name IN ({marks})", names))
        candidates = self._store.derived.vectors_of("entity", [keys_by_name[n] for n in names])
        vectors = dict(self._db.select_in("SELECT fact, key_vector FROM bank_routes WHERE fact IN ({marks})",
                                          [f.key for f in facts]))
        keys = np.stack([np.frombuffer(vectors[f.key], dtype=np.float32) for f in facts])
        index = {name: i for i, name in enumerate(names)}
        return TrainingSet(keys, np.array([index[f.obj] for f in facts]), candidates)

    def _train(self, node: str, facts: list[_Fact], config: BankConfig) -> FFNBlock:
        hidden = config.anchor_hidden if node == ANCHOR else config.hidden
        return train_block(self.training_set(facts), hidden, node_seed(config.seed, node), config.epochs,
                           config.learning_rate, config.temperature, config.batch_size,
                           config.negatives, min_steps=config.min_steps)  # type: ignore[return-value]

    def train_from_scratch(self, node: str) -> FFNBlock:
        """Train ``node``'s block afresh on its current facts, without storing it (for checks)."""
        config = self.config
        facts = self._members(self._routed_facts(), config).get(node)
        if facts is None:
            raise InvalidQueryError(f"bank node {node!r} has no training facts")
        return self._train(node, facts, config)

    def training_facts(self, node: str) -> list[tuple[str, str]]:
        """The (key text, answer) pairs ``node``'s block is trained on, in training order."""
        facts = self._members(self._routed_facts(), self.config).get(node, [])
        return [(f.text, f.obj) for f in facts]

    # -- weights on disk -----------------------------------------------------------------------

    def _write_weights(self, block: FFNBlock) -> str:
        data = block_bytes(block)
        digest = hashlib.sha256(data).hexdigest()
        self.directory.mkdir(exist_ok=True)
        path = self.directory / f"{digest}.safetensors"
        if not path.exists():
            partial = path.with_suffix(".partial")
            with open(partial, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        return digest

    def _delete_unreferenced_files(self) -> None:
        if not self.directory.exists():
            return
        referenced = {r[0] for r in self._db.query("SELECT weights FROM bank_blocks")}
        for path in self.directory.iterdir():
            if path.name.split(".")[0] not in referenced:
                path.unlink()

    def load_block(self, node: str) -> FFNBlock:
        """The stored block of ``node`` (``"anchor"`` for the anchor)."""
        row = self._db.query("SELECT weights FROM bank_blocks WHERE node = ?", (node,))
        if not row:
            raise InvalidQueryError(f"bank node {node!r} has no trained block")
        weights = row[0][0]
        cached = self._blocks.get(node)
        if cached is None or cached[0] != weights:
            block = block_from_bytes((self.directory / f"{weights}.safetensors").read_bytes())
            self._blocks[node] = cached = (weights, block)
        return cached[1]

    # -- recall ----------------------------------------------------------------------------------

    def recall(self, subject: str, relation: str, as_of: Any = None) -> Recall:
        """The closed-book answer to (subject, relation[, year of ``as_of``])."""
        if not isinstance(subject, str) or not subject.strip() or not isinstance(relation, str) \
                or not relation.strip():
            raise InvalidQueryError("subject and relation must be non-empty strings")
        year = None
        if as_of is not None:
            from ..temporal_api import as_date

            year = as_date(as_of).year
        text = key_text(normalize_phrase(subject), normalize_relation(relation), year)
        return self.recall_texts([text])[0]

    def recall_texts(self, texts: list[str], top: int = 5) -> list[Recall]:
        """Closed-book answers for key texts (batched)."""
        config = self.config
        vectors = self._store.embedder.encode(texts, "entity")
        return self.recall_vectors(vectors, top, config)

    def recall_vectors(self, vectors: np.ndarray, top: int = 5, config: BankConfig | None = None,
                       components: Iterable[str] | None = None) -> list[Recall]:
        """Closed-book answers for key vectors; ``components`` restricts the blocks used."""
        config = config or self.config
        if self._db.get_meta(_SYNCED) != str(self._db.generation):
            # a write committed without its bank sync (a crash in between): catch up first,
            # so that nothing forgotten is ever answered from stale weights
            logger.info("bank: behind the database; retraining what changed")
            self.sync()
        available = {r[0] for r in self._db.query("SELECT node FROM bank_blocks")} - self.blocked()
        if components is not None:
            available &= set(components)
        leaves = self.tree.route(vectors)
        paths = [tuple(n for n in [ANCHOR, *self.tree.path(leaf)] if n in available) for leaf in leaves]
        # each component's standalone prediction q + B(q), for the rows whose path uses it
        predictions: dict[str, dict[int, np.ndarray]] = {}
        for node in sorted({n for path in paths for n in path}):
            rows = [i for i, path in enumerate(paths) if node in path]
            predictions[node] = dict(zip(rows, predict(self.load_block(node), vectors[rows])))
        mixed = np.array(vectors, dtype=np.float32)
        for i, path in enumerate(paths):
            if path:  # anchor(q) + the path's blocks, as the mean of their standalone predictions
                combined = np.mean([predictions[node][i] for node in path], axis=0)
                mixed[i] = combined / max(float(np.linalg.norm(combined)), 1e-12)
        entity_index = self._store.derived.vectors["entity"]
        scores, ids = entity_index.search(mixed, top)
        names = self._db.entity_names({int(k) for k in ids.ravel() if k >= 0})
        out = []
        for i, path in enumerate(paths):
            found = [(names[int(k)], float(s)) for s, k in zip(scores[i], ids[i]) if k >= 0]
            logits = np.array([s for _, s in found]) / config.temperature
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            out.append(Recall(found[0][0] if found else "", float(probabilities[0]) if found else 0.0,
                              path, tuple(found)))
        return out

    def entity_links(self, query: str, count: int) -> list[tuple[int, float, str]]:
        """The bank's ``count`` best entities for a question: ``(entity key, cosine x confidence, name)``.

        Used as extra PPR seeds (``RetrievalConfig.bank_seeds``): the question's
        embedding is read as a key, so a bridge entity the bank learned can seed the walk.
        """
        recall = self.recall_texts([query], top=count)[0]
        keys = dict(self._db.select_in("SELECT name, key FROM entities WHERE name IN ({marks})",
                                       [name for name, _ in recall.alternatives]))
        return [(int(keys[name]), score * recall.confidence, name)
                for name, score in recall.alternatives[:count] if name in keys]

    # -- blocking and statistics -------------------------------------------------------------------

    def block(self, node: str) -> None:
        """Switch a block (and so the knowledge stored in it) off, without retraining."""
        self._set_blocked(node, 1)

    def unblock(self, node: str) -> None:
        """Switch a blocked block back on."""
        self._set_blocked(node, 0)

    def _set_blocked(self, node: str, value: int) -> None:
        if not self.fitted:
            raise BankNotFittedError("the memory bank is not fitted: run store.bank.fit() first")
        with self._db.transaction():
            changed = self._db.conn.execute("UPDATE bank_nodes SET blocked = ? WHERE node = ?",
                                            (value, node)).rowcount
        if not changed:
            raise InvalidQueryError(f"no bank node {node!r} (nodes look like '0', '0.3', '0.3.1')")

    def stats(self) -> dict[str, Any]:
        """Tree shape, parameter counts, facts per leaf, blocked nodes and bytes on disk."""
        if not self.fitted:
            return {"fitted": False}
        config = self.config
        rows = self._db.query("SELECT node, facts FROM bank_blocks")
        dim = int(self._db.get_meta("embedding_dim") or 0)
        leaves = self.tree.leaves
        leaf_facts = dict(self._db.query("SELECT leaf, count(*) FROM bank_routes GROUP BY leaf"))
        counts = sorted(leaf_facts.get(leaf, 0) for leaf in leaves)

        def parameters(hidden: int) -> int:
            return 2 * dim * hidden + hidden + dim

        trained = {node for node, _ in rows}
        return {
            "fitted": True, "config": dataclasses.asdict(config),
            "nodes": len(self.tree), "levels": max((n.level for n in self.tree.nodes.values()), default=0),
            "leaves": len(leaves), "blocks_trained": len(trained - {ANCHOR}),
            "anchor_facts": dict(rows).get(ANCHOR, 0),
            "facts_routed": sum(leaf_facts.values()),
            "facts_per_leaf": {"min": counts[0] if counts else 0, "median": counts[len(counts) // 2] if counts else 0,
                               "max": counts[-1] if counts else 0},
            "parameters": {"anchor": parameters(config.anchor_hidden) if ANCHOR in trained else 0,
                           "blocks": parameters(config.hidden) * len(trained - {ANCHOR})},
            "blocked": sorted(self.blocked()),
            "bytes_on_disk": sum(p.stat().st_size for p in self.directory.iterdir())
            if self.directory.exists() else 0,
        }
