"""End to end: a single-file SD1 checkpoint with CLIPSetLastLayer and VAELoader, through the live API."""

from __future__ import annotations

import pytest

from tests.e2e.test_text_to_image import download_png
from tests.support.graphs import SINGLE_FILE_CHECKPOINT, TINY_VAE, single_file_with_clip_skip_and_vae

pytestmark = pytest.mark.e2e


def test_single_file_checkpoint_with_clip_skip_and_a_separate_vae_runs(api) -> None:
    models = api.get("/v1/models").json()
    assert SINGLE_FILE_CHECKPOINT in [m["name"] for m in models["checkpoints"]]
    # FLUX's, SD3's and Wan's VAEs too (their tiny stand-ins under the real names).
    assert [m["name"] for m in models["vae"]] == [
        "ae.safetensors",
        "sd3_vae.safetensors",
        TINY_VAE,
        "wan_2.1_vae.safetensors",
    ]
    vae_loader = api.get("/v1/nodes/VAELoader").json()
    assert TINY_VAE in str(vae_loader)

    workflow = api.create_workflow(single_file_with_clip_skip_and_vae(), {})
    result = api.wait(api.execute(workflow["id"], {}))

    assert result["status"] == "COMPLETED", result
    images = result["outputs"]["9"]["images"]
    assert (images[0]["width"], images[0]["height"]) == (64, 48)
    assert download_png(images[0]["url"]).size == (64, 48)
