"""Retrieval metrics."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = ["recall_at_k", "percentile"]


def recall_at_k(ranked_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of gold passages among the first ``k`` ranked ids.

    >>> recall_at_k(["a", "x", "b"], {"a", "b"}, 2)
    0.5
    """
    gold = set(gold)
    if not gold:
        raise ValueError("no gold passages")
    return len(gold & set(ranked_ids[:k])) / len(gold)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of values (linear interpolation)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")
