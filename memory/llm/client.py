"""A client for any OpenAI-compatible chat endpoint, over the ``openai`` SDK.

The SDK does the HTTP, the timeouts and the retries: connection errors, timeouts,
HTTP 408, 409, 429 and 5xx are retried ``LLMConfig.retries`` times with exponential
backoff and jitter (0.5 s doubling up to 8 s), honouring ``Retry-After``.

Structured output: a reply's shape is a pydantic model. The request carries
``response_format`` with the model's JSON schema; a server that refuses it
(HTTP 400 naming ``response_format``) is asked again with ``{"type":
"json_object"}``, then with the schema in the prompt only. The reply is parsed with
:func:`json.loads` and validated by the model; anything else is an
:class:`LLMOutputError` naming the problem (model text is never evaluated).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import MemoryStoreError

__all__ = ["LLMConfig", "ChatClient", "LLMError", "LLMOutputError", "validate_reply", "reply_schema"]

logger = logging.getLogger(__name__)

Reply = TypeVar("Reply", bound=BaseModel)


class LLMError(MemoryStoreError):
    """The LLM endpoint could not be reached or kept failing."""


class LLMOutputError(LLMError, ValueError):
    """The model's reply is not the JSON the request asked for."""


@dataclass(frozen=True)
class LLMConfig:
    """Where the chat endpoint is and how to talk to it.

    Each field left empty is read from the environment: ``MEMORY_LLM_BASE_URL``
    (e.g. ``http://127.0.0.1:8080/v1``), ``MEMORY_LLM_MODEL``, ``MEMORY_LLM_API_KEY``
    (falling back to ``OPENAI_API_KEY``).

    Parameters
    ----------
    base_url, model, api_key : str
    timeout : float
        Seconds per request.
    retries : int
        Further attempts after a transient failure.
    backoff : float
        Unused since the SDK waits between attempts (0.5 s doubling, with jitter,
        or what the server's ``Retry-After`` says); kept so old configs still load.
    temperature : float
    max_tokens : int
    """

    base_url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 1.0
    temperature: float = 0.0
    max_tokens: int = 512

    def resolved(self) -> "LLMConfig":
        """This configuration with empty fields taken from the environment.

        Raises
        ------
        LLMError
            If no base URL is configured.
        """
        base_url = self.base_url or os.environ.get("MEMORY_LLM_BASE_URL", "")
        if not base_url:
            raise LLMError("no LLM endpoint: set LLMConfig(base_url=...) or MEMORY_LLM_BASE_URL")
        return LLMConfig(base_url.rstrip("/"), self.model or os.environ.get("MEMORY_LLM_MODEL", "default"),
                         self.api_key or os.environ.get("MEMORY_LLM_API_KEY", os.environ.get("OPENAI_API_KEY", "")),
                         self.timeout, self.retries, self.backoff, self.temperature, self.max_tokens)


