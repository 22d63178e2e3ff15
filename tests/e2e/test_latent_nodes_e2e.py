"""End to end: latent transforms, noise masks and KSamplerAdvanced through the live api."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.support.graphs import TINY_CHECKPOINT

pytestmark = pytest.mark.e2e


def rgba_png(size: tuple[int, int]) -> bytes:
    """Opaque on the left, transparent on the right: LoadImage's MASK is 1 on the right half."""
    picture = Image.new("RGBA", size, (90, 140, 200, 255))
    picture.paste((0, 0, 0, 0), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def sampler(latent: list, seed: int, **extra) -> dict:
    inputs = {
        "seed": seed,
        "steps": 3,
        "cfg": 7.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1.0,
        "model": ["4", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": latent,
    }
    return {"class_type": "KSampler", "inputs": {**inputs, **extra}}


def test_inpainting_graph_with_latent_nodes(api) -> None:
    upload = api.post("/v1/files", files={"file": ("mask.png", rgba_png((64, 48)), "image/png")})
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["fileId"]
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": file_id}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 2}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": sampler(["5", 0], seed=5),
        # Base pass: both images.
        "20": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "21": {"class_type": "SaveImage", "inputs": {"images": ["20", 0], "filename_prefix": "base"}},
        # Second image, doubled, repainted on the right half only, in two KSamplerAdvanced stages.
        "10": {
            "class_type": "LatentUpscaleBy",
            "inputs": {"samples": ["3", 0], "upscale_method": "bislerp", "scale_by": 2.0},
        },
        "11": {
            "class_type": "LatentFromBatch",
            "inputs": {"samples": ["10", 0], "batch_index": 1, "length": 1},
        },
        "12": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["11", 0], "mask": ["1", 1]}},
        "13": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                "model": ["4", 0],
                "add_noise": "enable",
                "noise_seed": 9,
                "steps": 4,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["12", 0],
                "start_at_step": 1,
                "end_at_step": 3,
                "return_with_leftover_noise": "enable",
            },
        },
        "14": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                "model": ["4", 0],
                "add_noise": "disable",
                "noise_seed": 9,
                "steps": 4,
                "cfg": 7.0,
                # ComfyUI's refiner pattern mixes samplers; euler (karras) until more are implemented.
                "sampler_name": "euler",
                "scheduler": "karras",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["13", 0],
                "start_at_step": 3,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
            },
        },
        "15": {"class_type": "LatentRotate", "inputs": {"samples": ["14", 0], "rotation": "90 degrees"}},
        "16": {"class_type": "VAEDecode", "inputs": {"samples": ["15", 0], "vae": ["4", 2]}},
        "17": {"class_type": "SaveImage", "inputs": {"images": ["16", 0], "filename_prefix": "inpainted"}},
        # The uploaded picture itself, inpainted under its transparent half.
        "30": {
            "class_type": "VAEEncodeForInpaint",
            "inputs": {"pixels": ["1", 0], "vae": ["4", 2], "mask": ["1", 1], "grow_mask_by": 6},
        },
        "31": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["30", 0], "amount": 3}},
        "32": sampler(["31", 0], seed=11),
        "33": {"class_type": "VAEDecode", "inputs": {"samples": ["32", 0], "vae": ["4", 2]}},
        "34": {"class_type": "SaveImage", "inputs": {"images": ["33", 0], "filename_prefix": "vae_inpaint"}},
    }
    workflow = api.create_workflow(graph)

    result = api.wait(api.execute(workflow["id"]))

    assert result["status"] == "COMPLETED", result
    sizes = {
        node: [(image["width"], image["height"]) for image in result["outputs"][node]["images"]]
        for node in ("21", "17", "34")
    }
    assert sizes == {"21": [(64, 48)] * 2, "17": [(96, 128)], "34": [(64, 48)] * 3}
    final = result["outputs"]["17"]["images"][0]
    picture = Image.open(io.BytesIO(requests.get(final["url"], timeout=30).content))
    assert picture.size == (96, 128)
