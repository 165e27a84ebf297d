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
from .state import bank_config, load_tree
from .tree import ANCHOR, key_text

if TYPE_CHECKING:
    from ..core import ReadView

__all__ = ["Recall", "recall", "recall_vectors", "entity_links", "usable_nodes", "load_block"]

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
        Softmax probability of the answer among the nearest entities.
    blocks : tuple of str
        The components used: ``"anchor"`` and the path's block ids, top level first.
    alternatives : tuple of (str, float)
        The nearest entities with their cosine to the prediction.
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


def recall(view: "ReadView", subject: Any, relation: Any, as_of: Any = None) -> Recall:
    """The closed-book answer to (subject, relation[, year of ``as_of``])."""
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
    text = key_text(name, normalize_relation(relation), year)
    vectors = np.asarray(view.core.models.encode("entity", [text]), dtype=np.float32)
    return recall_vectors(view, vectors, config=config, exclude=[key])[0]


def recall_vectors(view: "ReadView", vectors: np.ndarray, top: int = 5, config: BankConfig | None = None,
                   components: Iterable[str] | None = None, exclude: Iterable[int] | None = None) -> list[Recall]:
    """Closed-book answers for key vectors; ``components`` restricts the blocks used,
    ``exclude`` holds entity keys never answered (each query's own subject)."""
    from .blocks import predict

    config = config or bank_config(view.storage)
    usable = usable_nodes(view)
    if components is not None:
        usable = {n: w for n, w in usable.items() if n in set(components)}
    tree = load_tree(view.storage)
    leaves = tree.route(vectors)
    paths = [tuple(n for n in [ANCHOR, *tree.path(leaf)] if n in usable) for leaf in leaves]
    predictions: dict[str, dict[int, np.ndarray]] = {}
    for node in sorted({n for path in paths for n in path}):
        rows = [i for i, path in enumerate(paths) if node in path]
        predictions[node] = dict(zip(rows, predict(load_block(view, usable[node]), vectors[rows])))
    mixed = np.array(vectors, dtype=np.float32)
    for i, path in enumerate(paths):
        if path:  # the mean of the path's standalone predictions
            combined = np.mean([predictions[node][i] for node in path], axis=0)
            mixed[i] = combined / max(float(np.linalg.norm(combined)), 1e-12)
    excluded = set(exclude or ())
    scores, ids = view.derived.vectors["entity"].search(mixed, top + len(excluded))
    names = view.storage.graph.entity_names({int(k) for k in ids.ravel() if k >= 0})
    out = []
    for i, path in enumerate(paths):
        if not path:
            out.append(Recall(None, 0.0, (), (), "no trained memory block covers this key "
                                                 "(the bank is awaiting retraining, or its blocks are switched off)"))
            continue
        found = [(names[int(k)], float(s)) for s, k in zip(scores[i], ids[i])
                 if k >= 0 and int(k) not in excluded and int(k) in names][:top]
        if not found:
            out.append(Recall(None, 0.0, path, (), "no entity to answer with"))
            continue
        logits = np.array([s for _, s in found]) / config.temperature
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        out.append(Recall(found[0][0], float(probabilities[0]), path, tuple(found)))
    return out


def entity_links(view: "ReadView", query: str, count: int) -> list[tuple[int, float, str]]:
    """The bank's ``count`` best entities for a question: ``(entity key, cosine x confidence, name)``."""
    vectors = np.asarray(view.core.models.encode("entity", [query]), dtype=np.float32)
    answer = recall_vectors(view, vectors, top=count)[0]
    if answer.answer is None:
        return []
    keys = view.storage.graph.entity_keys([name for name, _ in answer.alternatives])
    return [(keys[name], score * answer.confidence, name) for name, score in answer.alternatives[:count]
            if name in keys]
