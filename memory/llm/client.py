"""A client for any OpenAI-compatible chat endpoint (``POST {base_url}/chat/completions``).

Structured output: the request carries ``response_format`` with a JSON schema; a
server that refuses it (HTTP 400 naming ``response_format``) is asked again with
``{"type": "json_object"}``, then with the schema in the prompt only. The reply is
parsed with :func:`json.loads` and checked against the schema's required keys and
types; anything else is a :class:`LLMOutputError` (model text is never evaluated).
Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..errors import MemoryStoreError

__all__ = ["LLMConfig", "ChatClient", "LLMError", "LLMOutputError", "check_schema"]

logger = logging.getLogger(__name__)


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
        First wait between attempts (doubles each time).
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


_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def check_schema(value: Any, schema: dict[str, Any], where: str = "reply") -> None:
    """Check a parsed reply against the parts of a JSON schema we use (type, required,
    properties, items); raise :class:`LLMOutputError` naming the first mismatch.

    >>> check_schema({"a": ["x"]}, {"type": "object", "required": ["a"],
    ...                              "properties": {"a": {"type": "array", "items": {"type": "string"}}}})
    >>> check_schema({"a": [1]}, {"type": "object", "properties": {"a": {"type": "array",
    ...                            "items": {"type": "string"}}}})
    Traceback (most recent call last):
    ...
    memory.llm.client.LLMOutputError: reply.a[0] should be a string, got int
    """
    expected = schema.get("type")
    if expected in _TYPES and (not isinstance(value, _TYPES[expected]) or
                               (expected in ("integer", "number") and isinstance(value, bool))):
        article = "an" if expected[0] in "aeiou" else "a"
        raise LLMOutputError(f"{where} should be {article} {expected}, got {type(value).__name__}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise LLMOutputError(f"{where} lacks the required key {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check_schema(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


class ChatClient:
    """Chat completions with retries and JSON-schema constrained replies.

    Parameters
    ----------
    config : LLMConfig, optional
        Defaults to the environment (see :class:`LLMConfig`).
    """

    def __init__(self, config: LLMConfig | None = None) -> None:
        self.config = (config or LLMConfig()).resolved()
        self._format_support = ["json_schema", "json_object", "prompt"]

    @property
    def name(self) -> str:
        """``model@base_url``, part of cache keys."""
        return f"{self.config.model}@{self.config.base_url}"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(f"{self.config.base_url}/chat/completions",
                                         data=json.dumps(body).encode("utf-8"), headers=headers)
        wait = self.config.backoff
        for attempt in range(self.config.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                if exc.code == 429 or exc.code >= 500:
                    problem = f"HTTP {exc.code}: {detail}"
                else:
                    raise _HTTPRefusal(exc.code, detail) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError:
                raise LLMError(f"{self.config.base_url} did not answer with JSON") from None
            if attempt < self.config.retries:
                logger.warning("LLM request failed (%s); retrying in %.1f s", problem, wait)
                time.sleep(wait)
                wait *= 2
        raise LLMError(f"{self.config.base_url}: {problem} (after {self.config.retries + 1} attempts)")

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None) -> str:
        """The assistant's reply text (with ``schema``: asking for JSON matching it)."""
        body: dict[str, Any] = {"model": self.config.model, "messages": messages,
                                "temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        while True:
            mode = self._format_support[0] if schema else "none"
            if mode == "json_schema":
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "reply", "schema": schema, "strict": True}}
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            else:
                body.pop("response_format", None)
            try:
                reply = self._post(body)
                break
            except _HTTPRefusal as refusal:
                if schema and "response_format" in refusal.detail and len(self._format_support) > 1:
                    logger.info("the server refused response_format %s; trying %s", mode,
                                self._format_support[1])
                    self._format_support.pop(0)
                    continue
                raise LLMError(f"{self.config.base_url} refused the request: HTTP {refusal.code}: "
                               f"{refusal.detail}") from None
        try:
            return str(reply["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise LLMOutputError("the reply has no choices[0].message.content") from None

    def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> Any:
        """The reply parsed as JSON and checked against ``schema``.

        Raises
        ------
        LLMOutputError
            When the reply is not JSON or does not match the schema (the reply's
            start is quoted in the message).
        """
        prompt = messages
        if self._format_support[0] == "prompt":
            prompt = messages + [{"role": "system", "content": "Answer with JSON only, matching this "
                                                               f"schema: {json.dumps(schema)}"}]
        text = self.complete(prompt, schema)
        try:
            value = json.loads(_strip_fences(text))
        except json.JSONDecodeError as exc:
            raise LLMOutputError(f"the model did not answer with JSON ({exc.msg}): {text[:200]!r}") from None
        check_schema(value, schema)
        return value


class _HTTPRefusal(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code, self.detail = code, detail


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
