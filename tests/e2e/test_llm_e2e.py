"""End to end: an LLM expands the prompt of a text-to-image run, on the live stack (api, control
worker, gpu worker); the expanded prompt and a caption of the image come back as text outputs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.support.graphs import TEXT_TO_IMAGE
from tests.support.llm_models import TINY_BLIP, TINY_LLAMA
from tests.support.node_context import NodeTestContext

# Two text-to-image runs with an LLM and a captioner: about 12 s on the 2-core test machine (up to 50 s
# while other suites share it).
pytestmark = pytest.mark.e2e

IDEA = "a red fox"
SYSTEM = "Expand the idea into a detailed prompt for an image generator."


def prompt_expansion_graph() -> dict[str, Any]:
    """LLMLoader -> LLMGenerate -> CLIPTextEncode -> KSampler -> VAEDecode -> SaveImage, the text to
    PreviewAny, and the image captioned by BLIP into a second PreviewAny."""
    graph: dict[str, Any] = {k: {**v, "inputs": dict(v["inputs"])} for k, v in TEXT_TO_IMAGE.items()}
    graph["3"]["inputs"]["steps"] = 2
    graph["20"] = {"class_type": "LLMLoader", "inputs": {"llm_name": TINY_LLAMA}}
    graph["21"] = {
        "class_type": "LLMGenerate",
        "inputs": {
            "llm": ["20", 0],
            "prompt": IDEA,
            "system_prompt": SYSTEM,
            "max_new_tokens": 16,
            "temperature": 0.8,
            "seed": 5,
        },
    }
    graph["6"]["inputs"]["text"] = ["21", 0]
    graph["22"] = {"class_type": "PreviewAny", "inputs": {"source": ["21", 0]}}
    graph["23"] = {"class_type": "VLMLoader", "inputs": {"vlm_name": TINY_BLIP}}
    graph["24"] = {
        "class_type": "ImageCaption",
        "inputs": {"vlm": ["23", 0], "image": ["8", 0], "prompt": "a photo of", "max_new_tokens": 8},
    }
    graph["25"] = {"class_type": "PreviewAny", "inputs": {"source": ["24", 0]}}
    return graph


def expected_text(models_dir: Path, seed: int) -> str:
    """The text the node gives in this process, for the same folder, prompt and seed."""
    from nodes.llm.ops import llm_generate, load_llm

    ctx = NodeTestContext(models_dir)
    (llm,) = load_llm(ctx, TINY_LLAMA)
    return llm_generate(ctx, llm, IDEA, system_prompt=SYSTEM, max_new_tokens=16, temperature=0.8, seed=seed)[
        0
    ]


def png_bytes(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)).tobytes()


def test_an_llm_expanded_prompt_drives_text_to_image_and_comes_back_as_text(api, models_dir: Path) -> None:
    workflow = api.create_workflow(
        prompt_expansion_graph(), {"llm_seed": {"node": "21", "input": "seed"}}, name="prompt expansion"
    )
    first, second = (api.wait(api.execute(workflow["id"], {"llm_seed": s})) for s in (5, 6))
    for result in (first, second):
        assert result["status"] == "COMPLETED", result
        assert result["progress"] == {"fraction": 1.0}

    text = first["outputs"]["22"]["text"][0]
    assert (text["mediaType"], text["truncated"]) == ("text", False)
    # The worker's text is the one a seeded run gives anywhere: the seed is the run's, not the process's.
    assert text["text"] == expected_text(models_dir, seed=5) != ""
    other = second["outputs"]["22"]["text"][0]["text"]
    assert other == expected_text(models_dir, seed=6) != text["text"]

    # The expanded prompt is what the image was made from: the KSampler seed is the same in both runs,
    # only the LLM's seed (so its text) differs, and the images do.
    images = [png_bytes(r["outputs"]["9"]["images"][0]["url"]) for r in (first, second)]
    assert images[0] != images[1]
    caption = first["outputs"]["25"]["text"][0]["text"]
    assert caption.startswith("a photo of")
