"""FFN memory blocks: ``d -> h -> d`` added residually to the key, trained deterministically.

A block's prediction for a key ``q`` is ``p = q + W2 gelu(W1 q)``; its answer is the
one of *its own* answers (the objects of the facts it holds, plus :func:`defer_vector`,
"ask the level above") with the largest ``p . answer``. It is trained with softmax
cross-entropy over those answers, full batch (seeded mini-batches for large blocks), so
what a block learns depends on its facts alone: the same facts give the same weights,
bit for bit (fixed seed per node, canonical fact order, torch deterministic algorithms,
one thread). The output layer starts at zero (``p = q``), and the keys' scores against
the answers are computed once, so a step costs two small matrix products: a leaf of a
few hundred facts trains in a fraction of a second. The input layer is trained on keys
centred and scaled by the block's own key statistics (a subject's keys differ only by
their relation, so they sit close together), then the whitening is folded into its
weights.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

__all__ = ["FFNBlock", "TrainingSet", "train_block", "block_bytes", "block_from_bytes", "node_seed", "predict",
           "defer_vector", "scores"]


def defer_vector(dim: int) -> np.ndarray:
    """The unit vector a block answers with to say "not mine: ask the level above".

    Fixed for a dimension (seeded), nearly orthogonal to every entity embedding.

    >>> v = defer_vector(8); bool(abs(np.linalg.norm(v) - 1) < 1e-6) and bool((v == defer_vector(8)).all())
    True
    """
    vector = np.random.default_rng(20251).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FFNBlock(torch.nn.Module):
    """``x -> W2 gelu(W1 x + b1) + b2``, the correction a block adds to the key."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.up = torch.nn.Linear(dim, hidden)
        self.down = torch.nn.Linear(hidden, dim)

    def forward(self, keys: torch.Tensor) -> torch.Tensor:
        return self.down(torch.nn.functional.gelu(self.up(keys)))

    @property
    def parameter_count(self) -> int:
        """Number of trainable numbers."""
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class TrainingSet:
    """What a block learns: key vectors, the index of each answer among the candidate
    entity vectors, and those candidates (the entities of the block's facts)."""

    keys: np.ndarray
    answers: np.ndarray
    candidates: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def node_seed(seed: int, node: str) -> int:
    """A per-node seed derived from the bank's seed and the node id (stable across runs).

    >>> node_seed(0, "1.2") == node_seed(0, "1.2") != node_seed(0, "1.3")
    True
    """
    return int.from_bytes(hashlib.sha256(f"{seed}:{node}".encode()).digest()[:7], "big")


@contextmanager
def _deterministic() -> Iterator[None]:
    previous_flag = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_flag)
        torch.set_num_threads(previous_threads)


