"""Which block holds which fact: shared facts up the tree, the long tail in the leaves.

Facts are routed by their *subject* (every fact about a subject lands in one leaf).
With ``shared_min_subjects`` set (off by default: every fact lives in its leaf), a fact
is *shared* when its (relation, object) pair is stated for at least that many distinct
subjects ("nationality: american"); it then lives in
the lowest node above the leaves whose subtree holds every subject stating the pair
(the anchor when they span the top-level subtrees), otherwise in its leaf. A block is trained on the
facts that live in it, and on the facts of its subtree that live *above* it with the
answer "defer" (so a query walks up from its leaf until a block answers). Everything
here is a function of the facts' content alone, so a bank that forgot a fact holds
exactly what a bank that never saw it would (on the same tree).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..config import BankConfig
from ..storage import Storage
from .tree import ANCHOR, RoutingTree

if TYPE_CHECKING:
    from ..core import ReadView
    from .blocks import TrainingSet

__all__ = ["Member", "Example", "DEFER", "all_members", "current_examples", "assign", "examples_by_node", "training_digest",
           "training_set", "vocabulary", "path_up"]

#: The answer of a training example whose fact lives above the block.
DEFER = ""


@dataclass(frozen=True)
class Member:
    """A routed fact: keys, relation, object name, key text, leaf and validity start."""

    key: int
    subject: int
    relation: str
    obj: int
    obj_name: str
    text: str
    leaf: str
    valid_from: str | None


@dataclass(frozen=True)
class Example:
    """One training example of a block: the fact, and its answer there (:data:`DEFER` or the object)."""

    member: Member
    answer: str


_CACHE: dict[tuple[int, Any], tuple[list[Member], dict[str, list["Example"]]]] = {}
_CACHE_LOCK = threading.Lock()


def all_members(storage: Storage) -> list[Member]:
    """Every routed fact of the bank (by fact key)."""
    return [Member(*row) for row in storage.bank.route_rows()]


def current_examples(storage: Storage, tree: RoutingTree, config: BankConfig,
                     fresh: bool = False) -> dict[str, list["Example"]]:
    """:func:`examples_by_node` of the bank's routed facts, cached per state of the routes
    (``fresh``: compute and cache anew, as a write does under its lock)."""
    token = (id(storage), storage.bank.routes_token(), tuple(sorted(tree.nodes)), config)
    if not fresh:
        with _CACHE_LOCK:
            cached = _CACHE.get(token)
        if cached is not None:
            return cached[1]
    examples = examples_by_node(tree, all_members(storage), config)
    with _CACHE_LOCK:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[token] = ([], examples)
    return examples


def path_up(tree: RoutingTree, leaf: str) -> list[str]:
    """The blocks a query of ``leaf`` may use, in the order it asks them: leaf first, anchor last.

    >>> path_up(RoutingTree([]), "1.0")
    ['1.0', '1', 'anchor']
    """
    return [*reversed(tree.path(leaf)), ANCHOR]


def assign(tree: RoutingTree, members: Iterable[Member], config: BankConfig) -> dict[int, str]:
    """Fact key -> the node it lives in.

    A (relation, object) pair stated for at least ``shared_min_subjects`` subjects is
    shared: its facts live in the lowest node above the leaves whose subtree holds all of
    them (the anchor when they span top-level subtrees). Every other fact lives in its leaf.
    """
    members = list(members)
    groups: dict[tuple[str, int], list[Member]] = defaultdict(list)
    for m in members:
        groups[(m.relation, m.obj)].append(m)
    paths: dict[str, list[str]] = {}
    homes = {}
    for group in groups.values():
        if not config.shared_min_subjects or len({m.subject for m in group}) < config.shared_min_subjects:
            for m in group:
                homes[m.key] = m.leaf or ANCHOR  # "" : the tree has no nodes, the anchor is the only block
            continue
        common: list[str] | None = None
        for m in group:
            path = paths.get(m.leaf)
            if path is None:
                path = paths[m.leaf] = tree.path(m.leaf)
            if common is None:
                common = path[:-1]  # never the leaf itself
            else:
                size = 0
                while size < min(len(common), len(path)) and common[size] == path[size]:
                    size += 1
                common = common[:size]
        home = common[-1] if common else ANCHOR
        for m in group:
            homes[m.key] = home
    return homes


def examples_by_node(tree: RoutingTree, members: Iterable[Member], config: BankConfig) -> dict[str, list[Example]]:
    """Each node's training examples in canonical (content) order; nodes with no fact living
    in them are left out (a query passes through them)."""
    members = list(members)
    homes = assign(tree, members, config)
    out: dict[str, list[Example]] = defaultdict(list)
    paths: dict[str, list[str]] = {}
    for m in members:
        top_down = paths.get(m.leaf)
        if top_down is None:
            top_down = paths[m.leaf] = [ANCHOR, *tree.path(m.leaf)]
        home = top_down.index(homes[m.key])
        out[top_down[home]].append(Example(m, m.obj_name))
        for node in top_down[home + 1:]:
            out[node].append(Example(m, DEFER))
    return {node: sorted(examples, key=lambda e: (e.member.text, e.answer))
            for node, examples in out.items() if any(e.answer != DEFER for e in examples)}


def vocabulary(examples: Iterable[Example]) -> list[str]:
    """A block's answers in candidate order: its objects by name, then :data:`DEFER` if it defers."""
    answers = {e.answer for e in examples}
    return sorted(answers - {DEFER}) + ([DEFER] if DEFER in answers else [])


def training_digest(node: str, examples: list[Example], config: BankConfig) -> str:
    """What a block's weights are a function of: its node, the training options and its examples
    (content only: key texts and answer names)."""
    options = {k: v for k, v in dataclasses.asdict(config).items() if k != "threshold"}
    payload = {"node": node, "config": options, "examples": [[e.member.text, e.answer] for e in examples]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def training_set(view: "ReadView", examples: list[Example]) -> "TrainingSet":
    """Keys, answer indices and answer vectors (objects, then the defer vector) of a block."""
    from .blocks import TrainingSet, defer_vector

    storage = view.storage
    answers = vocabulary(examples)
    names = [a for a in answers if a != DEFER]
    keys_by_name = storage.graph.entity_keys(names)
    vectors = storage.bank.key_vectors([e.member.key for e in examples])
    keys = np.stack([np.frombuffer(vectors[e.member.key], dtype=np.float32) for e in examples])
    candidates = np.asarray(view.derived.vectors_of("entity", [keys_by_name[n] for n in names]), dtype=np.float32)
    if DEFER in answers:
        candidates = np.vstack([candidates.reshape(len(names), keys.shape[1]), defer_vector(keys.shape[1])[None]])
    index = {name: i for i, name in enumerate(answers)}
    return TrainingSet(keys, np.array([index[e.answer] for e in examples]), candidates)
