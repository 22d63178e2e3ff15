"""The chat-completions protocol, without I/O: the request body and reading an answer.

Errors are LlmEndpointFailed with a public error type (protocol/errors.py) and a message that never
quotes the answer's body or any header (an upstream error page may echo the key or other users' data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class LlmEndpointFailed(Exception):
    """The endpoint gave no usable answer; `error_type` is one of protocol.errors.ERROR_TYPES."""

    def __init__(self, message: str, *, error_type: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def chat_request(
    *, model: str, prompt: str, system_prompt: str, temperature: float, max_tokens: int, seed: int
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": prompt})
    return {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "stream": False,
    }


def chat_answer(name: str, status: int, body: bytes) -> ChatAnswer:
    """The first choice's text and the usage counters of a 2xx answer."""
    if not 200 <= status < 300:
        hint = {
            401: " (the API key was refused)",
            403: " (the API key was refused)",
            404: " (no such model or path)",
            429: " (rate limited by the endpoint)",
        }.get(status, "")
        raise LlmEndpointFailed(
            f"Endpoint {name!r} answered HTTP {status}{hint}.", error_type="llm_endpoint_error"
        )
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmEndpointFailed(
            f"Endpoint {name!r} answered something that is not a chat completion.",
            error_type="llm_endpoint_error",
        ) from None
    if not isinstance(content, str):
        raise LlmEndpointFailed(
            f"Endpoint {name!r} answered a chat completion without text.", error_type="llm_endpoint_error"
        )
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    prompt_tokens, completion_tokens = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
    total = _count(usage, "total_tokens") or prompt_tokens + completion_tokens
    return ChatAnswer(content, prompt_tokens, completion_tokens, total)


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
