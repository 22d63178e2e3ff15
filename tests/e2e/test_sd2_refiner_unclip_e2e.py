"""End to end through the real worker: ComfyUI's SD 2.1 (768, v-prediction), SDXL base + refiner and
unCLIP examples as its "Export (API)" writes them (comfyui_workflows/; the SDXL one at a smaller size),
on tiny models under the files' real names (tests/support/sd2_models.py), and SDXL "revision" with
CLIPVisionLoader."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_comfyui_default_workflows import exported, picture, pixels, upload
from tests.support.sd2_models import CLIP_VISION_G, SD2_512

# 768 x 768 examples take a while on a CPU the test machine shares.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def run(api, graph: dict) -> dict:
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]), timeout=600)
    assert execution["status"] == "COMPLETED", execution
    return execution


def test_sd2_768_v_example_and_the_512_eps_model(api) -> None:
    graph = exported("sd2_text_to_image")
    execution = run(api, graph)
    (image,) = execution["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (768, 768)
    assert pixels(execution)[0].std() > 0
    eps_graph = copy.deepcopy(graph)
    eps_graph["4"]["inputs"]["ckpt_name"] = SD2_512
    eps_graph["5"]["inputs"].update(width=256, height=256)
    eps_graph["3"]["inputs"]["steps"] = 4
    assert pixels(run(api, eps_graph))[0].shape == (256, 256, 3)


def test_sdxl_base_then_refiner_example(api) -> None:
    graph = exported("sdxl_base_refiner")
    # The one change: 256 x 256 instead of 1024 x 1024. The tiny SDXL base (tests/support/sdxl_models.py)
    # attends at half the latent's side, which at 1024 px costs minutes per step on a shared CPU.
    graph["5"]["inputs"].update(width=256, height=256)
    execution = run(api, graph)
    (image,) = execution["outputs"]["19"]["images"]
    assert (image["width"], image["height"]) == (256, 256)
    assert pixels(execution, "19")[0].std() > 0  # the handoff itself: tests/unit/test_sdxl_refiner.py


def test_unclip_example_follows_its_image(api) -> None:
    graph = exported("unclip")
    upload(api, "mountains.png", picture())
    first = pixels(run(api, graph))[0]
    assert first.shape == (768, 768, 3)
    # Another picture under the same name: another image embedding, another result for the same seed
    # (smaller and shorter, to keep the test's time in bounds; the graph is otherwise the example's).
    small = copy.deepcopy(graph)
    small["5"]["inputs"].update(width=256, height=256)
    small["3"]["inputs"]["steps"] = 4
    before = pixels(run(api, small))[0]
    upload(api, "mountains.png", Image.fromarray(np.full((512, 512, 3), 30, dtype=np.uint8), "RGB"))
    assert not np.array_equal(pixels(run(api, small))[0], before)


def test_sdxl_revision_with_clip_vision_loader(api) -> None:
    graph = exported("sdxl_base_refiner")
    for node in ("11", "12", "15", "16"):
        del graph[node]
    graph["5"]["inputs"].update(width=256, height=256)
    graph["10"]["inputs"].update(steps=4, end_at_step=10000, return_with_leftover_noise="disable")
    graph["17"]["inputs"] = {"samples": ["10", 0], "vae": ["4", 2]}
    graph["30"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": CLIP_VISION_G}}
    graph["31"] = {"class_type": "LoadImage", "inputs": {"image": "revision.png", "upload": "image"}}
    graph["32"] = {
        "class_type": "CLIPVisionEncode",
        "inputs": {"clip_vision": ["30", 0], "image": ["31", 0], "crop": "none"},
    }
    graph["33"] = {
        "class_type": "unCLIPConditioning",
        "inputs": {
            "conditioning": ["6", 0],
            "clip_vision_output": ["32", 0],
            "strength": 1.0,
            "noise_augmentation": 0,
        },
    }
    upload(api, "revision.png", picture(300))
    plain = pixels(run(api, graph), "19")[0]
    graph["10"]["inputs"]["positive"] = ["33", 0]
    with_image = pixels(run(api, graph), "19")[0]
    assert with_image.shape == (256, 256, 3) and not np.array_equal(with_image, plain)
