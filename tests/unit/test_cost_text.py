"""A prompt made by string nodes is held to the prompt-token limit like a typed one (nodes/cost_text.py)."""

from __future__ import annotations

from typing import Any

from nodes.catalog import default_registry
from nodes.cost import CostLimits, cost_issues, estimate_cost, estimate_tokens
from nodes.cost_text import MAX_TEXT_CHARS, TOKENS_PER_CHAR


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def prompt_from(**text_nodes: dict[str, Any]) -> dict[str, Any]:
    """Text nodes ending in node "txt", whose output is the positive prompt of a sampled, saved image."""
    return {
        "ckpt": node("CheckpointLoaderSimple", ckpt_name="m"),
        **text_nodes,
        "pos": node("CLIPTextEncode", text=["txt", 0], clip=["ckpt", 1]),
        "neg": node("CLIPTextEncode", text="blurry", clip=["ckpt", 1]),
        "lat": node("EmptyLatentImage", width=64, height=64, batch_size=1),
        "k": node(
            "KSampler",
            model=["ckpt", 0],
            positive=["pos", 0],
            negative=["neg", 0],
            latent_image=["lat", 0],
            seed=0,
            steps=2,
            cfg=7.0,
            sampler_name="euler",
            scheduler="normal",
            denoise=1.0,
        ),
        "dec": node("VAEDecode", samples=["k", 0], vae=["ckpt", 2]),
        "out": node("SaveImage", images=["dec", 0]),
    }


def prompt_tokens(graph: dict[str, Any]) -> int:
    cost = estimate_cost(graph, default_registry())
    (measure,) = [m for m in cost.measures if m.measure == "prompt_tokens" and m.node_id == "pos"]
    return measure.value


def test_a_concatenated_prompt_counts_its_parts() -> None:
    graph = prompt_from(
        s=node("PrimitiveString", value="a red fox"),
        txt=node("StringConcatenate", string_a=["s", 0], string_b="in studio light", delimiter=", "),
    )
    assert prompt_tokens(graph) == sum(map(estimate_tokens, ("a red fox", ", ", "in studio light")))
    trimmed = prompt_from(
        s=node("PrimitiveStringMultiline", value="  a red fox \n"),
        txt=node("StringTrim", string=["s", 0], mode="Both"),
    )
    assert prompt_tokens(trimmed) == estimate_tokens("  a red fox \n")


def test_a_growing_replacement_is_bounded_and_caught_by_the_limit() -> None:
    graph = prompt_from(
        s=node("PrimitiveString", value="x" * 100),
        txt=node("StringReplace", string=["s", 0], find="", replace="y" * 50),
    )
    # An empty `find` inserts the replacement at all 101 positions.
    assert prompt_tokens(graph) == (100 + 101 * 50) * TOKENS_PER_CHAR
    cost = estimate_cost(graph, default_registry())
    (issue,) = [i for i in cost_issues(cost, CostLimits(prompt_tokens=1_000)) if i.limit == "prompt_tokens"]
    assert issue.node_id == "pos" and issue.input == "text"


def test_a_text_of_unknown_length_counts_as_the_longest_a_node_can_make() -> None:
    backreference = prompt_from(
        s=node("PrimitiveString", value="fox"),
        txt=node("RegexReplace", string=["s", 0], regex_pattern="(o)", replace=r"\1\1\1"),
    )
    assert prompt_tokens(backreference) == MAX_TEXT_CHARS * TOKENS_PER_CHAR
    plain = prompt_from(
        s=node("PrimitiveString", value="fox"),
        txt=node("RegexReplace", string=["s", 0], regex_pattern="o", replace="oo", count=1),
    )
    assert prompt_tokens(plain) == (3 + 1 * 2) * TOKENS_PER_CHAR
    extracted = prompt_from(
        s=node("PrimitiveString", value="seed 42"),
        txt=node("RegexExtract", string=["s", 0], regex_pattern=r"\d+", mode="All Matches"),
    )
    assert prompt_tokens(extracted) == (2 * 7 + 1) * TOKENS_PER_CHAR
