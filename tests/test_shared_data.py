"""Checks on ../shared/data; skipped cleanly when it is absent."""

from __future__ import annotations

import pytest

from eval.datasets import load_musique, shared_data_dir

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(not (SHARED / "musique").exists(), reason="../shared/data not available")


@needs_shared
def test_musique_loader_finds_every_gold_passage():
    dataset = load_musique(SHARED / "musique" / "musique_train_corpus.json",
                           SHARED / "musique" / "musique_train_100.json")
    assert len(dataset.corpus) == 1890 and len(dataset.questions) == 100
    ids = {d["id"] for d in dataset.corpus}
    assert all(2 <= len(q.gold_ids) <= 4 and q.gold_ids <= ids for q in dataset.questions)


@pytest.mark.skipif(not (SHARED / "hotpotqa").exists(), reason="../shared/data not available")
def test_hotpotqa_loader_finds_every_gold_passage():
    from eval.datasets import load_hotpotqa

    dataset = load_hotpotqa(SHARED / "hotpotqa" / "hotpotqa_train_corpus.json",
                            SHARED / "hotpotqa" / "hotpotqa_train_100.json")
    assert len(dataset.corpus) == 994 and len(dataset.questions) == 100
    assert all(len(q.gold_ids) == 2 for q in dataset.questions)
