"""Extraction of entities and (subject, relation, object) facts from passages."""

from .base import Extraction, Extractor, normalize_phrase, normalize_relation
from .cache import extract_with_cache
from .openie import OpenIEExtractor, load_openie_records
from .spacy_extractor import SpacyExtractor

__all__ = [
    "Extraction",
    "Extractor",
    "OpenIEExtractor",
    "SpacyExtractor",
    "extract_with_cache",
    "load_openie_records",
    "normalize_phrase",
    "normalize_relation",
]
