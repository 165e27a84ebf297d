"""Baselines and the plot of the memory-bank benchmark.

- :class:`KeyValueMemory`: learned slots (key, value); a query reads the softmax-weighted
  values of its ``top`` best-matching keys (the paper's key-value memory comparison).
- a single dense FFN (:class:`memory.bank.FFNBlock`) whose hidden width gives the same
  parameter count as the bank it is compared with.
- :func:`train_baseline`: either, trained like a bank block on every fact at once, answering
  among every stored object (a bank block answers among its own facts' objects).
- :func:`plot`: recall per frequency bucket, the abstention curve and forgetting latencies.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from memory.bank import FFNBlock
from memory.bank.blocks import TrainingSet, node_seed, predict, train_block

__all__ = ["KeyValueMemory", "matched_ffn", "train_baseline", "plot"]

logger = logging.getLogger(__name__)


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


def train_baseline(keys: np.ndarray, answers: Sequence[str], vectors: dict[str, np.ndarray], module: Any,
                   config: Any, name: str, epochs: int) -> tuple[Callable[[np.ndarray], list[str]], float]:
    """Train ``module`` on every (key, answer) at once; returns its answer function and seconds.

    Parameters
    ----------
    keys : numpy.ndarray
        One key vector per fact.
    answers : sequence of str
        Each fact's object.
    vectors : dict
        Object name -> embedding (the answers the baseline chooses among).
    module : torch.nn.Module
        The correction module (``keys -> correction``).
    config : BankConfig
        Learning rate, temperature, batch size and negatives, as for bank blocks.
    name : str
        Seeds the training (with ``config.seed``).
    epochs : int
        Passes over the facts.
    """
    names = sorted(vectors)
    index = {n: i for i, n in enumerate(names)}
    candidates = np.stack([vectors[n] for n in names]).astype(np.float32)
    data = TrainingSet(np.asarray(keys, dtype=np.float32), np.array([index[a] for a in answers]), candidates)
    began = time.perf_counter()
    trained = train_block(data, 0, node_seed(config.seed, name), epochs, config.learning_rate,
                          config.temperature, config.batch_size, config.negatives, module=module)
    seconds = time.perf_counter() - began
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)

    def answer(queries: np.ndarray) -> list[str]:
        out: list[str] = []
        for start in range(0, len(queries), 1024):
            scores = predict(trained, queries[start:start + 1024]) @ unit.T
            out += [names[int(i)] for i in np.argmax(scores, axis=1)]
        return out

    return answer, seconds


def plot(result: dict[str, Any], path: Path) -> Path | None:
    """Recall per frequency bucket per system, the abstention curve and forgetting latencies, as a PNG.

    Returns None (and logs why) when matplotlib is not installed (``pip install -e ".[eval]"``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no plot (pip install -e '.[eval]')")
        return None
    figure, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    systems = result["closed_book"]
    buckets = list(next(iter(systems.values()))["recall"]["buckets"])
    width = 0.8 / max(1, len(systems))
    for i, (name, row) in enumerate(systems.items()):
        values = [row["recall"]["buckets"].get(b, {}).get("recall") or 0 for b in buckets]
        axes[0].bar(np.arange(len(buckets)) + i * width, values, width, label=name)
    axes[0].set_xticks(np.arange(len(buckets)) + 0.4 - width / 2, buckets)
    axes[0].set_xlabel("documents mentioning the subject")
    axes[0].set_ylabel("recall of (subject, relation) pairs")
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"{result['dataset']}: closed-book recall at equal parameters")
    curve = result.get("abstention", {}).get("curve", [])
    if curve:
        axes[1].plot([c["threshold"] for c in curve], [c["precision"] or 0 for c in curve], label="precision (all)")
        axes[1].plot([c["threshold"] for c in curve], [c["coverage_held_in"] or 0 for c in curve],
                     label="coverage, held-in")
        axes[1].plot([c["threshold"] for c in curve], [c["answered_never_seen"] or 0 for c in curve],
                     label="answered, never-seen")
        axes[1].axvline(result["abstention"].get("chosen_threshold", 0.5), color="grey", linestyle=":")
        axes[1].set_xlabel("confidence threshold")
        axes[1].legend(fontsize=7)
        axes[1].set_title("abstention")
    times = result.get("forgetting", {}).get("single_document_forget", {}).get("seconds", [])
    if times:
        axes[2].hist(times, bins=20)
        axes[2].set_xlabel("seconds to forget one document (bank retrained)")
        axes[2].set_title("forgetting latency")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