def train_block(data: TrainingSet, hidden: int, seed: int, epochs: int, learning_rate: float,
                temperature: float, batch_size: int, negatives: int = 512,
                module: torch.nn.Module | None = None, min_steps: int = 0) -> torch.nn.Module:
    """Train a block on its facts; the same inputs give bit-identical weights.

    Parameters
    ----------
    data : TrainingSet
        In canonical fact order; ``candidates`` are the block's answers.
    hidden : int
        Width of the hidden layer.
    seed : int
        Seeds the initialisation and the batch order (see :func:`node_seed`).
    epochs, learning_rate, temperature, batch_size :
        Adam over ``epochs`` passes: one full batch when the block has at most
        ``batch_size`` facts, else seeded mini-batches; logits are ``p . answer / temperature``.
    negatives : int
        With more answers than this (baselines over every fact), each mini-batch scores
        its targets and a seeded sample of this many others.
    module : torch.nn.Module, optional
        Train this correction module (``keys -> correction``) instead of a new
        :class:`FFNBlock` (benchmarks use it for baselines).
    min_steps : int
        At least this many optimiser steps (more passes for small blocks).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> keys = rng.normal(size=(20, 8)).astype(np.float32)
    >>> data = TrainingSet(keys / np.linalg.norm(keys, axis=1, keepdims=True), np.arange(20) % 5,
    ...                    rng.normal(size=(5, 8)).astype(np.float32))
    >>> a, b = (train_block(data, 4, 1, 5, 1e-2, 0.05, 64) for _ in range(2))
    >>> block_bytes(a) == block_bytes(b)
    True
    """
    with _deterministic():
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        keys = torch.from_numpy(np.ascontiguousarray(data.keys, dtype=np.float32))
        block = module if module is not None else FFNBlock(keys.shape[1], hidden)
        if len(data) == 0:
            block.eval()
            return block
        inputs, centre, spread = keys, None, None
        if module is None:  # the output starts at zero; the input layer sees whitened keys (folded in below)
            torch.nn.init.zeros_(block.down.weight)
            torch.nn.init.zeros_(block.down.bias)
            centre = keys.mean(dim=0)
            spread = float(((keys - centre) ** 2).sum(dim=1).mean().sqrt())
            spread = spread if spread > 1e-6 else 1.0
            inputs = (keys - centre) / spread
        answers = torch.from_numpy(np.asarray(data.answers, dtype=np.int64))
        candidates = torch.nn.functional.normalize(torch.from_numpy(
            np.ascontiguousarray(data.candidates, dtype=np.float32)), dim=1)
        sample = len(candidates) > negatives + batch_size
        base = None if sample else keys @ candidates.T  # the keys' own scores, computed once
        optimiser = torch.optim.Adam(block.parameters(), lr=learning_rate)
        batches = -(-len(keys) // batch_size)
        for _ in range(max(epochs, -(-min_steps // batches))):
            order = torch.randperm(len(keys), generator=generator) if batches > 1 else None
            for start in range(0, len(keys), batch_size):
                batch = order[start:start + batch_size] if order is not None else slice(None)
                targets = answers[batch]
                if sample:
                    drawn = torch.randperm(len(candidates), generator=generator)[:negatives]
                    chosen = torch.unique(torch.cat([targets, drawn]))
                    targets, pool = torch.searchsorted(chosen, targets), candidates[chosen]
                    logits = (keys[batch] + block(inputs[batch])) @ pool.T
                elif isinstance(block, FFNBlock):  # q.c once; the correction through c.W2 (cheaper)
                    hidden_out = torch.nn.functional.gelu(block.up(inputs[batch]))
                    logits = (base[batch] + hidden_out @ (candidates @ block.down.weight).T
                              + candidates @ block.down.bias)
                else:
                    logits = base[batch] + block(inputs[batch]) @ candidates.T
                loss = torch.nn.functional.cross_entropy(logits / temperature, targets)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        if centre is not None:  # fold the whitening into the input layer: a plain d -> h -> d block
            with torch.no_grad():
                block.up.weight.div_(spread)
                block.up.bias.sub_(block.up.weight @ centre)
        block.eval()
        return block


def block_bytes(block: FFNBlock) -> bytes:
    """The block's weights as safetensors bytes (no text in the metadata)."""
    tensors = {name: tensor.detach().contiguous() for name, tensor in block.state_dict().items()}
    return save_tensors(tensors, metadata={"shape": json.dumps([block.up.in_features,
                                                                 block.up.out_features])})


def block_from_bytes(data: bytes) -> FFNBlock:
    """Read a block written by :func:`block_bytes` (safetensors: no code is run)."""
    tensors = load_tensors(data)
    hidden, dim = tensors["up.weight"].shape
    block = FFNBlock(dim, hidden)
    block.load_state_dict(tensors)
    block.eval()
    return block


def predict(block: torch.nn.Module, keys: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Predictions ``q + block(q)`` for key vectors (not normalised: score them with :func:`scores`)."""
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.float32))
        return (tensor + block(tensor)).numpy()


def scores(predictions: np.ndarray, answers: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax over a block's answers of ``p . answer / temperature`` (answers normalised), one row per key.

    >>> scores(np.eye(2), np.eye(2), 1.0).round(3).tolist()
    [[0.731, 0.269], [0.269, 0.731]]
    """
    unit = answers / np.maximum(np.linalg.norm(answers, axis=1, keepdims=True), 1e-12)
    logits = predictions @ unit.T / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)
