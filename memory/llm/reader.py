"""Answering a question from retrieved passages with an LLM (the "reader")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Sequence

from pydantic import BaseModel, WithJsonSchema

from .client import ChatClient, LLMConfig, reply_schema

__all__ = ["LLMReader", "AnswerReply", "ANSWER_SCHEMA", "Answer"]


class AnswerReply(BaseModel):
    """What the reader's prompt asks the model for (a short answer; longer ones are kept)."""

    answer: Annotated[str, WithJsonSchema({"type": "string", "maxLength": 200})]


ANSWER_SCHEMA = reply_schema(AnswerReply)
_INSTRUCTIONS = ("Answer the question from the passages with a short phrase (a name, date or number), "
                 'not a sentence. Answer with JSON: {"answer": "..."}.')


@dataclass(frozen=True)
class Answer:
    """A reader's answer and the passages it was given."""

    text: str
    passages: tuple[str, ...]


class LLMReader:
    """Short answers from a chat model given passages.

    Parameters
    ----------
    config : LLMConfig, optional
        The endpoint (default: from the environment).
    client : ChatClient, optional
        A ready client (overrides ``config``).
    """

    def __init__(self, config: LLMConfig | None = None, client: ChatClient | None = None) -> None:
        self.client = client or ChatClient(config)

    def answer(self, question: str, passages: Sequence[str]) -> Answer:
        """The model's short answer to ``question`` given ``passages`` (best first)."""
        context = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))
        reply = self.client.complete_json(
            [{"role": "system", "content": _INSTRUCTIONS},
             {"role": "user", "content": f"Passages:\n{context}\n\nQuestion: {question}"}], AnswerReply)
        return Answer(reply.answer.strip(), tuple(passages))
