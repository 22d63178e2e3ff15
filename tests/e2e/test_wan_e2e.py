"""End to end: ComfyUI's Wan 2.1 text-to-video and image-to-video examples (split files: UNETLoader,
CLIPLoader type wan, VAELoader, EmptyHunyuanLatentVideo or WanImageToVideo with CLIP vision, ModelSamplingSD3,
KSampler, VAEDecode, SaveAnimatedWEBP) posted through the real worker with the tiny Wan files under their
real names. Everything below the sampler is checked in tests/unit/test_wan.py.
"""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.e2e.test_comfyui_default_workflows import picture, upload
from tests.support.wan_models import wan_workflow

pytestmark = [pytest.mark.e2e]

# Shrunk only in size, frames and steps: the examples' 832x480 (512x512), 33 frames and 30 (20) steps are
# ~14k video tokens per call on 2 shared CPU cores, minutes even at tiny width; every node and other value
# is as ComfyUI ships it.
SMALL = {"width": 96, "height": 64, "length": 9}


def _frames(result: dict, node: str) -> Image.Image:
    assert result["status"] == "COMPLETED", result
    [item] = result["outputs"][node]["images"]
    assert (item["contentType"], item["frames"]) == ("image/webp", 9)  # 1 + (9 - 1) // 4 latent frames -> 9
    image = Image.open(io.BytesIO(requests.get(item["url"], timeout=30).content))
    assert (image.format, image.size, getattr(image, "n_frames", 1)) == ("WEBP", (96, 64), 9)
    return image


def test_comfyui_s_wan_text_to_video_example_makes_a_webp_of_the_requested_frames_and_size(api) -> None:
    graph = wan_workflow("wan21_text_to_video")
    graph["40"]["inputs"].update(SMALL)
    graph["3"]["inputs"]["steps"] = 3
    image = _frames(api.wait(api.execute(api.create_workflow(graph)["id"])), "28")
    first = image.convert("RGB")
    image.seek(8)
    assert len(set(first.getdata())) > 1 and first.tobytes() != image.convert("RGB").tobytes()


def test_comfyui_s_wan_image_to_video_example_makes_a_webp_of_the_requested_frames_and_size(api) -> None:
    graph = wan_workflow("wan21_image_to_video")
    graph["50"]["inputs"].update(SMALL)
    graph["3"]["inputs"]["steps"] = 3
    upload(api, "flux_dev_example.png", picture(128))
    _frames(api.wait(api.execute(api.create_workflow(graph)["id"])), "28")
