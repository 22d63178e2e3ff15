"""ComfyUI's most common sampler setting, dpmpp_2m with karras, through the live platform."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from nodes.diffusion.samplers import COMFY_SAMPLERS
from nodes.sampling.names import IMPLEMENTED_SAMPLERS
from tests.support.graphs import TEXT_TO_IMAGE_INPUTS, text_to_image
from tests.support.sampling import needs_samplers

pytestmark = pytest.mark.e2e


def _pixels(execution: dict) -> bytes:
    (image,) = execution["outputs"]["9"]["images"]
    return Image.open(io.BytesIO(requests.get(image["url"], timeout=30).content)).tobytes()


@needs_samplers("dpmpp_2m")
def test_dpmpp_2m_karras_text_to_image(api) -> None:
    graph = text_to_image(**{"3": {"sampler_name": "dpmpp_2m", "scheduler": "karras", "steps": 3}})
    workflow = api.create_workflow(graph, TEXT_TO_IMAGE_INPUTS)
    first = api.wait(api.execute(workflow["id"], {"seed": 11}))
    other_seed = api.wait(api.execute(workflow["id"], {"seed": 12}))
    assert first["status"] == other_seed["status"] == "COMPLETED", first
    (image,) = first["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (64, 48)
    assert _pixels(first) != _pixels(other_seed)

    # The same seed with euler: the sampler name reaches the worker and changes the result.
    euler = text_to_image(**{"3": {"sampler_name": "euler", "scheduler": "karras", "steps": 3}})
    euler_run = api.wait(api.execute(api.create_workflow(euler, TEXT_TO_IMAGE_INPUTS)["id"], {"seed": 11}))
    assert euler_run["status"] == "COMPLETED", euler_run
    assert _pixels(euler_run) != _pixels(first)


def test_a_sampler_that_cannot_be_honoured_is_refused_with_the_supported_list(api) -> None:
    missing = [name for name in COMFY_SAMPLERS if name not in IMPLEMENTED_SAMPLERS]
    if not missing:
        pytest.skip("every ComfyUI sampler is implemented")
    graph = text_to_image(**{"3": {"sampler_name": missing[-1], "scheduler": "karras"}})
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400, response.text
    (error,) = response.json()["error"]["nodeErrors"]["3"]["errors"]
    assert error["type"] == "unsupported_sampler"
    assert "implemented samplers: euler" in error["message"] and missing[-1] in error["message"]
