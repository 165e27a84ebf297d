"""The perf benchmark runs end to end on the bundled sample (slow: run with -m slow)."""

from __future__ import annotations

import json

import pytest

from eval import perf

from .conftest import SAMPLE


@pytest.mark.slow
def test_perf_benchmark_on_bundled_sample(tmp_path):
    pytest.importorskip("igraph")
    out = tmp_path / "perf.json"
    assert perf.main(["--corpus", str(SAMPLE / "corpus.json"), "--questions", str(SAMPLE / "questions.json"),
                      "--batches", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["indexing"]["passages"] == 236 and result["indexing"]["batches"] == 3
    assert result["queries"]["queries"] == 12
    assert result["queries"]["max_abs_difference_vs_prpack"] < 1e-6
    assert set(result["queries"]["recall"]) == {"hipporag", "hipporag1", "dense", "bm25"}
    forgetting = result["forgetting"]
    assert forgetting["documents_forgotten"] == 20 and forgetting["forget_p50_ms"] > 0
    assert forgetting["rebuild_without_one_seconds"] > 0
    for stage in ("embedding", "linking", "ppr", "ranking", "total", "igraph_prpack"):
        assert result["queries"]["latency"][stage]["p50_ms"] > 0
