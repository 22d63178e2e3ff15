"""OpenAICompatibleChat: one request to the endpoint through the worker (ctx.llm_endpoint), which
holds the SSRF guard and the decrypted key; the node only speaks the protocol."""

from __future__ import annotations

import json

from nodes.context import NodeContext
from nodes.llm_remote.chat import LlmEndpointFailed, chat_answer, chat_request
from nodes.llm_remote.cost import MAX_CHARS_PER_TOKEN


def openai_compatible_chat(
    ctx: NodeContext,
    endpoint: str,
    model: str,
    prompt: str,
    system_prompt: str,
    temperature: float,
    max_tokens: int,
    seed: int,
) -> tuple[str]:
    if not prompt.strip():
        raise ValueError("prompt is empty; give the model something to answer.")
    target = ctx.llm_endpoint(endpoint)
    if max_tokens > target.max_tokens:
        raise ValueError(
            f"max_tokens {max_tokens} is over endpoint {endpoint!r}'s cap of {target.max_tokens}."
        )
    body = chat_request(
        model=model or target.model,
        prompt=prompt,
        system_prompt=system_prompt,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
    )
    ctx.check_cancelled()
    status, answer_body = target.post_json("/chat/completions", json.dumps(body).encode())
    answer = chat_answer(endpoint, status, answer_body)
    if len(answer.text) > max_tokens * MAX_CHARS_PER_TOKEN:
        # The cost check bounded the prompts this text feeds by that length (cost.py).
        raise LlmEndpointFailed(
            f"Endpoint {endpoint!r} answered {len(answer.text)} characters, more than max_tokens "
            f"{max_tokens} can hold.",
            error_type="llm_endpoint_error",
        )
    ctx.record_usage(
        "llm",
        {
            "requests": 1,
            "promptTokens": answer.prompt_tokens,
            "completionTokens": answer.completion_tokens,
            "totalTokens": answer.total_tokens,
        },
    )
    return (answer.text,)
