"""The demo indexes the bundled sample and shows multi-hop hits with explanations."""

from __future__ import annotations

from memory.demo import run_demo


def test_demo_runs_on_the_bundled_sample(tmp_path, capsys):
    assert run_demo(tmp_path / "demo", questions=1, top_k=5) == 0
    out = capsys.readouterr().out
    assert "Indexing 236 MuSiQue passages" in out
    assert "hipporag:" in out and "dense:" in out
    assert out.count("Q: ") == 1  # one question shown in full
    assert "Recall@5 over all 12 sample questions" in out
