"""ControlNet workflows through the live platform: ComfyUI's ControlNet graph, unchanged, on tiny models."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support.controlnet_graphs import (
    CONTROLNET_WORKFLOW,
    HINT_IMAGE,
    controlnet_workflow,
    with_old_apply,
    without_control,
)
from tests.support.controlnet_models import FOLDER_CONTROLNET, OTHER_CONTROLNET, SINGLE_FILE_CONTROLNET

pytestmark = pytest.mark.e2e


def upload_hint(api) -> None:
    """A canny-like hint, white outlines of a square on black (64 x 64), under the name the graphs load."""
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[16, 16:48] = pixels[47, 16:48] = pixels[16:48, 16] = pixels[16:48, 47] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    response = api.post("/v1/files", files={"file": (HINT_IMAGE, buffer.getvalue(), "image/png")})
    assert response.status_code == 201, response.text


def run(api, graph: dict) -> np.ndarray:
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]), timeout=240)
    assert execution["status"] == "COMPLETED", execution
    (image,) = execution["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (64, 64)
    content = requests.get(image["url"], timeout=30).content
    return np.asarray(Image.open(io.BytesIO(content)), dtype=np.int16)


def test_comfyuis_controlnet_workflow_runs_with_both_formats(api) -> None:
    upload_hint(api)
    plain = run(api, without_control())
    single = run(api, CONTROLNET_WORKFLOW)  # posted as exported, unchanged
    folder = run(api, controlnet_workflow(**{"10": {"control_net_name": FOLDER_CONTROLNET}}))
    # The same weights in both formats, recomputed from scratch: the same pixels for the same seed.
    assert np.array_equal(single, folder)
    assert np.abs(single - plain).mean() > 0.5
    # Strength 0 is no control at all.
    assert np.array_equal(run(api, controlnet_workflow(**{"12": {"strength": 0.0}})), plain)


def test_the_old_apply_node_controls_the_positive_prompt(api) -> None:
    upload_hint(api)
    plain = run(api, without_control())
    old = run(api, with_old_apply(strength=1.5))
    assert np.abs(old - plain).mean() > 0.5


def test_an_unknown_controlnet_or_an_empty_window_is_a_validation_error(api) -> None:
    listed = {m["name"]: m["format"] for m in api.get("/v1/models").json()["controlnet"]}
    assert listed == {
        FOLDER_CONTROLNET: "diffusers",
        SINGLE_FILE_CONTROLNET: "single_file",
        OTHER_CONTROLNET: "single_file",
        "crucible-demo-tiny-random-sd15-controlnet.safetensors": "single_file",  # the examples' demo model
    }
    loader = api.get("/v1/nodes/ControlNetLoader").json()
    assert loader["inputs"][0]["choices"] == sorted(listed)
    upload_hint(api)
    graph = controlnet_workflow(**{"10": {"control_net_name": "control_v11p_sd15_missing.safetensors"}})
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    (error,) = response.json()["error"]["nodeErrors"]["10"]["errors"]
    assert error["type"] == "value_not_in_list"
    graph = controlnet_workflow(**{"12": {"start_percent": 0.8, "end_percent": 0.2}})
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    assert "start_percent" in response.json()["error"]["nodeErrors"]["12"]["errors"][0]["message"]
