"""The multi-hop benchmark: loaders, metrics and the ``python -m eval.multihop`` entrypoint."""

from __future__ import annotations

import json

import pytest

from eval import multihop
from eval.datasets import DATASETS, load_corpus, load_dataset, load_named
from eval.metrics import answer_in_passages, normalize_answer, recall_at_k

from .conftest import BRIDGE_CORPUS


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- loaders ------------------------------------------------------------------------------


def test_musique_format_matches_repeated_titles_by_text(tmp_path):
    corpus = _write(tmp_path / "corpus.json", [
        {"title": "Paris", "text": "Paris is the capital of France."},
        {"title": "Paris", "text": "Paris is a city in Texas."},
        {"title": "Texas", "text": "Texas is a state."},
    ])
    questions = _write(tmp_path / "q.json", [{
        "id": "q1", "question": "Which state has a Paris?", "answer": "Texas", "answer_aliases": ["TX"],
        "paragraphs": [
            {"title": "Paris", "paragraph_text": "Paris is the capital of France.", "is_supporting": False},
            {"title": "Paris", "paragraph_text": "Paris is a  city in Texas.", "is_supporting": True},
            {"title": "Texas", "paragraph_text": "Texas is a state.", "is_supporting": True},
        ]}])
    dataset = load_dataset(questions, corpus, name="toy")
    assert [d["id"] for d in dataset.corpus] == ["toy-0", "toy-1", "toy-2"]
    (question,) = dataset.questions
    assert question.gold_ids == {"toy-1", "toy-2"}  # whitespace-normalised text match
    assert question.answers == ("Texas", "TX")


def test_hotpotqa_format_with_a_sentence_dict_corpus(tmp_path):
    corpus = _write(tmp_path / "corpus.json", {
        "Lilu": ["Lilu is a demon.", " It appears in myths."],
        "Gallu": ["Gallu is a demon of the underworld."],
        "Other": ["Unrelated text."],
    })
    questions = _write(tmp_path / "q.json", [{
        "_id": "h1", "question": "Is Lilu a demon like Gallu?", "answer": "yes",
        "supporting_facts": [["Lilu", 0], ["Gallu", 0], ["Lilu", 1]],
        "context": [["Lilu", ["Lilu is a demon.", " It appears in myths."]],
                    ["Gallu", ["Gallu is a demon of the underworld."]]]}])
    dataset = load_dataset(questions, corpus)
    assert dataset.corpus[0]["text"] == "Lilu is a demon. It appears in myths."
    assert dataset.questions[0].gold_ids == {f"{questions.stem}-0", f"{questions.stem}-1"}


def test_2wiki_format_builds_the_corpus_from_contexts(tmp_path):
    questions = _write(tmp_path / "2wiki.json", [
        {"_id": "a", "question": "When did X's mother die?", "answer": "851",
         "supporting_facts": [["X", 1], ["Y", 0]],
         "context": [["X", ["X was a king.", "His mother was Y."]], ["Y", ["Y died in 851."]],
                     ["Z", ["Z is a distractor."]]]},
        {"_id": "b", "question": "Who was Y?", "answer": "a queen",
         "supporting_facts": [["Y", 0]],
         "context": [["Y", ["Y died in 851."]], ["W", ["W is another."]]]},
    ])
    dataset = load_dataset(questions)
    texts = {d["title"]: d["text"] for d in dataset.corpus}
    assert texts == {"X": "X was a king. His mother was Y.", "Y": "Y died in 851.",
                     "Z": "Z is a distractor.", "W": "W is another."}
    ids = {d["title"]: d["id"] for d in dataset.corpus}
    assert [q.gold_ids for q in dataset.questions] == [{ids["X"], ids["Y"]}, {ids["Y"]}]
    assert len(load_dataset(questions, limit=1).questions) == 1


def test_gold_titles_format_without_answers(tmp_path):
    questions = _write(tmp_path / "g.json", [{
        "question": "Who?", "gold_titles": ["A", "B"],
        "passages": [{"title": "A", "text": "a", "is_gold": True}, {"title": "B", "text": "b", "is_gold": True},
                     {"title": "C", "text": "c", "is_gold": False}]}])
    dataset = load_dataset(questions)
    assert len(dataset.corpus) == 3 and dataset.questions[0].answers == ()
    assert len(dataset.questions[0].gold_ids) == 2


