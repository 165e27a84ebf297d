"""eval.ppr runs end to end on a small graph and writes what it reports."""

from __future__ import annotations

import json

import pytest

from eval.ppr import main, store_agreement, synthetic_benchmark


def test_synthetic_benchmark_reports_times_ratios_and_agreement():
    out = synthetic_benchmark(2200, queries=3, seed=1, prpack=True)
    assert out["nodes"] == 2200 and out["queries"] == 3
    for key in ("power_iteration", "push", "igraph_prpack"):
        assert out[key]["p50_ms"] > 0 and out[key]["p95_ms"] >= out[key]["p50_ms"]
    assert out["power_over_push_median"] > 0 and out["prpack_over_push_median"] > 0
    assert 0.0 <= out["agreement_top5_set"] <= 1.0 and out["agreement_top5_ordered"] <= out["agreement_top5_set"]
    assert out["push_work_median"]["candidate_pushes"] > 0


def test_cli_writes_json_and_a_table(tmp_path, capsys):
    target = tmp_path / "ppr.json"
    assert main(["--sizes", "1100", "--queries", "2", "--no-prpack", "--json", str(target),
                 "--set", "depth=2", "--quiet"]) == 0
    result = json.loads(target.read_text())
    assert result["push_settings"]["depth"] == 2
    assert result["synthetic"][0]["nodes"] == 1100 and "igraph_prpack" not in result["synthetic"][0]
    assert "| 1,100 |" in capsys.readouterr().out


@pytest.mark.slow
def test_store_agreement_ranks_with_the_push_whatever_the_default(tmp_path):
    # the bundled sample's graph is far below push_min_nodes, where the default walks by
    # power iteration: the agreement must still compare the push with power iteration
    out = store_agreement("musique-sample", tmp_path / "store", limit=4)["summary"]
    assert out["graph_queries"] > 0
    assert out["methods"] == ["push"]
    assert 0.0 <= out["agreement_top5_set"] <= 1.0
