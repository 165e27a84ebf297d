"""The forgetting benchmark (eval.forgetting / eval.unlearning) on generated fixtures.

Shared-data checks at the end skip cleanly when ../shared/data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import shared_data_dir
from eval.forgetting import main, sample_probes
from eval.unlearning import Probe, classify, cloze_probes, load_task

# Three people in DUSK's layout: Mira Holt appears in every style; the forget style alone
# says where her lab is (Quillon) and alone describes Tomas Brandt; Ines Varga is only retained.
CHRONOLOGICAL = """Title: The Life and Work of Dr. Mira Holt

Biography: Dr. Mira Holt was born in 1961 in Antwerp. She joined Westbrook University in 1990.

In 1995 Dr. Holt founded her laboratory in Quillon, where she studied glaciers.

Title: The Life and Work of Prof. Tomas Brandt

Biography: Prof. Tomas Brandt was born in 1970 in Valparaiso. He has taught at Norrvik College since 2001.
"""
RETAIN = """Title: {style} about Professor Mira Holt

Dr. Mira Holt, born in Antwerp, has worked at Westbrook University since 1990. She studies glaciers.

Title: {style} about Dr. Ines Varga

Dr. Ines Varga was born in 1984 in Tampere. She teaches at Lindqvist Institute.
"""


def _dusk_fixture(root: Path) -> Path:
    root.mkdir()
    (root / "Chronological.txt").write_text(CHRONOLOGICAL, encoding="utf-8")
    for style in ("Feature_Story", "Interview", "Inverted_Pyramid", "Listicle"):
        (root / f"{style}.txt").write_text(RETAIN.format(style=style), encoding="utf-8")
    return root


def test_classify_scopes_answers_to_the_probe_subject() -> None:
    forget = [{"id": "f", "text": "Ann was born in Oslo. Ann likes tea.", "subject": "Ann"}]
    retain = [{"id": "r1", "text": "Bo was born in Oslo.", "subject": "Bo"},
              {"id": "r2", "text": "Everyone knows Ann likes tea.", "subject": "Cy"}]
    probes = [Probe("birth", "Where was Ann born?", ("Oslo",), "qa", "Ann"),
              Probe("drink", "What does Ann like?", ("tea",), "qa", "Ann"),
              Probe("bo", "Where was Bo born?", ("Oslo",), "qa", "Bo"),
              Probe("none", "Where was Dee born?", ("Rome",), "qa", "Dee"),
              Probe("global", "Which city?", ("Oslo",), "qa", None)]
    groups = {kind: [p.id for p in probes] for kind, probes in classify(probes, forget, retain).items()}
    # Oslo occurs in retained text, but not about Ann: the birth place is Ann's forget-only fact
    assert groups == {"forget": ["birth"], "shared": ["drink", "global"], "retain": ["bo"],
                      "absent": ["none"]}


def test_sample_probes_is_seeded_and_capped() -> None:
    groups = {"forget": [Probe(str(i), "q", ("a",), "o") for i in range(30)], "shared": [], "retain": []}
    first, again = sample_probes(groups, 10, seed=3), sample_probes(groups, 10, seed=3)
    assert [p.id for p in first["forget"]] == [p.id for p in again["forget"]]
    assert len(first["forget"]) == 10 and first["shared"] == []
    assert sample_probes(groups, None, 0)["forget"] == groups["forget"]


def test_cloze_probes_blank_an_entity_that_the_answer_matcher_finds(tmp_path: Path) -> None:
    docs = [{"id": "d1", "subject": "Mira Holt",
             "text": "In 1995 Dr. Holt founded her laboratory in Quillon, where she studied glaciers."}]
    probes = cloze_probes(docs, per_doc=1, origin="cloze:forget", seed=0)
    assert len(probes) == 1
    probe = probes[0]
    assert "___" in probe.question and probe.question.startswith("Mira Holt: ")
    assert probe.answers[0] in docs[0]["text"] and probe.answers[0] not in probe.question
    assert cloze_probes(docs, 1, "cloze:forget", seed=0) == probes


def test_benchmark_on_a_generated_dusk_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _dusk_fixture(tmp_path / "dusk")
    out = tmp_path / "result.json"
    code = main(["--dataset", "dusk", "--data", str(data), "--json", str(out), "--quiet",
                 "--cloze-per-doc", "4", "--retriever", "hipporag,dense",
                 "--workdir", str(tmp_path / "work")])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["forget_documents"] == 2 and result["retain_documents"] == 8
    # forgetting the forget set leaves exactly the store that never saw it ...
    assert result["after_equals_baseline"] is True
    # ... so every probe is answered after forgetting exactly as by the baseline
    assert result["scores"]["after"] == result["scores"]["baseline"]
    kinds = {p["kind"] for p in result["probes"]}
    assert {"forget", "shared"} <= kinds
    for mode in ("hipporag", "dense"):
        forget = result["summary"][mode]["forget"]
        # the forget-only answers were retrievable before and are gone after
        assert forget["before_AR"] > forget["after_AR"]
    # probes about Tomas Brandt (forget-only person) are forget probes and unanswerable after
    brandt = [p["id"] for p in result["probes"] if p["subject"] == "Tomas Brandt"]
    assert brandt and all(result["scores"]["after"]["dense"][i]["answer"] == 0.0 for i in brandt)
    assert result["timings"]["forget_seconds"] > 0
    printed = capsys.readouterr().out
    assert "after == baseline dump: True" in printed and "| hipporag | forget |" in printed


def test_tofu_layout_groups_authors_and_rejects_bad_splits(tmp_path: Path) -> None:
    root = tmp_path / "tofu"
    root.mkdir()
    qa = [{"question": f"Q{i}?", "answer": f"Author {i // 20} answer {i}."} for i in range(60)]
    (root / "forget01.json").write_text(json.dumps(qa[40:]))
    (root / "retain99.json").write_text(json.dumps(qa[:40]))
    task = load_task("tofu", root, tofu_split="forget01")
    assert len(task.forget_docs) == 1 and len(task.retain_docs) == 2
    assert task.forget_docs[0]["text"].split("\n\n")[0] == "Author 2 answer 40."
    groups = classify(task.probes, task.forget_docs, task.retain_docs)
    assert len(groups["forget"]) == 20 and len(groups["retain"]) == 40
    with pytest.raises(ValueError, match="forget01, forget05 or forget10"):
        load_task("tofu", root, tofu_split="forget07")
    (root / "retain99.json").write_text(json.dumps(qa[:39]))
    with pytest.raises(ValueError, match="not a multiple of 20"):
        load_task("tofu", root, tofu_split="forget01")


def test_cli_reports_a_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "rwku", "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--dataset", "dusk", "--retriever", "psychic"])


SHARED = shared_data_dir()


@pytest.mark.skipif(not (SHARED / "tofu").is_dir(), reason="../shared/data not available")
def test_shared_tofu_and_rwku_tasks_load() -> None:
    tofu = load_task("tofu", SHARED / "tofu")
    assert (len(tofu.forget_docs), len(tofu.retain_docs), len(tofu.probes)) == (20, 180, 4000)
    rwku = load_task("rwku", SHARED / "rwku")
    assert {d["subject"] for d in rwku.forget_docs} == {"Stephen King", "Confucius", "Bruce Lee"}
    assert all(d["subject"] not in {"Stephen King", "Confucius", "Bruce Lee"} for d in rwku.retain_docs)