def reply_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent for a reply model (no extra keys at the top level).

    >>> from pydantic import BaseModel
    >>> class A(BaseModel):
    ...     answer: str
    >>> reply_schema(A)["required"], reply_schema(A)["additionalProperties"]
    (['answer'], False)
    """
    schema = model.model_json_schema()
    schema.setdefault("additionalProperties", False)
    return schema


def validate_reply(text: str, model: type[Reply]) -> Reply:
    """Parse a reply as JSON (a markdown fence around it is dropped) and validate it.

    Raises
    ------
    LLMOutputError
        Naming the first problem: not JSON, a missing key, a wrong type.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> class A(BaseModel):
    ...     answer: str
    >>> validate_reply('```json\\n{"answer": "Paris"}\\n```', A).answer
    'Paris'
    >>> validate_reply('{"answer": 3}', A)
    Traceback (most recent call last):
    ...
    memory.llm.client.LLMOutputError: reply.answer: input should be a valid string, got int
    """
    try:
        value = json.loads(_strip_fences(text))
    except json.JSONDecodeError as exc:
        raise LLMOutputError(f"the model did not answer with JSON ({exc.msg}): {text[:200]!r}") from None
    except RecursionError:
        raise LLMOutputError("the model did not answer with JSON (nested too deeply)") from None
    try:
        return model.model_validate(value, strict=True)
    except ValidationError as exc:
        raise LLMOutputError(_first_problem(exc, value)) from None


def _first_problem(exc: ValidationError, value: Any) -> str:
    error = exc.errors()[0]
    location = "reply" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    if error["type"] == "missing":
        return f"{location.rsplit('.', 1)[0]} lacks the required key {error['loc'][-1]!r}"
    return f"{location}: {error['msg'].lower()}, got {type(error.get('input')).__name__}"


class ChatClient:
    """Chat completions with retries and schema-constrained replies, over the ``openai`` SDK.

    Parameters
    ----------
    config : LLMConfig, optional
        Defaults to the environment (see :class:`LLMConfig`).
    """

    def __init__(self, config: LLMConfig | None = None) -> None:
        from openai import OpenAI

        self.config = (config or LLMConfig()).resolved()
        # A local server needs no key, but the SDK wants one; servers without keys ignore it.
        self._sdk = OpenAI(base_url=self.config.base_url, api_key=self.config.api_key or "no-key",
                           timeout=self.config.timeout, max_retries=self.config.retries)
        self._format_support = ["json_schema", "json_object", "prompt"]

    @property
    def name(self) -> str:
        """``model@base_url``, part of cache keys."""
        return f"{self.config.model}@{self.config.base_url}"

    def _request(self, body: dict[str, Any]) -> Any:
        """One chat completion (the SDK retries transient failures); errors become LLMError."""
        import openai

        attempts = f"after {self.config.retries + 1} attempts"
        try:
            return self._sdk.chat.completions.create(**body)
        except openai.APIConnectionError as exc:  # includes timeouts
            raise LLMError(f"{self.config.base_url}: {exc} ({attempts})") from None
        except openai.APIStatusError as exc:
            detail = _detail(exc)
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                raise LLMError(f"{self.config.base_url}: HTTP {exc.status_code}: {detail} ({attempts})") from None
            raise _Refusal(exc.status_code, detail) from None
        except (openai.OpenAIError, ValueError) as exc:  # e.g. a body that is not JSON
            raise LLMError(f"{self.config.base_url} did not answer with a chat completion "
                           f"({type(exc).__name__}: {exc})") from None

    def complete(self, messages: list[dict[str, str]], schema: type[BaseModel] | None = None) -> str:
        """The assistant's reply text (with ``schema``: asking for JSON matching the model).

        Raises
        ------
        LLMError
            When the endpoint cannot be reached, keeps failing or refuses the request.
        """
        body: dict[str, Any] = {"model": self.config.model, "messages": messages,
                                "temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        while True:
            mode = self._format_support[0] if schema else "none"
            body.pop("response_format", None)
            if mode == "json_schema" and schema is not None:
                body["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "reply", "schema": reply_schema(schema), "strict": True}}
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            elif mode == "prompt" and schema is not None:
                body["messages"] = messages + [{"role": "system", "content": "Answer with JSON only, matching "
                                                f"this schema: {json.dumps(reply_schema(schema))}"}]
            try:
                reply = self._request(body)
                break
            except _Refusal as refusal:
                if schema and "response_format" in refusal.detail and len(self._format_support) > 1:
                    logger.info("the server refused response_format %s; trying %s", mode,
                                self._format_support[1])
                    self._format_support.pop(0)
                    continue
                raise LLMError(f"{self.config.base_url} refused the request: HTTP {refusal.code}: "
                               f"{refusal.detail}") from None
        try:
            return str(reply.choices[0].message.content or "")
        except (AttributeError, IndexError, TypeError):
            raise LLMOutputError("the reply has no choices[0].message.content") from None

    def complete_json(self, messages: list[dict[str, str]], schema: type[Reply]) -> Reply:
        """The reply parsed as JSON and validated by the pydantic model ``schema``.

        Raises
        ------
        LLMOutputError
            When the reply is not JSON or does not match the model (the reply's
            start is quoted in the message).
        """
        return validate_reply(self.complete(messages, schema), schema)


class _Refusal(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code, self.detail = code, detail


def _detail(exc: Any) -> str:
    try:
        return exc.response.text[:500]
    except Exception:  # noqa: BLE001 - a body that cannot be read: say what the SDK says
        return str(exc)[:500]


def _strip_fences(text: str) -> str:
    """Drop a markdown code fence around a JSON reply.

    >>> _strip_fences('```json\\n{"a": 1}\\n```')
    '{"a": 1}'
    """
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped.strip()
