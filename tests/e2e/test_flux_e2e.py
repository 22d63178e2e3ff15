"""End to end: ComfyUI's FLUX.1 dev and schnell examples (split files) and the checkpoint form, posted
unchanged through the real worker with the tiny FLUX files under their real names.
Everything below the sampler is checked against diffusers in tests/unit/test_flux*.py.
"""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.support.flux_models import flux_workflow

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("name", ["flux_dev", "flux_schnell", "flux_dev_checkpoint"])
def test_comfyui_s_flux_example_makes_an_image_of_the_requested_size(api, name: str) -> None:
    graph = flux_workflow(name)
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    [image] = result["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (1024, 1024)
    png = Image.open(io.BytesIO(requests.get(image["url"], timeout=30).content))
    assert png.size == (1024, 1024)
    assert len(set(png.getdata())) > 1  # random weights draw noise, but not one flat colour
