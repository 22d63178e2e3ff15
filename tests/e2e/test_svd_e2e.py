"""End to end through the real worker: ComfyUI's Stable Video Diffusion image-to-video example as its
"Export (API)" writes it (comfyui_workflows/svd/), LoadImage -> ImageOnlyCheckpointLoader ->
SVD_img2vid_Conditioning -> VideoLinearCFGGuidance -> KSampler -> VAEDecode -> SaveAnimatedWEBP, on the
tiny SVD under its real name (tests/support/svd_models.py)."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.e2e.test_comfyui_default_workflows import picture, upload
from tests.support.svd_models import svd_workflow

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_svd_image_to_video_example_gives_an_animated_webp_of_its_frames(api) -> None:
    graph = svd_workflow("image_to_video")
    # The one change: 256 x 144 instead of 1024 x 576 (the same 16:9). At 1024 x 576 the tiny UNet's
    # spatial attention runs over 9216 tokens per frame, 14 frames, both CFG sides, 20 steps: minutes
    # on a shared CPU. Frames, steps, sampler, guidance and the output node are the example's.
    graph["12"]["inputs"].update(width=256, height=144)
    upload(api, "mountains.png", picture())
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]), timeout=600)
    assert execution["status"] == "COMPLETED", execution

    frames = graph["12"]["inputs"]["video_frames"]
    output = execution["outputs"]["10"]
    assert output["animated"] == [True]
    (item,) = output["images"]
    assert (item["mediaType"], item["contentType"], item["frames"]) == ("image", "image/webp", frames)
    assert (item["width"], item["height"]) == (256, 144)
    assert item["durationSeconds"] == pytest.approx(frames / graph["10"]["inputs"]["fps"])
    response = requests.get(item["url"], timeout=30)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size, getattr(image, "n_frames", 1)) == ("WEBP", (256, 144), frames)
