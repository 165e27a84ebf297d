"""Checks on ../shared/data; skipped cleanly when it is absent."""

from __future__ import annotations

import pytest

from eval.datasets import DATASETS, load_named


@pytest.mark.parametrize("name, passages, questions, golds", [
    ("musique", 1890, 100, (2, 4)),
    ("hotpotqa", 994, 100, (2, 2)),
    ("2wiki", 264, 40, (2, 4)),
])
def test_shared_loader_finds_every_gold_passage(name, passages, questions, golds):
    if not DATASETS[name].available():
        pytest.skip("../shared/data not available")
    dataset, _ = load_named(name)
    assert len(dataset.corpus) == passages and len(dataset.questions) == questions
    ids = {d["id"] for d in dataset.corpus}
    low, high = golds
    assert all(low <= len(q.gold_ids) <= high and q.gold_ids <= ids for q in dataset.questions)
