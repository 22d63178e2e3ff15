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
from tests.support.svd_models import SVD, SVD_XT, svd_workflow

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_svd_image_to_video_example_gives_an_animated_webp_of_its_frames(api) -> None:
    listed = {m["name"]: m for m in api.get("/v1/models").json()["checkpoints"]}
    for name in (SVD, SVD_XT):
        assert (listed[name]["family"], listed[name]["loadable"]) == ("svd", True)
    graph = svd_workflow("image_to_video")
    # Two changes, for time only: 128 x 64 instead of 1024 x 576, and 6 steps instead of 20. Every step
    # runs the 14 frames on both CFG sides (VideoLinearCFGGuidance keeps the negative even at cfg 1);
    # at the example's size and steps that is minutes per run on a shared 2-core CPU even for the tiny
    # UNet (256 x 144 at 20 steps took 4 minutes). 128 x 64 keeps the tiny UNet's latent (16 x 8)
    # divisible by its one downsampling. Frames, sampler, scheduler, cfg, guidance, fps and the
    # output node are the example's; per-step behaviour is covered by tests/unit/test_svd.py.
    graph["12"]["inputs"].update(width=128, height=64)
    graph["3"]["inputs"]["steps"] = 6
    upload(api, "mountains.png", picture())
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]), timeout=600)
    assert execution["status"] == "COMPLETED", execution

    frames = graph["12"]["inputs"]["video_frames"]
    output = execution["outputs"]["10"]
    assert output["animated"] == [True]
    (item,) = output["images"]
    assert (item["mediaType"], item["contentType"], item["frames"]) == ("image", "image/webp", frames)
    assert (item["width"], item["height"]) == (128, 64)
    assert item["durationSeconds"] == pytest.approx(frames / graph["10"]["inputs"]["fps"])
    response = requests.get(item["url"], timeout=30)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size, getattr(image, "n_frames", 1)) == ("WEBP", (128, 64), frames)
