"""LLM backends over any OpenAI-compatible chat endpoint: extraction and answering.

>>> from memory.llm import LLMConfig
>>> LLMConfig(base_url="http://127.0.0.1:8080/v1/").resolved().base_url
'http://127.0.0.1:8080/v1'
"""

from .client import ChatClient, LLMConfig, LLMError, LLMOutputError, reply_schema, validate_reply
from .extract import ExtractionReply, LLMExtractor
from .reader import Answer, AnswerReply, LLMReader

__all__ = ["ChatClient", "LLMConfig", "LLMError", "LLMOutputError", "reply_schema", "validate_reply",
           "LLMExtractor", "ExtractionReply", "LLMReader", "Answer", "AnswerReply"]
