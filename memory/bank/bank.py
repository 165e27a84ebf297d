"""``store.bank``: the parametric memory bank of a store, as one object.

A thin facade over :mod:`memory.bank.state` (fitting, following writes, retraining)
and :mod:`memory.bank.recall` (closed-book answers). It depends on the store's
core (storage, models, derived state), never on the store object itself.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..config import BankConfig
from ..errors import InvalidQueryError
from . import state
from .recall import Recall, load_block, recall, usable_nodes
from .tree import ANCHOR, RoutingTree

if TYPE_CHECKING:
    from ..core import StoreCore

__all__ = ["MemoryBank"]


class MemoryBank:
    """The hierarchical parametric memory of a store (``store.bank``).

    Parameters
    ----------
    core : StoreCore
        The store's storage, models and derived state.
    """

    def __init__(self, core: "StoreCore") -> None:
        self._core = core

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been run on this store."""
        with self._core.view() as view:
            return view.storage.meta.get(state.CONFIG_KEY) is not None

    @property
    def config(self) -> BankConfig:
        """The configuration the bank was fitted with."""
        with self._core.view() as view:
            return state.bank_config(view.storage)

    @property
    def tree(self) -> RoutingTree:
        """The fitted routing tree."""
        with self._core.view() as view:
            state.bank_config(view.storage)
            return state.load_tree(view.storage)

    def fit(self, config: BankConfig | None = None) -> state.FitReport:
        """Fit the routing tree on the current facts' keys and train every block (replaces a fitted bank).

        Raises
        ------
        BankNotFittedError
            If the store has no facts.
        """
        return state.fit(self._core, config or self._core.config.bank)

    rebalance = fit

    def sync(self) -> int:
        """Retrain the blocks whose facts changed and were not retrained yet (after a crash);
        returns how many blocks changed."""
        with self._core.view() as view:
            state.bank_config(view.storage)
        return state.retrain_stale(self._core, progress=True)

    def recall(self, subject: str, relation: str, as_of: Any = None, threshold: float | None = None) -> Recall:
        """The closed-book answer to (subject, relation[, at ``as_of``]); see :class:`Recall`.

        Abstains (``answer`` None, ``reason`` says why) for a subject the store does not
        hold, one the bank holds no facts about (never a subject, or forgotten), and when
        the answering block's confidence is below ``threshold`` (default: the fitted
        ``BankConfig.threshold``). Never answers the subject itself.
        """
        with self._core.view() as view:
            return recall(view, subject, relation, as_of, threshold)

    def recall_vectors(self, vectors: Any, top: int = 5, components: Any = None, route_vectors: Any = None,
                       threshold: float | None = 0.0) -> list[Recall]:
        """Closed-book answers for key vectors routed by ``route_vectors`` (subject embeddings;
        the keys when not given); ``components`` restricts the blocks used."""
        from .recall import recall_vectors

        with self._core.view() as view:
            return recall_vectors(view, vectors, top, components=components, route_vectors=route_vectors,
                                  threshold=threshold)

    def stale(self) -> list[str]:
        """Nodes whose block lags its facts (not used by recall until retrained)."""
        with self._core.view() as view:
            state.bank_config(view.storage)
            versions = view.storage.bank.versions()
            blocks = view.storage.bank.blocks()
        return sorted(n for n, (_, trained, _, _) in blocks.items() if versions.get(n) != trained)

    def blocked(self) -> set[str]:
        """Nodes switched off by :meth:`block`."""
        with self._core.view() as view:
            return {n for n, _, _, _, b, _ in view.storage.bank.nodes() if b}

    def block(self, node: str) -> None:
        """Switch a block (and so the knowledge stored in it) off, without retraining."""
        self._set_blocked(node, True)

    def unblock(self, node: str) -> None:
        """Switch a blocked block back on."""
        self._set_blocked(node, False)

    def _set_blocked(self, node: str, value: bool) -> None:
        storage = self._core.storage
        with storage.write():
            state.bank_config(storage)
            changed = storage.bank.set_blocked(node, value)
        if not changed:
            raise InvalidQueryError(f"no bank node {node!r} (nodes look like '0', '0.3', '0.3.1')")

    def training_facts(self, node: str) -> list[tuple[str, str]]:
        """The (key text, answer) pairs ``node``'s block is trained on, in training order
        (answer ``""``: the fact lives above, and the block learns to defer it)."""
        with self._core.view() as view:
            config = state.bank_config(view.storage)
            return [(e.member.text, e.answer) for e in state.node_examples(view.storage, node, config)]

    def load_block(self, node: str) -> Any:
        """The stored block of ``node`` (``"anchor"`` for the anchor)."""
        with self._core.view() as view:
            block = view.storage.bank.blocks().get(node)
            if block is None:
                raise InvalidQueryError(f"bank node {node!r} has no trained block")
            return load_block(view, block[0])

    def train_from_scratch(self, node: str) -> Any:
        """Train ``node``'s block afresh on its current facts, without storing it (for checks)."""
        from .blocks import block_from_bytes

        from .members import training_set

        with self._core.view() as view:
            config = state.bank_config(view.storage)
            examples = state.node_examples(view.storage, node, config)
            if not examples:
                raise InvalidQueryError(f"bank node {node!r} has no training facts")
            data = training_set(view, examples)
            tree = state.load_tree(view.storage)
        return block_from_bytes(state._train(node, data, config, tree)[1])

    def stats(self) -> dict[str, Any]:
        """Tree shape, parameter counts, facts per leaf and per level, blocked and stale nodes, bytes."""
        from .members import all_members, assign

        with self._core.view() as view:
            storage = view.storage
            if storage.meta.get(state.CONFIG_KEY) is None:
                return {"fitted": False}
            config = state.bank_config(storage)
            tree = state.load_tree(storage)
            blocks = storage.bank.blocks()
            usable = usable_nodes(view)
            dim = int(storage.meta.get("embedding_dim") or 0)
            homes = assign(tree, all_members(storage), config)
            weight_bytes = storage.bank.weights_bytes()
            blocked = sorted(n for n, _, _, _, b, _ in storage.bank.nodes() if b)
        living: dict[str, int] = {}
        for node in homes.values():
            living[node] = living.get(node, 0) + 1
        counts = sorted(living.get(leaf, 0) for leaf in tree.leaves)

        def parameters(hidden: int) -> int:
            return 2 * dim * hidden + hidden + dim

        trained = set(blocks)
        leaves = trained & set(tree.leaves)
        upper = trained - leaves - {ANCHOR}
        return {
            "fitted": True, "config": dataclasses.asdict(config),
            "nodes": len(tree), "levels": max((n.level for n in tree.nodes.values()), default=0),
            "leaves": len(tree.leaves), "blocks_trained": len(trained - {ANCHOR}),
            "anchor_facts": living.get(ANCHOR, 0),
            "facts_routed": len(homes),
            "facts_living": {"anchor": living.get(ANCHOR, 0),
                             "upper": sum(v for k, v in living.items() if k != ANCHOR and k not in tree.leaves),
                             "leaves": sum(v for k, v in living.items() if k in tree.leaves)},
            "facts_per_leaf": {"min": counts[0] if counts else 0, "median": counts[len(counts) // 2] if counts else 0,
                               "max": counts[-1] if counts else 0},
            "parameters": {"anchor": parameters(config.anchor_hidden) if ANCHOR in trained else 0,
                           "blocks": parameters(config.hidden) * len(leaves)
                           + parameters(config.upper_hidden) * len(upper)},
            "blocked": blocked,
            "awaiting_retraining": sorted(trained - set(usable) - set(blocked)),
            "bytes_stored": weight_bytes,
        }
