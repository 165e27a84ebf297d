"""Splitting documents into passages at ingest (``IngestConfig.split``).

A long document (a book chapter, a news article, a biography) retrieves better
as passages. Each passage becomes a stored document with id ``<id>#<n>`` and
``source`` set to the document's id, so ``forget(<id>)`` removes all of them
and re-ingesting the document replaces them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

from .config import IngestConfig
from .documents import Document

__all__ = ["split_text", "split_documents"]

_BLANK_LINE = re.compile(r"\n\s*\n")


def split_text(text: str, config: IngestConfig) -> list[str]:
    """The passages of a text.

    ``paragraph`` splits at blank lines; ``window`` cuts runs of
    ``window_tokens`` whitespace-separated tokens, consecutive windows sharing
    ``window_overlap`` tokens; ``none`` keeps the text whole.

    >>> split_text("a b\\n\\n c \\n\\n\\n", IngestConfig(split="paragraph"))
    ['a b', 'c']
    >>> split_text("1 2 3 4 5", IngestConfig(split="window", window_tokens=2, window_overlap=1))
    ['1 2', '2 3', '3 4', '4 5']
    """
    if config.split == "none":
        return [text]
    if config.split == "paragraph":
        return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]
    tokens = text.split()
    step = config.window_tokens - config.window_overlap
    starts = range(0, max(1, len(tokens) - config.window_overlap), step)
    return [" ".join(tokens[start:start + config.window_tokens]) for start in starts]


def split_documents(docs: Sequence[Document], config: IngestConfig) -> list[Document]:
    """Documents as passages (unchanged when ``config.split`` is ``"none"``)."""
    if config.split == "none":
        return list(docs)
    passages = []
    for doc in docs:
        for number, piece in enumerate(split_text(doc.text, config)):
            passages.append(dataclasses.replace(doc, id=f"{doc.id}#{number}", text=piece, source=doc.id))
    return passages