@pytest.mark.parametrize("corpus, question, message", [
    ([{"title": "A", "text": "a"}], {"question": "q", "paragraphs": [
        {"title": "B", "paragraph_text": "b", "is_supporting": True}]}, "'B' is not in the corpus"),
    ([{"title": "A", "text": "a1"}, {"title": "A", "text": "a2"}], {"question": "q", "paragraphs": [
        {"title": "A", "paragraph_text": "a3", "is_supporting": True}]}, "matches 2 corpus passages"),
    ([{"title": "A", "text": "a"}], {"question": "q", "passages": []}, "none of 'paragraphs'"),
    ([{"title": "A", "text": "a"}], {"question": "q", "paragraphs": [
        {"title": "A", "paragraph_text": "a", "is_supporting": False}]}, "no gold passage"),
    ([{"title": "A"}], {"question": "q", "paragraphs": [
        {"title": "A", "paragraph_text": "a", "is_supporting": True}]}, "no 'text' string"),
    ([{"title": "A", "text": "a"}], {"text": "no question"}, "no 'question' string"),
])
def test_bad_benchmark_files_are_named_errors(tmp_path, corpus, question, message):
    corpus_path = _write(tmp_path / "c.json", corpus)
    questions_path = _write(tmp_path / "q.json", [question])
    with pytest.raises(ValueError, match=message):
        load_dataset(questions_path, corpus_path)


