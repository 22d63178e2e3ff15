"""ComfyUI's default and example workflows, exported in API format, posted byte for byte unchanged.

The JSON files in comfyui_workflows/ are what ComfyUI's "Export (API)" writes, with its model
and image names; the tests save tiny models under those names (tests/support/default_models.py,
sdxl_models.py)
and upload the input images under the names the graphs load. lora.json and upscale_with_model.json
run, unchanged too, in test_lora_e2e.py and test_upscale_models_e2e.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.e2e

WORKFLOWS = Path(__file__).resolve().parent / "comfyui_workflows"


def exported(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def upload(api, name: str, image: Image.Image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = api.post("/v1/files", files={"file": (name, buffer.getvalue(), "image/png")})
    assert response.status_code == 201, response.text


def run(api, graph: dict) -> dict:
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]), timeout=240)
    assert execution["status"] == "COMPLETED", execution
    return execution


def pixels(execution: dict, node: str = "9") -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(requests.get(image["url"], timeout=30).content)), dtype=np.int16)
        for image in execution["outputs"][node]["images"]
    ]


def picture(size: int = 512, alpha: np.ndarray | None = None) -> Image.Image:
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if alpha is None:
        return Image.fromarray(rgb, "RGB")
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def test_default_text_to_image(api) -> None:
    execution = run(api, exported("text_to_image"))
    (image,) = execution["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (512, 512)
    assert pixels(execution)[0].std() > 0


def test_default_workflow_naming_the_pickled_ckpt(api) -> None:
    """The default graph as ComfyUI shipped it before the fp16 safetensors, naming
    ``v1-5-pruned-emaonly.ckpt`` (tiny weights torch.save'd as a training checkpoint, ``state_dict``
    wrapped), loaded with weights-only unpickling. tests/unit/test_pickled_model_files.py shows the
    same weights as the .safetensors give the same model."""
    graph = exported("text_to_image_ckpt")
    assert graph["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.ckpt"
    created = api.create_workflow(graph)
    assert created["warnings"] == []
    execution = api.wait(api.execute(created["id"]), timeout=240)
    assert execution["status"] == "COMPLETED", execution
    (image,) = execution["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (512, 512)
    assert pixels(execution)[0].std() > 0


def test_image_to_image_example(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_world

    graph = exported("image_to_image")
    upload(api, "example.png", picture())
    first = run(api, graph)
    assert [(i["width"], i["height"]) for i in first["outputs"]["9"]["images"]] == [(512, 512)]
    # Same seed, same image: computed afresh in another tenant, which shares no cached results.
    other = ApiClient(stack.base_url, make_world().key)
    upload(other, "example.png", picture())
    second = run(other, graph)
    assert second["cachedNodes"] == []
    assert np.array_equal(pixels(first)[0], pixels(second)[0])


def test_inpainting_example_samples_only_the_masked_part(api) -> None:
    # ComfyUI's inpainting example loads an RGBA picture whose transparent part is the mask.
    graph, reseeded = exported("inpainting"), exported("inpainting")
    reseeded["3"]["inputs"]["seed"] += 1
    alpha = np.full((512, 512), 255, dtype=np.uint8)
    alpha[192:320, 192:320] = 0
    upload(api, "yosemite_inpaint_example.png", picture(alpha=alpha))
    with_hole = pixels(run(api, graph))[0]
    assert with_hole.shape == (512, 512, 3)
    # The same name uploaded again (the latest upload is used), now opaque: nothing is masked, so
    # the sampler keeps the input latent everywhere and the seed no longer matters.
    upload(api, "yosemite_inpaint_example.png", picture(alpha=np.full((512, 512), 255, dtype=np.uint8)))
    opaque = [pixels(run(api, g))[0] for g in (graph, reseeded)]
    assert np.array_equal(opaque[0], opaque[1])
    assert not np.array_equal(opaque[0], with_hole)


def test_controlnet_workflow_follows_its_hint(api) -> None:
    # Canny-style hint: white outlines on black, as ComfyUI's Canny preprocessor writes them.
    edges = np.zeros((512, 512, 3), dtype=np.uint8)
    edges[128, 128:384] = edges[383, 128:384] = edges[128:384, 128] = edges[128:384, 383] = 255
    upload(api, "canny_example.png", Image.fromarray(edges, "RGB"))
    graph = exported("controlnet")
    with_control = pixels(run(api, graph))[0]
    assert with_control.shape == (512, 512, 3)
    # Another hint under the same name steers the same seed elsewhere.
    edges = np.zeros((512, 512, 3), dtype=np.uint8)
    edges[256, :] = 255
    upload(api, "canny_example.png", Image.fromarray(edges, "RGB"))
    assert not np.array_equal(pixels(run(api, graph))[0], with_control)


def test_sdxl_turbo_with_sampler_custom(api) -> None:
    # ComfyUI's SDXL Turbo example: SDTurboScheduler (1 step), KSamplerSelect, SamplerCustom at cfg 1.
    from tests.support.sampling import exported_sdxl_turbo

    graph = exported_sdxl_turbo(exported("sdxl_turbo"))
    turbo = pixels(run(api, graph), "27")[0]
    assert turbo.shape == (512, 512, 3) and turbo.std() > 0
    reseeded = json.loads(json.dumps(graph))
    reseeded["13"]["inputs"]["noise_seed"] = 1
    assert not np.array_equal(pixels(run(api, reseeded), "27")[0], turbo)
    if graph["14"]["inputs"]["sampler_name"] == "euler":
        # One step from sigma(999) to 0 is KSampler's "simple" schedule at 1 step: the same image, up
        # to float rounding (SDTurboScheduler interpolates sigma(999) in log space, simple reads it).
        ksampler = json.loads(json.dumps(graph))
        for node in ("13", "14", "22"):
            del ksampler[node]
        ksampler["3"] = {
            "class_type": "KSampler",
            "inputs": {
                "seed": 0, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple",
                "denoise": 1.0, "model": ["20", 0], "positive": ["6", 0], "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        }  # fmt: skip
        ksampler["8"]["inputs"]["samples"] = ["3", 0]
        assert np.abs(pixels(run(api, ksampler), "27")[0] - turbo).max() <= 1


def test_lcm_lora_example_samples_with_the_lcm_sampler(api) -> None:
    """ComfyUI's LCM LoRA example: the LoRA, ModelSamplingDiscrete(lcm), 4 lcm steps at cfg 1.5."""
    graph = exported("lcm_lora")
    assert graph["3"]["inputs"]["sampler_name"] == "lcm" and graph["11"]["inputs"]["sampling"] == "lcm"
    (image,) = pixels(run(api, graph))
    assert image.shape == (512, 512, 3) and image.std() > 0


def test_hires_fix_with_uni_pc_bh2_then_dpmpp_sde(api) -> None:
    """A hires-fix graph: a uni_pc_bh2 pass, the latent upscaled, a dpmpp_sde pass at denoise 0.5."""
    graph = exported("hires_fix")
    (image,) = pixels(run(api, graph))
    assert image.shape == (384, 384, 3) and image.std() > 0
