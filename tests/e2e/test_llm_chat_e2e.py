"""End to end: an OpenAI-compatible endpoint configured for the tenant expands the prompt, which is
shown (PreviewAny) and drawn (CLIPTextEncode -> KSampler -> VAEDecode -> SaveImage); usage recorded."""

from __future__ import annotations

import secrets

import pytest

from tests.support.llm_graphs import expanded_text_to_image
from tests.support.openai_server import chat_server, expected_answer

pytestmark = pytest.mark.e2e

API_KEY = "sk-e2e-SECRET-never-shown"


def test_llm_expanded_prompt_runs_through_text_to_image_and_usage_is_recorded(api, world) -> None:
    from api_service.llm_endpoints.models import LlmEndpoint
    from api_service.llm_endpoints.services import llm_endpoint_key_set

    with chat_server(api_key=API_KEY) as server:
        row = LlmEndpoint(
            name=f"local-{secrets.token_hex(3)}",
            tenant=world.tenant,
            base_url=server.base_url(),
            default_model="tiny-chat",
            timeout_seconds=10,
            max_tokens=128,
        )
        llm_endpoint_key_set(endpoint=row, api_key=API_KEY)
        row.save()
        workflow = api.create_workflow(expanded_text_to_image(row.name, system_prompt="watercolor"))
        result = api.wait(api.execute(workflow["id"]))

        assert result["status"] == "COMPLETED", result
        answer = expected_answer("tiny-chat", "watercolor", "a red fox", 5)
        (shown,) = result["outputs"]["21"]["text"]
        assert shown["text"] == answer
        (image,) = result["outputs"]["9"]["images"]
        assert (image["width"], image["height"]) == (64, 48)
        (request,) = server.requests
        assert request["authorization"] == f"Bearer {API_KEY}"
        prompt_tokens, completion_tokens = len("watercolor a red fox".split()), len(answer.split())
        assert result["usage"] == {
            "llm": {
                "requests": 1,
                "promptTokens": prompt_tokens,
                "completionTokens": completion_tokens,
                "totalTokens": prompt_tokens + completion_tokens,
            }
        }
        assert API_KEY not in str(result) and row.api_key_encrypted not in str(result)
