"""Retrieval metrics."""

from __future__ import annotations

import re
import string
from typing import Iterable, Sequence

import numpy as np

__all__ = ["recall_at_k", "answer_in_passages", "normalize_answer", "percentile", "exact_match", "token_f1",
           "mean_rate"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def recall_at_k(ranked_ids: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of gold passages among the first ``k`` ranked ids.

    >>> recall_at_k(["a", "x", "b"], {"a", "b"}, 2)
    0.5
    """
    gold = set(gold)
    if not gold:
        raise ValueError("no gold passages")
    return len(gold & set(ranked_ids[:k])) / len(gold)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace (SQuAD style).

    >>> normalize_answer("The  Beatles!")
    'beatles'
    """
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def answer_in_passages(passages: Sequence[str], answers: Iterable[str]) -> float:
    """1.0 when a normalised answer occurs, on word boundaries, in a normalised passage.

    >>> answer_in_passages(["Paris is the capital of France."], ["paris", "Lutetia"])
    1.0
    >>> answer_in_passages(["Parisian cafés"], ["Paris"])
    0.0
    """
    needles = [normalize_answer(a) for a in answers]
    needles = [n for n in needles if n]
    if not needles:
        raise ValueError("no non-empty answer")
    haystacks = [f" {normalize_answer(p)} " for p in passages]
    return float(any(f" {n} " in h for n in needles for h in haystacks))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of values (linear interpolation)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def exact_match(prediction: str, answers: Iterable[str]) -> float:
    """1.0 when the normalised prediction equals a normalised answer (SQuAD EM).

    >>> exact_match("the Beatles", ["Beatles", "John"])
    1.0
    """
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Iterable[str]) -> float:
    """Best token-overlap F1 of the prediction against the answers (SQuAD F1).

    >>> round(token_f1("Lakeview town", ["Lakeview"]), 3)
    0.667
    """
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum(min(predicted.count(t), gold.count(t)) for t in set(predicted))
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def mean_rate(outcomes: Sequence[float]) -> float | None:
    """The mean of per-item outcomes (1/0 flags or scores), to 4 decimals; None when there are none.

    >>> mean_rate([True, False, True]), mean_rate([])
    (0.6667, None)
    """
    return round(sum(outcomes) / len(outcomes), 4) if outcomes else None
