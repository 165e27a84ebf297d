"""Loaders for multi-hop QA benchmarks in the formats HippoRAG ships.

Questions (auto-detected per item):

- MuSiQue style: ``paragraphs`` with ``title``, ``paragraph_text`` and
  ``is_supporting``; answers in ``answer`` and ``answer_aliases``.
- HotpotQA / 2Wiki style: ``context`` as ``[[title, [sentences]], ...]`` and
  ``supporting_facts`` as ``[[title, sentence index], ...]``.
- Gold-titles style (the 2Wiki development sample): ``gold_titles`` and
  ``passages`` as ``[{title, text, is_gold}]``.

Corpora: a list of ``{title, text}`` or a ``{title: [sentences]}`` object. Without
a corpus file the corpus is the de-duplicated union of the questions' paragraphs.

Gold passages are matched to the corpus by title and text (MuSiQue titles are not
unique; whitespace is normalised), and by title alone when the question gives no
text or its text differs, provided the title names exactly one corpus passage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "QAItem",
    "QADataset",
    "DatasetSpec",
    "DATASETS",
    "load_corpus",
    "load_dataset",
    "load_named",
    "shared_data_dir",
    "bundled_data_dir",
]


@dataclass(frozen=True)
class QAItem:
    """A multi-hop question with its accepted answers and the ids of its gold passages."""

    id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: frozenset[str]


@dataclass(frozen=True)
class QADataset:
    """A corpus (documents with ids ``<name>-<index>``) and questions over it."""

    name: str
    corpus: list[dict[str, str]]
    questions: list[QAItem]


@dataclass(frozen=True)
class _RawQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: tuple[tuple[str, str | None], ...]
    paragraphs: tuple[tuple[str, str], ...]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (override with ``MEMORY_SHARED_DATA``)."""
    override = os.environ.get("MEMORY_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def bundled_data_dir() -> Path:
    """The ``data/`` directory of the checkout (small samples for tests and the demo)."""
    return Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset's files are: relative to ``shared_data_dir()`` or ``data/``."""

    questions: str
    corpus: str | None = None
    openie: str | None = None
    bundled: bool = False

    def _root(self) -> Path:
        return bundled_data_dir() if self.bundled else shared_data_dir()

    def path(self, relative: str | None) -> Path | None:
        """Absolute path of one of the spec's files (``None`` stays ``None``)."""
        return None if relative is None else self._root() / relative

    def available(self) -> bool:
        """Whether the question file exists on this machine."""
        return (self._root() / self.questions).exists()


#: Datasets known by name: the shared benchmark samples and the bundled ones.
DATASETS: dict[str, DatasetSpec] = {
    "musique": DatasetSpec("musique/musique_train_100.json", "musique/musique_train_corpus.json",
                           "musique/openie_musique_train_results_ner_gpt-3.5-turbo-1106_1890.json"),
    "hotpotqa": DatasetSpec("hotpotqa/hotpotqa_train_100.json", "hotpotqa/hotpotqa_train_corpus.json"),
    "2wiki": DatasetSpec("2wikimultihopqa/2wikimultihopqa_40_sample_gold_titles.json"),
    "musique-sample": DatasetSpec("musique_sample/questions.json", "musique_sample/corpus.json",
                                  "musique_sample/openie.json", bundled=True),
    "hotpotqa-sample": DatasetSpec("hotpotqa_sample/questions.json", bundled=True),
    "2wiki-sample": DatasetSpec("2wiki_sample/questions.json", bundled=True),
}


def _normalise_space(text: str) -> str:
    return " ".join(text.split())


def _join_sentences(sentences: Iterable[str]) -> str:
    """Sentences as one text: HotpotQA's carry their leading space, 2Wiki's do not."""
    parts: list[str] = []
    for sentence in sentences:
        if parts and not sentence[:1].isspace() and not parts[-1][-1:].isspace():
            parts.append(" ")
        parts.append(sentence)
    return "".join(parts).strip()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def load_corpus(path: Path) -> list[dict[str, str]]:
    """Read a corpus file: a list of ``{title, text}`` or a ``{title: [sentences]}`` object.

    Raises
    ------
    ValueError
        When the file is in neither format.
    """
    raw = _read_json(path)
    if isinstance(raw, dict):
        if not all(isinstance(v, list) for v in raw.values()):
            raise ValueError(f"{path}: a corpus object must map titles to lists of sentences")
        return [{"title": str(title), "text": _join_sentences(sentences)} for title, sentences in raw.items()]
    if not isinstance(raw, list):
        raise ValueError(f"{path}: a corpus must be a list of {{title, text}} records")
    corpus = []
    for i, record in enumerate(raw):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f"{path}: corpus record #{i} has no 'text' string")
        corpus.append({"title": str(record.get("title") or ""), "text": record["text"]})
    return corpus


