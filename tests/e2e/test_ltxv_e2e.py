"""End to end: ComfyUI's LTX-Video image-to-video example (CheckpointLoaderSimple on the all-in-one
0.9.5 checkpoint, CLIPLoader type ltxv, LTXVImgToVideo, LTXVConditioning, LTXVScheduler,
SamplerCustomAdvanced, VAEDecode, SaveAnimatedWEBP) posted through the real worker with the tiny
LTX-Video files under their real names. The nodes and the loading are checked in tests/unit/test_ltxv.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.e2e.test_comfyui_default_workflows import picture, upload

pytestmark = [pytest.mark.e2e]

WORKFLOW = Path(__file__).resolve().parent / "comfyui_workflows" / "ltxv" / "ltxv_image_to_video.json"
# Shrunk only in size, frames and steps: the example's 768x512, 97 frames and 30 steps are ~5k video tokens
# a call and decode 97 frames, minutes on 2 shared CPU cores even at tiny width; every node and other value
# is as ComfyUI ships it. 17 frames are 3 latent frames (1 + (17 - 1) // 8).
SMALL = {"width": 96, "height": 64, "length": 17}


def test_comfyui_s_ltxv_image_to_video_example_makes_a_webp_of_the_requested_frames_and_size(api) -> None:
    graph = json.loads(WORKFLOW.read_text())
    graph["77"]["inputs"].update(SMALL)
    graph["71"]["inputs"]["steps"] = 3
    upload(api, "flux_dev_example.png", picture(128))
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    [item] = result["outputs"]["41"]["images"]
    assert (item["contentType"], item["frames"]) == ("image/webp", 17)
    image = Image.open(io.BytesIO(requests.get(item["url"], timeout=30).content))
    assert (image.format, image.size, getattr(image, "n_frames", 1)) == ("WEBP", (96, 64), 17)
    first = image.convert("RGB")
    image.seek(16)
    assert len(set(first.getdata())) > 1 and first.tobytes() != image.convert("RGB").tobytes()