def test_corpus_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_corpus(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_corpus(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="must be a list"):
        load_corpus(_write(tmp_path / "n.json", 3))


@pytest.mark.parametrize("name", [n for n in DATASETS if n.endswith("-sample")])
def test_bundled_samples_load_with_every_gold_passage(name):
    dataset, openie = load_named(name)
    ids = {d["id"] for d in dataset.corpus}
    assert len(dataset.questions) == 12
    assert all(q.gold_ids and q.gold_ids <= ids for q in dataset.questions)
    assert (openie is not None) == (name == "musique-sample")


def test_unknown_or_absent_named_dataset(monkeypatch, tmp_path):
    with pytest.raises(KeyError, match="unknown dataset"):
        load_named("nope")
    monkeypatch.setenv("MEMORY_SHARED_DATA", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="not on this machine"):
        load_named("musique")


# -- metrics ------------------------------------------------------------------------------


def test_recall_and_answer_recall_known_values():
    assert recall_at_k(["a", "b", "c"], {"c", "d"}, 2) == 0.0
    assert recall_at_k(["a", "b", "c"], {"c", "d"}, 3) == 0.5
    assert recall_at_k(["a"], {"a"}, 5) == 1.0
    with pytest.raises(ValueError):
        recall_at_k(["a"], set(), 1)
    assert normalize_answer("The U.S. Army!") == "us army"
    assert answer_in_passages(["It served in the U.S. Army."], ["US Army"]) == 1.0
    assert answer_in_passages(["an army of one"], ["US Army"]) == 0.0
    assert answer_in_passages(["born 1950"], ["195"]) == 0.0  # whole words only
    with pytest.raises(ValueError):
        answer_in_passages(["x"], ["", "  "])


# -- the entrypoint -----------------------------------------------------------------------


@pytest.fixture
def bridge_benchmark(tmp_path):
    corpus = _write(tmp_path / "corpus.json", [{"title": d["title"], "text": d["text"]} for d in BRIDGE_CORPUS])
    questions = _write(tmp_path / "questions.json", [
        {"id": "q1", "question": "In which country was Alice Varga born?", "answer": "Norland",
         "paragraphs": [{"title": "Alice Varga", "paragraph_text": BRIDGE_CORPUS[0]["text"], "is_supporting": True},
                        {"title": "Lakeview", "paragraph_text": BRIDGE_CORPUS[1]["text"], "is_supporting": True}]},
        {"id": "q2", "question": "Which town has a famous school?", "answer": "Harrow",
         "paragraphs": [{"title": "Harrow", "paragraph_text": BRIDGE_CORPUS[4]["text"], "is_supporting": True}]},
    ])
    return corpus, questions


def test_entrypoint_reports_and_reproduces(tmp_path, bridge_benchmark, capsys):
    corpus, questions = bridge_benchmark
    argv = ["--questions", str(questions), "--corpus", str(corpus), "--retriever", "dense,hipporag,hybrid",
            "--top-k", "1,6", "--store", str(tmp_path / "store"), "--quiet"]
    assert multihop.main(argv + ["--json", str(tmp_path / "a.json")]) == 0
    table = capsys.readouterr().out
    assert "| retriever | R@1 | R@6 | AR@1 | AR@6 |" in table and "| hybrid |" in table
    first = json.loads((tmp_path / "a.json").read_text())
    assert first["passage_count"] == 6 and first["question_count"] == 2 and first["extractor"] == "spacy"
    for name in ("dense", "hipporag", "hybrid"):
        row = first["summary"][name]
        assert row["R@6"] == 1.0 and row["AR@6"] == 1.0  # six passages: all of them are returned
        assert 0.0 <= row["R@1"] <= 0.75
    q2 = first["questions"][1]["runs"]["dense"]
    assert q2["R@1"] == 1.0 and len(q2["ranked"]) == 6
    # A second run reuses the store (nothing re-indexed) and gives the same numbers.
    assert multihop.main(argv + ["--json", str(tmp_path / "b.json")]) == 0
    second = json.loads((tmp_path / "b.json").read_text())
    assert second["summary"].keys() == first["summary"].keys()
    for name in first["summary"]:
        for metric in ("R@1", "R@6", "AR@1", "AR@6"):
            assert second["summary"][name][metric] == first["summary"][name][metric]
    assert second["questions"] == first["questions"]


def test_entrypoint_ablations_and_overrides(tmp_path, bridge_benchmark, capsys):
    corpus, questions = bridge_benchmark
    code = multihop.main(["--questions", str(questions), "--corpus", str(corpus), "--ablations",
                          "--set", "damping=0.3", "--json", str(tmp_path / "r.json"), "--quiet"])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert list(result["summary"]) == list(multihop.ABLATIONS)
    assert result["retrieval"]["damping"] == 0.3


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "musique-sample", "--retriever", "magic"], "unknown retriever"),
    (["--dataset", "musique-sample", "--top-k", "0"], "positive"),
    (["--dataset", "musique-sample", "--set", "colour=blue"], "FIELD=VALUE"),
    (["--dataset", "musique-sample", "--limit", "0"], "positive"),
    (["--dataset", "no-such-set"], "invalid choice"),
    ([], "required"),
])
def test_entrypoint_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        multihop.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_entrypoint_missing_file_is_a_clear_error(tmp_path, capsys):
    assert multihop.main(["--questions", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_entrypoint_on_a_bundled_sample_with_openie(tmp_path, capsys):
    code = multihop.main(["--dataset", "musique-sample", "--openie", "--retriever", "dense,hipporag",
                          "--limit", "3", "--json", str(tmp_path / "r.json"), "--quiet"])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["extractor"] == "openie:openie.json" and result["passage_count"] == 236
    assert len(result["questions"]) == 3
    assert result["store"]["facts"] > 0


def test_forgetting_the_bridge_matches_a_store_that_never_had_it(tmp_path, bridge_benchmark, capsys):
    corpus, questions = bridge_benchmark
    out = tmp_path / "forget.json"
    assert multihop.main(["--questions", str(questions), "--corpus", str(corpus), "--retriever", "hipporag",
                          "--forget", "hop,fact,entity", "--forget-limit", "1", "--json", str(out), "--quiet"]) == 0
    forget = json.loads(out.read_text())["forget"]
    hop = forget["hop"]
    assert hop["cases"] == 1 and hop["forgotten"][0]["passage"].endswith("0")  # Alice Varga's passage
    assert hop["forgotten"][0]["entity"] == "lakeview"
    for kind in ("hop", "fact", "entity"):
        if not forget[kind].get("cases"):
            continue
        efficacy = forget[kind]["efficacy"]
        assert efficacy["returned_after"] == 0 and efficacy["leak"] == 0.0
        assert efficacy["after_equals_never"] == 1.0
        assert set(efficacy["by_variant"]) >= {"question", "paraphrase 1", "paraphrase 2"}
        collateral = forget[kind]["collateral"]
        assert collateral["R@5"]["after"] == collateral["R@5"]["never"] and collateral["lost_vs_never"] == 0
    assert hop["efficacy"]["returned_before"] >= 1  # the bridge passage was returned before
    assert "| forget | cases |" in capsys.readouterr().out