def _parse_question(item: Any, index: int, path: Path) -> _RawQuestion:
    if not isinstance(item, dict) or not isinstance(item.get("question"), str):
        raise ValueError(f"{path}: question #{index} has no 'question' string")
    qid = str(item.get("id", item.get("_id", index)))
    answers = [item.get("answer")] + list(item.get("answer_aliases") or [])
    answer_tuple = tuple(str(a) for a in answers if isinstance(a, (str, int, float)) and str(a).strip())
    if "paragraphs" in item:
        paragraphs = tuple((p.get("title", ""), p.get("paragraph_text", p.get("text", "")))
                           for p in item["paragraphs"])
        gold = tuple((title, text) for (title, text), p in zip(paragraphs, item["paragraphs"])
                     if p.get("is_supporting"))
    elif "supporting_facts" in item:
        paragraphs = tuple((title, _join_sentences(sentences)) for title, sentences in item.get("context", []))
        texts = dict(paragraphs)
        titles = dict.fromkeys(title for title, _ in item["supporting_facts"])
        gold = tuple((title, texts.get(title)) for title in titles)
    elif "gold_titles" in item:
        paragraphs = tuple((p["title"], p["text"]) for p in item.get("passages", []))
        texts = {title: text for (title, text), p in zip(paragraphs, item.get("passages", []))
                 if p.get("is_gold")}
        gold = tuple((title, texts.get(title)) for title in dict.fromkeys(item["gold_titles"]))
    else:
        raise ValueError(f"{path}: question {qid!r} has none of 'paragraphs', 'supporting_facts', "
                         "'gold_titles' (MuSiQue, HotpotQA/2Wiki or gold-titles format)")
    if not gold:
        raise ValueError(f"{path}: question {qid!r} has no gold passage")
    return _RawQuestion(qid, item["question"], answer_tuple, gold, paragraphs)


def _match_gold(raw: _RawQuestion, by_content: dict[tuple[str, str], str],
                by_title: dict[str, list[str]]) -> frozenset[str]:
    ids = set()
    for title, text in raw.gold:
        doc_id = by_content.get((title, _normalise_space(text))) if text is not None else None
        if doc_id is None:
            candidates = by_title.get(title, [])
            if len(candidates) != 1:
                problem = "is not in the corpus" if not candidates else (
                    f"matches {len(candidates)} corpus passages by title and none by text")
                raise ValueError(f"question {raw.id!r}: gold passage {title!r} {problem}")
            doc_id = candidates[0]
        ids.add(doc_id)
    return frozenset(ids)


def load_dataset(questions_path: Path, corpus_path: Path | None = None, name: str | None = None,
                 limit: int | None = None) -> QADataset:
    """Load questions (and a corpus) in any of the supported formats.

    Parameters
    ----------
    questions_path : Path
        A JSON list of questions (MuSiQue, HotpotQA/2Wiki or gold-titles format).
    corpus_path : Path, optional
        The passages to index; by default the union of the questions' paragraphs.
    name : str, optional
        Prefix of the passage ids (default: the question file's stem).
    limit : int, optional
        Keep only the first ``limit`` questions (the corpus is not cut).

    Raises
    ------
    FileNotFoundError
        When a file is missing.
    ValueError
        When a file is malformed or a gold passage cannot be found in the corpus.
    """
    questions_path = Path(questions_path)
    name = name or questions_path.stem
    items = _read_json(questions_path)
    if not isinstance(items, list):
        raise ValueError(f"{questions_path}: expected a JSON list of questions")
    raw_questions = [_parse_question(item, i, questions_path) for i, item in enumerate(items)]
    if corpus_path is not None:
        records = load_corpus(Path(corpus_path))
    else:
        unique = dict.fromkeys(p for raw in raw_questions for p in raw.paragraphs)
        records = [{"title": title, "text": text} for title, text in unique]
    corpus = [{"id": f"{name}-{i}", **record} for i, record in enumerate(records)]
    by_content = {(d["title"], _normalise_space(d["text"])): d["id"] for d in reversed(corpus)}
    by_title: dict[str, list[str]] = {}
    for doc in corpus:
        by_title.setdefault(doc["title"], []).append(doc["id"])
    if limit is not None:
        raw_questions = raw_questions[:limit]
    questions = [QAItem(raw.id, raw.question, raw.answers, _match_gold(raw, by_content, by_title))
                 for raw in raw_questions]
    return QADataset(name, corpus, questions)


def load_named(name: str, limit: int | None = None) -> tuple[QADataset, Path | None]:
    """Load a dataset from :data:`DATASETS`; returns it and its OpenIE file, if any.

    Raises
    ------
    KeyError
        On an unknown name.
    FileNotFoundError
        When the dataset's files are not on this machine (``../shared/data`` absent).
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if not spec.available():
        raise FileNotFoundError(
            f"dataset {name!r} needs {spec.path(spec.questions)}; the shared benchmark data is "
            "not on this machine (set MEMORY_SHARED_DATA or use a '-sample' dataset)")
    dataset = load_dataset(spec.path(spec.questions), spec.path(spec.corpus), name=name, limit=limit)
    return dataset, spec.path(spec.openie)
