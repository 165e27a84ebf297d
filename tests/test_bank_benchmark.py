"""The memory-bank benchmark's pieces (eval.bank, eval.bank_baselines); the full run is slow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eval.bank import FactProbe, by_bucket, main, reword
from eval.bank_baselines import KeyValueMemory, matched_ffn, plot, train_baseline
from memory import BankConfig
from memory.bank.blocks import TrainingSet, predict, train_block


def _probe(bucket: str) -> FactProbe:
    return FactProbe(0, "s", "r", "s r", np.zeros(4, dtype=np.float32), frozenset({"o"}), "0", bucket)


def test_reword_changes_relations_generically() -> None:
    assert reword("was born in") == "is born in"
    assert reword("founded by") == "established by"
    assert reword("tributary of") == "tributary of"  # no rule applies: left out of the probe


def test_recall_by_bucket_counts_each_bucket() -> None:
    probes = [_probe("1"), _probe("1"), _probe("10+")]
    result = by_bucket(probes, [True, False, True])
    assert result["all"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["buckets"] == {"1": {"pairs": 2, "recall": 0.5}, "10+": {"pairs": 1, "recall": 1.0}}


def test_baselines_have_the_parameters_they_claim_and_learn() -> None:
    memory = KeyValueMemory(16, 50)
    assert memory.parameter_count == sum(p.numel() for p in memory.parameters()) == 2 * 50 * 16
    assert 900 <= matched_ffn(16, 1000).parameter_count <= 1000
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(40, 16)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    candidates = rng.normal(size=(10, 16)).astype(np.float32)
    answers = rng.integers(0, 10, 40)
    torch.manual_seed(0)
    trained = train_block(TrainingSet(keys, answers, candidates), 0, 1, 200, 1e-2, 0.05, 40,
                          module=KeyValueMemory(16, 64))
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    assert (np.argmax(predict(trained, keys) @ unit.T, axis=1) == answers).mean() > 0.8
    vectors = {f"e{i}": candidates[i] for i in range(10)}
    answer, _ = train_baseline(keys, [f"e{a}" for a in answers], vectors, matched_ffn(16, 4000),
                               BankConfig(learning_rate=1e-2), "dense", 100)
    assert np.mean([a == f"e{b}" for a, b in zip(answer(keys), answers)]) > 0.8


def test_plot_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    result = {"dataset": "toy", "closed_book": {"flat": {"recall": {"buckets": {"1": {"recall": 0.5}}}}},
              "abstention": {"curve": [{"threshold": 0.0, "precision": 0.9, "coverage_held_in": 1.0,
                                        "answered_never_seen": 1.0}], "chosen_threshold": 0.5},
              "forgetting": {"single_document_forget": {"seconds": [0.5, 0.7]}}}
    assert plot(result, tmp_path / "bank.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--forget-fraction", "1.5"])
    with pytest.raises(SystemExit):
        main(["--forget-seeds", "0"])


@pytest.mark.slow
def test_full_run_on_the_bundled_sample(tmp_path) -> None:
    out = tmp_path / "bank.json"
    assert main(["--dataset", "musique-sample", "--skip-multihop", "--json", str(out), "--single-forgets", "3",
                 "--updates", "3", "--baseline-epochs", "2", "--workdir", str(tmp_path), "--quiet",
                 "--forget-seeds", "2"]) == 0
    result = json.loads(out.read_text())
    hierarchical = result["closed_book"]["hierarchical bank"]["recall"]["all"]
    assert hierarchical > result["closed_book"]["dense FFN (same parameters)"]["recall"]["all"]
    forgetting = result["forgetting"]
    assert forgetting["forgotten_pairs"]["after"] <= forgetting["forgotten_pairs"]["before"]
    assert forgetting["single_document_forget"]["bit_identical_to_scratch"]
    # answers the subject still holds are left out of the second rate, never added
    assert forgetting["forgotten_pairs_not_still_held"]["after"] <= forgetting["forgotten_pairs"]["after"]
    by_seed = forgetting["by_seed"]
    assert [row["seed"] for row in by_seed["per_seed"]] == [0, 1]
    # the run's own seed repeats the main forgetting section exactly (same fit, same documents)
    first = by_seed["per_seed"][0]["forgotten_pairs"]
    assert first == {"after": forgetting["forgotten_pairs"]["after"],
                     "never": forgetting["forgotten_pairs"]["never_trained"]}
    assert by_seed["forgotten_pairs"]["difference_standard_error"] is not None
    assert result["updates"]["new_object_recalled"] >= 0.9
