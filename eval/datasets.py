"""Loaders for the benchmark data in HippoRAG's format (MuSiQue, HotpotQA, 2Wiki samples)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["QAItem", "QADataset", "load_musique", "load_hotpotqa", "shared_data_dir",
           "bundled_sample_dir"]


@dataclass(frozen=True)
class QAItem:
    """A multi-hop question with the ids of its supporting passages."""

    id: str
    question: str
    answer: str
    gold_ids: frozenset[str]


@dataclass(frozen=True)
class QADataset:
    """A corpus (documents with ids) and questions over it."""

    name: str
    corpus: list[dict]
    questions: list[QAItem]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (override with ``MEMORY_SHARED_DATA``)."""
    override = os.environ.get("MEMORY_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def bundled_sample_dir() -> Path:
    """The small MuSiQue sample shipped in ``data/``."""
    return Path(__file__).resolve().parents[1] / "data" / "musique_sample"


def load_musique(corpus_path: Path, questions_path: Path | None = None, name: str = "musique") -> QADataset:
    """Load a HippoRAG-format corpus (``[{title, text}]``) and questions.

    Passages get ids ``<name>-<index>``; gold passages (``is_supporting``) are
    matched to the corpus by title and text, since MuSiQue titles repeat.

    Raises
    ------
    FileNotFoundError
        When a file is missing.
    ValueError
        When a gold paragraph is not in the corpus.
    """
    corpus_raw = json.loads(Path(corpus_path).read_text(encoding="utf-8"))
    corpus = [{"id": f"{name}-{i}", "title": d.get("title", ""), "text": d["text"]}
              for i, d in enumerate(corpus_raw)]
    by_content = {(d["title"], d["text"]): d["id"] for d in corpus}
    questions: list[QAItem] = []
    if questions_path is not None:
        for item in json.loads(Path(questions_path).read_text(encoding="utf-8")):
            gold = set()
            for paragraph in item["paragraphs"]:
                if paragraph.get("is_supporting"):
                    key = (paragraph["title"], paragraph.get("paragraph_text", paragraph.get("text")))
                    if key not in by_content:
                        raise ValueError(f"{item['id']}: gold paragraph {key[0]!r} not in the corpus")
                    gold.add(by_content[key])
            questions.append(QAItem(str(item["id"]), item["question"], str(item.get("answer", "")),
                                    frozenset(gold)))
    return QADataset(name, corpus, questions)


def load_hotpotqa(corpus_path: Path, questions_path: Path | None = None,
                  name: str = "hotpotqa") -> QADataset:
    """Load HippoRAG's HotpotQA files: a ``{title: [sentences]}`` corpus and questions.

    Gold passages are the titles named in ``supporting_facts`` (titles are unique).

    Raises
    ------
    ValueError
        When a supporting title is not in the corpus.
    """
    raw = json.loads(Path(corpus_path).read_text(encoding="utf-8"))
    corpus = [{"id": f"{name}-{i}", "title": title, "text": "".join(sentences).strip()}
              for i, (title, sentences) in enumerate(raw.items())]
    by_title = {d["title"]: d["id"] for d in corpus}
    questions: list[QAItem] = []
    if questions_path is not None:
        for item in json.loads(Path(questions_path).read_text(encoding="utf-8")):
            titles = {title for title, _ in item["supporting_facts"]}
            missing = titles - by_title.keys()
            if missing:
                raise ValueError(f"{item['_id']}: supporting titles {sorted(missing)} not in the corpus")
            questions.append(QAItem(str(item["_id"]), item["question"], str(item.get("answer", "")),
                                    frozenset(by_title[t] for t in titles)))
    return QADataset(name, corpus, questions)
