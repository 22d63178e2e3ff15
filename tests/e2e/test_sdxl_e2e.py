"""End to end: ComfyUI's default SDXL workflow on the tiny SDXL, as a diffusers folder and as one SGM file."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support.graphs import TINY_CHECKPOINT
from tests.support.sdxl_models import SDXL_CHECKPOINT, SDXL_SINGLE_FILE, sdxl_text_to_image

pytestmark = pytest.mark.e2e


def _pixels(execution: dict) -> np.ndarray:
    images = execution["outputs"]["9"]["images"]
    assert [(image["width"], image["height"]) for image in images] == [(64, 64)] * len(images)
    files = [Image.open(io.BytesIO(requests.get(i["url"], timeout=30).content)) for i in images]
    return np.stack([np.asarray(image, dtype=np.int16) for image in files])


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _run(client, graph: dict) -> dict:
    result = client.wait(client.execute(client.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    return result


def test_sdxl_text_to_image_from_a_folder_and_a_single_file(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_world

    folder = _pixels(_run(api, sdxl_text_to_image(SDXL_CHECKPOINT)))
    assert folder.shape == (2, 64, 64, 3)
    assert _mean_difference(folder[0], folder[1]) > 1  # batch_size 2: each image its own noise

    # Deterministic for a seed: another tenant shares no cached results, so this one is computed afresh.
    other = ApiClient(stack.base_url, make_world().key)
    again = _run(other, sdxl_text_to_image(SDXL_CHECKPOINT))
    assert again["cachedNodes"] == []
    assert np.array_equal(_pixels(again), folder)

    # The single file holds the same weights in the original layout, so it draws the same images. Only
    # float rounding differs (CPU matmuls round by the memory alignment of the loaded weights).
    single = _pixels(_run(api, sdxl_text_to_image(SDXL_SINGLE_FILE)))
    assert _mean_difference(single, folder) < 0.01, _mean_difference(single, folder)  # measured: 4e-5

    # CLIPTextEncodeSDXL's sizes are real conditioning: other sizes, other images.
    sizes = {
        "width": 512,
        "height": 768,
        "crop_w": 32,
        "crop_h": 0,
        "target_width": 512,
        "target_height": 768,
    }
    resized = _run(api, sdxl_text_to_image(SDXL_CHECKPOINT, **{"6": sizes}))
    assert sorted(resized["cachedNodes"]) == ["5", "7"]  # the new encoding and all after it rerun
    difference = _mean_difference(_pixels(resized), folder)
    assert difference > 1, difference  # measured: 5.4


def test_clip_text_encode_sdxl_on_an_sd15_checkpoint_fails_clearly(api) -> None:
    result = api.wait(api.execute(api.create_workflow(sdxl_text_to_image(TINY_CHECKPOINT))["id"]))
    assert result["status"] == "FAILED", result
    assert (result["error"]["nodeId"], result["error"]["classType"]) == ("6", "CLIPTextEncodeSDXL")
    assert "needs an SDXL CLIP" in result["error"]["message"]
