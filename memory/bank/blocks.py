"""FFN memory blocks: ``d -> h -> d`` added residually to the key, trained deterministically.

A block's standalone prediction for a key ``q`` is ``q + W2 gelu(W1 q)``; it is
trained with a contrastive (InfoNCE) loss whose candidates are the entities of its
own training facts, so what a block learns depends on its facts alone: the same
facts give the same weights, bit for bit (fixed seed per node, canonical fact
order, torch deterministic algorithms, one thread).
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

__all__ = ["FFNBlock", "TrainingSet", "train_block", "block_bytes", "block_from_bytes", "node_seed", "predict"]


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
        In canonical fact order.
    hidden : int
        Width of the hidden layer.
    seed : int
        Seeds the initialisation and the batch order (see :func:`node_seed`).
    epochs, learning_rate, temperature, batch_size :
        Adam steps over shuffled mini-batches; logits are cosines / temperature.
    negatives : int
        Candidates per batch besides the batch's answers: all of them when there are
        at most this many, else a seeded sample (so cost does not grow with the
        number of entities).
    min_steps : int
        At least this many optimiser steps (more epochs for small training sets, so
        a leaf with a few dozen facts is trained as long as a large block).
    module : torch.nn.Module, optional
        Train this correction module (``keys -> correction``) instead of a new
        :class:`FFNBlock` (benchmarks use it for baselines).
    """
    with _deterministic():
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        keys = torch.from_numpy(np.ascontiguousarray(data.keys, dtype=np.float32))
        block = module if module is not None else FFNBlock(keys.shape[1], hidden)
        if len(data) == 0:
            return block
        answers = torch.from_numpy(np.asarray(data.answers, dtype=np.int64))
        candidates = torch.nn.functional.normalize(torch.from_numpy(
            np.ascontiguousarray(data.candidates, dtype=np.float32)), dim=1)
        sample = len(candidates) > negatives + batch_size
        optimiser = torch.optim.Adam(block.parameters(), lr=learning_rate)
        batches = -(-len(keys) // batch_size)
        for _ in range(max(epochs, -(-min_steps // batches))):
            order = torch.randperm(len(keys), generator=generator)
            for start in range(0, len(keys), batch_size):
                batch = order[start:start + batch_size]
                targets, pool = answers[batch], candidates
                if sample:
                    drawn = torch.randperm(len(candidates), generator=generator)[:negatives]
                    chosen = torch.unique(torch.cat([targets, drawn]))
                    targets, pool = torch.searchsorted(chosen, targets), candidates[chosen]
                predicted = torch.nn.functional.normalize(keys[batch] + block(keys[batch]), dim=1)
                loss = torch.nn.functional.cross_entropy(predicted @ pool.T / temperature, targets)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
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
    """Standalone unit predictions ``normalize(q + block(q))`` for key vectors."""
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.float32))
        return torch.nn.functional.normalize(tensor + block(tensor), dim=1).numpy()
