"""An LLM's STRING output is a prompt: it links into CLIPTextEncode's `text` widget, and its length
bound (max_new_tokens) is held to the prompt-token limit like a typed prompt."""

from __future__ import annotations

from typing import Any

from nodes.catalog import default_registry
from nodes.cost import CostLimits, cost_issues, estimate_cost
from nodes.graph import validate_graph
from nodes.llm.specs import MAX_NEW_TOKENS, PROMPT_TOKENS_PER_TOKEN
from tests.unit.test_cost_text import node, prompt_from

REGISTRY = default_registry()


def expanded(max_new_tokens: int = 64, **extra: dict[str, Any]) -> dict[str, Any]:
    return prompt_from(
        llm=node("LLMLoader", llm_name="tiny"),
        txt=node("LLMGenerate", llm=["llm", 0], prompt="a fox", max_new_tokens=max_new_tokens),
        show=node("PreviewAny", source=["txt", 0]),
        **extra,
    )


def test_an_llm_text_links_into_clip_text_encode_and_preview_any() -> None:
    assert validate_graph(expanded(), REGISTRY) == []


def test_a_caption_links_into_a_prompt_too() -> None:
    graph = expanded(
        vlm=node("VLMLoader", vlm_name="blip"),
        img=node("EmptyImage", width=32, height=32, batch_size=1, color=0),
    )
    graph["cap"] = node("ImageCaption", vlm=["vlm", 0], image=["img", 0])
    graph["neg"]["inputs"]["text"] = ["cap", 0]
    assert validate_graph(graph, REGISTRY) == []


def test_an_llm_text_is_no_number_and_an_llm_no_clip() -> None:
    graph = expanded()
    graph["k"]["inputs"]["seed"] = ["txt", 0]
    graph["pos"]["inputs"]["clip"] = ["llm", 0]
    issues = {(i.node_id, i.input, i.type) for i in validate_graph(graph, REGISTRY)}
    assert issues == {("k", "seed", "link_type_mismatch"), ("pos", "clip", "link_type_mismatch")}


def test_generation_settings_are_range_checked() -> None:
    graph = expanded(max_new_tokens=MAX_NEW_TOKENS + 1)
    graph["txt"]["inputs"]["temperature"] = -0.5
    issues = {(i.input, i.type) for i in validate_graph(graph, REGISTRY)}
    assert issues == {("max_new_tokens", "value_out_of_range"), ("temperature", "value_out_of_range")}


def test_a_generated_prompt_costs_its_token_bound_and_meets_the_limit() -> None:
    cost = estimate_cost(expanded(max_new_tokens=100), REGISTRY)
    (measure,) = [m for m in cost.measures if m.measure == "prompt_tokens" and m.node_id == "pos"]
    assert measure.value == 100 * PROMPT_TOKENS_PER_TOKEN
    # The Free plan's 512 prompt tokens: 100 generated tokens fit, 1000 do not.
    assert cost_issues(cost, CostLimits(prompt_tokens=512)) == []
    over = cost_issues(estimate_cost(expanded(max_new_tokens=1000), REGISTRY), CostLimits(prompt_tokens=512))
    assert [(i.node_id, i.input) for i in over if i.limit == "prompt_tokens"] == [("pos", "text")]


def test_the_documented_example_fits_the_free_plan() -> None:
    """docs/examples/llm_prompt_expansion.json (tests/unit/test_examples.py validates it): its generated
    prompt is within the Free plan's 512 prompt tokens."""
    import json
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "llm_prompt_expansion.json"
    graph = json.loads(example.read_text())
    assert cost_issues(estimate_cost(graph, REGISTRY), CostLimits(prompt_tokens=512)) == []
