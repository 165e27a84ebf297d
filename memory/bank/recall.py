"""Closed-book answers from the bank: route a key, mix the path's blocks, name the nearest entity.

Only blocks trained at their node's current version are used (see
:mod:`memory.bank.state`), so nothing a write removed is answered from weights
that still hold it. Weights are verified against their content hash when loaded.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..config import BankConfig
from ..documents import check_argument
from ..errors import CorruptStoreError
from ..extract.base import normalize_phrase, normalize_relation
from .members import DEFER, current_examples, path_up, vocabulary
from .state import bank_config, load_tree
from .tree import key_text

if TYPE_CHECKING:
    from ..core import ReadView

__all__ = ["Recall", "recall", "recall_vectors", "answer_keys", "entity_links", "usable_nodes", "load_block"]

_BLOCKS: dict[str, Any] = {}  # content-addressed, so shared safely between stores
_BLOCKS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Recall:
    """A closed-book answer (or an abstention).

    Attributes
    ----------
    answer : str or None
        The predicted entity's name; None when the bank abstains (see ``reason``).
    confidence : float
        Probability of the answer among the answers of the block that gave it, times the
        cosine between the question's key and the nearest key that block memorised (1 for a
        memorised key: a question unlike anything the block learned is not answered surely).
    blocks : tuple of str
        The blocks asked, from the leaf up (the last one answered; the others deferred).
    alternatives : tuple of (str, float)
        That block's best answers with their probabilities.
    reason : str
        Why the bank abstained (empty when it answered).
    """

    answer: str | None
    confidence: float
    blocks: tuple[str, ...]
    alternatives: tuple[tuple[str, float], ...]
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"answer": self.answer, "confidence": self.confidence, "blocks": list(self.blocks),
                "alternatives": [list(a) for a in self.alternatives], "reason": self.reason}


def load_block(view: "ReadView", digest: str) -> Any:
    """The block whose weights have this digest, verified against it.

    Raises
    ------
    CorruptStoreError
        When the stored weights are missing or do not match their hash.
    """
    with _BLOCKS_LOCK:
        cached = _BLOCKS.get(digest)
    if cached is not None:
        return cached
    from .blocks import block_from_bytes

    data = view.storage.bank.weights(digest)
    if data is None or hashlib.sha256(data).hexdigest() != digest:
        raise CorruptStoreError(f"memory-bank weights {digest[:12]}… are missing or do not match their hash; "
                                "run store.bank.fit() again")
    try:
        block = block_from_bytes(data)
    except Exception as exc:  # noqa: BLE001 - safetensors/torch errors on damaged data
        raise CorruptStoreError(f"memory-bank weights {digest[:12]}… cannot be read ({exc})") from None
    with _BLOCKS_LOCK:
        if len(_BLOCKS) > 4096:
            _BLOCKS.clear()
        _BLOCKS[digest] = block
    return block


def usable_nodes(view: "ReadView") -> dict[str, str]:
    """Node -> weights digest of the blocks a recall may use: trained at the node's current
    version and not switched off."""
    versions = {n: (v, b) for n, _, _, _, b, v in view.storage.bank.nodes()}
    return {node: weights for node, (weights, trained, _, _) in view.storage.bank.blocks().items()
            if node in versions and versions[node][0] == trained and not versions[node][1]}


@dataclass(frozen=True)
class _Answers:
    """A block's answers: names (DEFER last when it defers), their unit vectors, and the unit
    key vectors the block was trained on (how familiar a question is)."""

    names: tuple[str, ...]
    vectors: np.ndarray
    keys: np.ndarray


def _bank_state(view: "ReadView") -> tuple[Any, dict[str, str], dict[str, _Answers]]:
    """The tree, the usable blocks and every block's answers at this view's generation (memoised)."""

    def compute() -> tuple[Any, dict[str, str], dict[str, _Answers]]:
        from .blocks import defer_vector

        config = bank_config(view.storage)
        tree = load_tree(view.storage)
        examples = current_examples(view.storage, tree, config)
        usable = usable_nodes(view)
        names = sorted({a for node in usable for a in vocabulary(examples.get(node, [])) if a != DEFER})
        keys = view.storage.graph.entity_keys(names)
        vectors = dict(zip(names, np.asarray(view.derived.vectors_of("entity", [keys[n] for n in names]),
                                             dtype=np.float32).reshape(len(names), -1)))
        dim = int(view.storage.meta.get("embedding_dim") or 1)
        trained_keys = view.storage.bank.key_vectors({e.member.key for node in usable for e in examples.get(node, [])})
        answers = {}
        for node in usable:
            vocab = vocabulary(examples.get(node, []))
            rows = [defer_vector(dim) if a == DEFER else vectors[a] for a in vocab]
            keys = np.stack([np.frombuffer(trained_keys[e.member.key], dtype=np.float32)
                             for e in examples.get(node, [])]) if examples.get(node) else np.zeros((0, dim), np.float32)
            keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
            answers[node] = _Answers(tuple(vocab), np.stack(rows) if rows else np.zeros((0, dim), np.float32), keys)
        return tree, usable, answers

    return view.core.memo(("bank-state", view.storage.bank.state_token()), view, compute)


def _key_for(view: "ReadView", subject: int, name: str, relation: str, year: int | None) -> tuple[str, np.ndarray | None]:
    """The key to ask: the subject's memorised key for the relation that holds at ``year`` (the
    latest dated one up to it, else the undated one; today when no year), else a new key text."""
    routes = [(t, vf, v) for r, t, vf, _, v in view.storage.bank.subject_routes(subject) if r == relation]
    dated = sorted(((int(vf[:4]), t, v) for t, vf, v in routes if vf and vf[:4].isdigit()
                    and (year is None or int(vf[:4]) <= year)), key=lambda x: (x[0], x[1]))
    if dated:
        return dated[-1][1], np.frombuffer(dated[-1][2], dtype=np.float32)
    undated = [(t, v) for t, vf, v in routes if not vf]
    if undated:
        return undated[0][0], np.frombuffer(undated[0][1], dtype=np.float32)
    return key_text(name, relation, year), None


def recall(view: "ReadView", subject: Any, relation: Any, as_of: Any = None,
           threshold: float | None = None) -> Recall:
    """The closed-book answer to (subject, relation[, at ``as_of``]); abstains when unsure."""
    check_argument(subject, "subject")
    check_argument(relation, "relation")
    config = bank_config(view.storage)
    year = None
    if as_of is not None:
        from ..temporal import as_date

        year = as_date(as_of).year
    name = normalize_phrase(subject)
    key = view.storage.graph.entity_key(name)
    if key is None:
        return Recall(None, 0.0, (), (), f"the store holds no entity named {subject!r}")
    routes = view.storage.bank.subject_routes(key)
    if not routes:
        return Recall(None, 0.0, (), (), f"the memory bank holds no facts about {subject!r} "
                                         "(never stated as a subject, or forgotten)")
    text, vector = _key_for(view, key, name, normalize_relation(relation), year)
    if vector is None:
        vector = np.asarray(view.core.models.encode("entity", [text]), dtype=np.float32)[0]
    leaf = routes[0][3]  # every fact about a subject is routed to the same leaf
    return answer_keys(view, vector[None], leaves=[leaf], exclude=[key],
                       threshold=config.threshold if threshold is None else threshold)[0]


def recall_vectors(view: "ReadView", vectors: np.ndarray, top: int = 5, config: BankConfig | None = None,
                   components: Iterable[str] | None = None, exclude: Iterable[int] | None = None,
                   route_vectors: np.ndarray | None = None, threshold: float | None = 0.0) -> list[Recall]:
    """Closed-book answers for key vectors, routed by ``route_vectors`` (the subjects' embeddings;
    the keys themselves when not given); ``components`` restricts the blocks used, ``exclude``
    holds entity keys never answered; ``threshold`` 0 answers whatever the confidence."""
    tree, _, _ = _bank_state(view)
    leaves = tree.route(np.asarray(vectors if route_vectors is None else route_vectors, dtype=np.float32))
    return answer_keys(view, vectors, leaves, top, components, exclude, threshold)


def answer_keys(view: "ReadView", vectors: np.ndarray, leaves: list[str], top: int = 5,
                components: Iterable[str] | None = None, exclude: Iterable[int] | None = None,
                threshold: float | None = 0.0) -> list[Recall]:
    """Ask each key's blocks from its leaf up; the first block that does not defer answers."""
    from .blocks import predict, scores

    config = bank_config(view.storage)
    threshold = config.threshold if threshold is None else threshold
    tree, usable, answers = _bank_state(view)
    if components is not None:
        usable = {n: w for n, w in usable.items() if n in set(components)}
    excluded = view.storage.graph.entity_names(set(exclude or ())).values()
    vectors = np.asarray(vectors, dtype=np.float32)
    out: list[Recall | None] = [None] * len(vectors)
    pending = {i: path_up(tree, leaf) for i, leaf in enumerate(leaves)}
    asked: dict[int, list[str]] = {i: [] for i in pending}
    while pending:
        by_node: dict[str, list[int]] = {}
        for i, path in list(pending.items()):
            while path and path[0] not in usable:
                path.pop(0)  # no block here (nothing lives in it, masked, or switched off): pass through
            if not path:
                del pending[i]
                continue
            by_node.setdefault(path[0], []).append(i)
        for node, rows in by_node.items():
            block_answers = answers[node]
            probabilities = scores(predict(load_block(view, usable[node]), vectors[rows]), block_answers.vectors,
                                   config.temperature)
            unit = vectors[rows] / np.maximum(np.linalg.norm(vectors[rows], axis=1, keepdims=True), 1e-12)
            familiarity = np.clip((unit @ block_answers.keys.T).max(axis=1), 0.0, 1.0) \
                if len(block_answers.keys) else np.zeros(len(rows))
            for row, probs, familiar in zip(rows, probabilities, familiarity):
                probs = probs * familiar  # as sure as the block is, discounted by how far the question is
                #                           from every key it memorised (1 for a memorised key)
                asked[row].append(node)
                pending[row].pop(0)
                ranked = [(block_answers.names[j], float(probs[j])) for j in np.argsort(-probs)
                          if block_answers.names[j] not in excluded]
                if not ranked or ranked[0][0] == DEFER:
                    continue  # "not mine": ask the level above
                del pending[row]
                named = tuple((n, round(p, 4)) for n, p in ranked if n != DEFER)[:top]
                best, confidence = ranked[0]
                if confidence < threshold:
                    out[row] = Recall(None, confidence, tuple(asked[row]), named,
                                      f"not confident enough ({confidence:.3f} < threshold {threshold})")
                else:
                    out[row] = Recall(best, confidence, tuple(asked[row]), named)
    return [r if r is not None else Recall(None, 0.0, tuple(asked[i]), (), "every block deferred or none is usable "
                                           "(awaiting retraining, or switched off)") for i, r in enumerate(out)]


def entity_links(view: "ReadView", query: str, count: int) -> list[tuple[int, float, str]]:
    """The bank's ``count`` best entities for a question: ``(entity key, probability, name)``."""
    vectors = np.asarray(view.core.models.encode("entity", [query]), dtype=np.float32)
    answer = recall_vectors(view, vectors, top=count)[0]
    if answer.answer is None:
        return []
    keys = view.storage.graph.entity_keys([name for name, _ in answer.alternatives])
    return [(keys[name], score, name) for name, score in answer.alternatives[:count] if name in keys]
