"""Baselines for the memory-bank benchmark, trained like a bank block on all facts.

- :class:`KeyValueMemory`: learned slots (key, value); a query reads the softmax-weighted
  values of its ``top`` best-matching keys (the paper's key-value memory comparison).
- a single dense FFN (:class:`memory.bank.FFNBlock`) whose hidden width gives the same
  parameter count as the bank it is compared with.
"""

from __future__ import annotations

import torch

from memory.bank import FFNBlock

__all__ = ["KeyValueMemory", "matched_ffn"]


class KeyValueMemory(torch.nn.Module):
    """``q -> sum_i softmax(q . k_i / t)_top v_i`` over ``slots`` learned (key, value) pairs.

    Parameters
    ----------
    dim : int
        Key and value size.
    slots : int
        Number of (key, value) pairs: ``2 * slots * dim`` parameters.
    top : int
        Values read per query.
    temperature : float
        Softmax temperature of the key scores.
    """

    def __init__(self, dim: int, slots: int, top: int = 16, temperature: float = 0.05) -> None:
        super().__init__()
        self.keys = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(slots, dim), dim=1))
        self.values = torch.nn.Parameter(torch.zeros(slots, dim))
        self.top = min(top, slots)
        self.temperature = temperature

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        scores = queries @ torch.nn.functional.normalize(self.keys, dim=1).T / self.temperature
        best, index = scores.topk(self.top, dim=1)
        weights = torch.softmax(best, dim=1)
        return (weights.unsqueeze(2) * self.values[index]).sum(dim=1)

    @property
    def parameter_count(self) -> int:
        """Number of trainable numbers."""
        return self.keys.numel() + self.values.numel()


def matched_ffn(dim: int, parameters: int) -> FFNBlock:
    """A dense FFN with about ``parameters`` trainable numbers.

    >>> matched_ffn(8, 1000).parameter_count <= 1000
    True
    """
    hidden = max(1, (parameters - dim) // (2 * dim + 1))
    return FFNBlock(dim, hidden)
