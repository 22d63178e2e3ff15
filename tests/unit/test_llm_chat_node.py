"""OpenAICompatibleChat against a real local chat-completions server, through the worker's endpoint
(decryption, the SSRF guard, error mapping) exactly as a run uses it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from gpu_worker.errors import public_error
from gpu_worker.llm_endpoints import LlmAccess, WorkerLlmEndpoint
from nodes.llm_remote.chat import LlmEndpointFailed
from nodes.llm_remote.ops import openai_compatible_chat
from protocol.llm_credentials import CredentialBox
from protocol.messages import LlmEndpointSpec
from protocol.outbound import OutboundPolicy, hosts_parse
from tests.support.node_context import NodeTestContext
from tests.support.openai_server import ChatServer, chat_server, expected_answer

SECRET = "unit-test-llm-credentials-secret-0123456789"
API_KEY = "sk-test-SECRET-KEY-do-not-leak-42"
BOX = CredentialBox(SECRET)
LOCAL = OutboundPolicy(allowed_hosts=hosts_parse(["127.0.0.1"]))


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server(api_key=API_KEY) as running:
        yield running


def endpoint(
    server: ChatServer,
    *,
    root: str = "",
    key: str | None = API_KEY,
    policy: OutboundPolicy = LOCAL,
    box: CredentialBox | None = BOX,
    timeout: float = 5.0,
) -> WorkerLlmEndpoint:
    spec: LlmEndpointSpec = {
        "baseUrl": server.base_url(root),
        "model": "tiny-chat",
        "apiKeyEncrypted": BOX.encrypt(key) if key else None,
        "timeoutSeconds": timeout,
        "maxTokens": 256,
    }
    return WorkerLlmEndpoint("local", spec, LlmAccess(box=box, policy=policy))


def run(ctx: NodeTestContext, **inputs: object) -> str:
    values: dict = {
        "endpoint": "local",
        "model": "",
        "prompt": "a red fox",
        "system_prompt": "",
        "temperature": 0.2,
        "max_tokens": 64,
        "seed": 7,
        **inputs,
    }
    return openai_compatible_chat(ctx, **values)[0]


def failure(ctx: NodeTestContext, **inputs: object) -> tuple[str, str]:
    with pytest.raises(Exception) as raised:
        run(ctx, **inputs)
    error = public_error(raised.value)
    return error.type, error.message


def test_the_answer_comes_from_the_endpoint_with_the_decrypted_key_and_usage_is_recorded(server) -> None:
    ctx = NodeTestContext()
    ctx.llm_endpoints["local"] = endpoint(server)
    text = run(ctx, system_prompt="cinematic", seed=11)
    assert text == expected_answer("tiny-chat", "cinematic", "a red fox", 11)
    (request,) = server.requests
    assert request["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(request["raw"])
    assert body["messages"] == [
        {"role": "system", "content": "cinematic"},
        {"role": "user", "content": "a red fox"},
    ]
    assert (body["temperature"], body["max_tokens"], body["seed"], body["stream"]) == (0.2, 64, 11, False)
    prompt_tokens, completion_tokens = 4, len(text.split())
    assert ctx.usage == {
        "llm": {
            "requests": 1,
            "promptTokens": prompt_tokens,
            "completionTokens": completion_tokens,
            "totalTokens": prompt_tokens + completion_tokens,
        }
    }
    assert run(ctx, model="other-model") == expected_answer("other-model", "", "a red fox", 7)
    assert ctx.usage["llm"]["requests"] == 2


def test_endpoint_errors_fail_the_node_with_public_types_and_never_the_key_or_body(
    server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = NodeTestContext()
    cases = {
        "wrong key": (endpoint(server, key="sk-wrong"), "llm_endpoint_error", "HTTP 401"),
        "5xx echoing the key": (endpoint(server, root="/boom"), "llm_endpoint_error", "HTTP 500"),
        "not JSON": (endpoint(server, root="/garbage"), "llm_endpoint_error", "not a chat completion"),
        "timeout": (endpoint(server, root="/slow", timeout=1.0), "llm_endpoint_timeout", "within 1 s"),
        "no box": (endpoint(server, box=None), "llm_credentials_invalid", "no LLM_CREDENTIALS_KEY"),
        "other box": (
            WorkerLlmEndpoint(
                "local",
                {**endpoint(server)._spec},
                LlmAccess(box=CredentialBox(SECRET + "-rotated"), policy=LOCAL),
            ),
            "llm_credentials_invalid",
            "cannot be decrypted",
        ),
    }
    for name, (target, error_type, words) in cases.items():
        ctx.llm_endpoints["local"] = target
        kind, message = failure(ctx)
        assert (kind, words in message) == (error_type, True), (name, message)
        assert API_KEY not in message and "upstream exploded" not in message and "<html>" not in message
    assert ctx.usage == {}
    assert API_KEY not in caplog.text


def test_the_ssrf_guard_refuses_a_private_address_not_allowed_and_nothing_is_sent(server) -> None:
    ctx = NodeTestContext()
    # The port is allowed, the host is not let through the address check: loopback is refused.
    ctx.llm_endpoints["local"] = endpoint(server, policy=OutboundPolicy(allowed_ports=(server.port,)))
    kind, message = failure(ctx)
    assert kind == "llm_endpoint_unreachable" and "address_not_allowed" in message
    assert server.requests == []


def test_inputs_are_checked_before_anything_is_sent(server) -> None:
    ctx = NodeTestContext()
    ctx.llm_endpoints["local"] = endpoint(server)
    assert failure(ctx, prompt="  ") == (
        "invalid_node_input",
        "prompt is empty; give the model something to answer.",
    )
    kind, message = failure(ctx, max_tokens=1000)
    assert kind == "invalid_node_input" and "cap of 256" in message
    kind, message = failure(ctx, endpoint="elsewhere")
    assert kind == "invalid_node_input" and "'elsewhere'" in message
    assert server.requests == []


def test_a_failure_on_the_wire_is_raised_as_the_node_error_class() -> None:
    with chat_server() as server:
        port = server.port
    target = WorkerLlmEndpoint(
        "gone",
        {
            "baseUrl": f"http://127.0.0.1:{port}/v1",
            "model": "m",
            "apiKeyEncrypted": None,
            "timeoutSeconds": 2,
            "maxTokens": 8,
        },
        LlmAccess(box=None, policy=LOCAL),
    )
    with pytest.raises(LlmEndpointFailed) as raised:
        target.post_json("/chat/completions", b"{}")
    assert raised.value.error_type == "llm_endpoint_unreachable"


def test_an_answer_longer_than_max_tokens_allows_fails_and_the_cost_check_uses_that_bound(server) -> None:
    from nodes.catalog import default_registry
    from nodes.cost import estimate_cost
    from nodes.llm_remote.cost import MAX_CHARS_PER_TOKEN
    from tests.support.llm_graphs import expanded_text_to_image

    ctx = NodeTestContext()
    ctx.llm_endpoints["local"] = endpoint(server)
    long_prompt = "word " * 40  # the test server echoes the prompt: far more than 2 tokens x 16 characters
    kind, message = failure(ctx, prompt=long_prompt, max_tokens=2)
    assert kind == "llm_endpoint_error" and "more than max_tokens 2 can hold" in message
    graph = expanded_text_to_image("local", max_tokens=10)
    cost = estimate_cost(graph, default_registry(), image_sizes={}, unknown_image=(64, 64))
    assert cost.outputs["20"][0].chars == 10 * MAX_CHARS_PER_TOKEN
    prompt_tokens = {m.node_id: m.value for m in cost.measures if m.measure == "prompt_tokens"}
    assert prompt_tokens["6"] == 10 * MAX_CHARS_PER_TOKEN * 4


def test_the_result_cache_key_follows_the_endpoint_configuration() -> None:
    from gpu_worker.executor import model_identities
    from gpu_worker.result_cache import node_cache_keys
    from nodes.catalog import default_registry
    from protocol.messages import RunSpec
    from tests.support.llm_graphs import chat_node

    graph = {"1": chat_node("local")}
    keys = []
    for model in ("a", "a", "b"):
        config: LlmEndpointSpec = {
            "baseUrl": "http://x/v1",
            "model": model,
            "apiKeyEncrypted": None,
            "timeoutSeconds": 5,
            "maxTokens": 64,
        }

        class Ctx:
            spec = RunSpec("exe", 1, "t", graph, ["1"], "p/", llm_endpoints={"local": config})

        identities = model_identities(graph, ["1"], default_registry(), Ctx())  # type: ignore[arg-type]
        keys.append(node_cache_keys(graph, ["1"], scope="t", models=identities)["1"])
    assert keys[0] == keys[1] != keys[2]
