"""Schema of OpenAICompatibleChat: one chat completion from an endpoint that ops configured.

Crucible's own node: ComfyUI's `OpenAIChatNode` calls OpenAI through Comfy's paid proxy with a fixed
model list, so its name would promise something else. The input names that mean the same follow
ComfyUI's OpenAI nodes (`prompt`, `model`, `system_prompt`, `seed`) and the chat-completions API
(`temperature`, `max_tokens`). `endpoint` lists the names configured for the caller's tenant.
"""

from __future__ import annotations

from nodes.schema import COMBO, FLOAT, INT, STRING, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.llm_remote.ops"
ENDPOINTS_SOURCE = "llm_endpoints"
MAX_SEED = 2**31 - 1

SPECS = (
    NodeSpec(
        class_type="OpenAICompatibleChat",
        display_name="OpenAI-compatible Chat",
        category="llm",
        impl=f"{OPS}:openai_compatible_chat",
        description="Asks an OpenAI-compatible chat endpoint (configured by ops) and outputs its answer.",
        crucible=True,
        inputs=(
            InputSpec(
                "endpoint",
                COMBO,
                choices_source=ENDPOINTS_SOURCE,
                tooltip="An endpoint configured for your tenant (or globally) by the operators.",
            ),
            InputSpec(
                "model", STRING, default="", tooltip="The model to ask; empty: the endpoint's default model."
            ),
            InputSpec("prompt", STRING, default="", options={"multiline": True}),
            InputSpec("system_prompt", STRING, default="", options={"multiline": True}),
            InputSpec("temperature", FLOAT, default=0.7, min=0.0, max=2.0, step=0.01),
            InputSpec(
                "max_tokens",
                INT,
                default=512,
                min=1,
                max=1_000_000,
                tooltip="Tokens to generate at most; the endpoint's cap may be lower.",
            ),
            InputSpec(
                "seed",
                INT,
                default=0,
                min=0,
                max=MAX_SEED,
                options={"control_after_generate": True},
                tooltip="Sent as the request's seed; endpoints that honour it answer the same again.",
            ),
        ),
        outputs=(OutputSpec(STRING, "text"),),
    ),
)
