"""Mask and compositing nodes through the live api and gpu worker: an uploaded RGBA PNG in, PNGs out."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.e2e

RED, WHITE, BLACK, GREY = (255, 0, 0), (255, 255, 255), (0, 0, 0), (128, 128, 128)


def half_transparent_png() -> bytes:
    """32x24: the left half opaque red, the right half transparent blue."""
    pixels = np.zeros((24, 32, 4), dtype=np.uint8)
    pixels[:, :16] = (255, 0, 0, 255)
    pixels[:, 16:] = (0, 0, 255, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(api, data: bytes) -> str:
    response = api.post("/v1/files", files={"file": ("mask.png", data, "image/png")})
    assert response.status_code == 201, response.text
    return response.json()["fileId"]


def rgb_pixels(image: dict) -> np.ndarray:
    response = requests.get(image["url"], timeout=30)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_masks_drive_a_composite_and_an_outpaint_pad(api) -> None:
    file_id = upload(api, half_transparent_png())
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": file_id}},
        # LoadImage's mask is 1 where transparent (columns 16+); grown by 2: columns 14+.
        "2": {"class_type": "GrowMask", "inputs": {"mask": ["1", 1], "expand": 2, "tapered_corners": False}},
        "3": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}},
        "4": {
            "class_type": "MaskComposite",
            "inputs": {"destination": ["2", 0], "source": ["3", 0], "x": 0, "y": 16, "operation": "add"},
        },
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 0]}},
        "6": {
            "class_type": "ImageCompositeMasked",
            "inputs": {
                "destination": ["1", 0],
                "source": ["5", 0],
                "x": 0,
                "y": 0,
                "resize_source": False,
                "mask": ["4", 0],
            },
        },
        "7": {
            "class_type": "ImagePadForOutpaint",
            "inputs": {"image": ["6", 0], "left": 0, "top": 0, "right": 8, "bottom": 0, "feathering": 0},
        },
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "masks"}},
    }
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    (image,) = result["outputs"]["8"]["images"]
    assert (image["width"], image["height"]) == (40, 24)
    pixels = rgb_pixels(image)
    assert pixels.shape == (24, 40, 3)
    expected = {(0, 0): RED, (0, 13): RED, (0, 14): WHITE, (10, 31): WHITE, (20, 2): WHITE, (20, 10): RED}
    for (y, x), colour in expected.items():
        assert tuple(pixels[y, x]) == colour, (y, x)
    assert (pixels[:, 32:] == GREY).all()  # the outpainting border


def test_load_image_mask_crop_batch_and_preview(api) -> None:
    file_id = upload(api, half_transparent_png())
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImageMask", "inputs": {"image": file_id, "channel": "alpha"}},
        "2": {
            "class_type": "CropMask",
            "inputs": {"mask": ["1", 0], "x": 8, "y": 0, "width": 16, "height": 8},
        },
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "LoadImageMask", "inputs": {"image": file_id, "channel": "red"}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 0]}},
        # 32x24 red channel, centre-cropped and resized to the 16x8 crop, as the second image.
        "6": {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["5", 0]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    previews = result["outputs"]["7"]["images"]
    assert [(p["width"], p["height"]) for p in previews] == [(16, 8), (16, 8)]
    assert all(p["filename"].startswith("ComfyUI_temp") for p in previews)
    alpha, red = (rgb_pixels(p) for p in previews)
    # Mask = 1 - alpha: the opaque columns 8..15 are black, the transparent 16..23 white.
    assert (alpha[:, :8] == BLACK).all() and (alpha[:, 8:] == WHITE).all()
    assert tuple(red[0, 0]) == WHITE and tuple(red[7, 15]) == BLACK

    # LoadImageMask's file is checked like LoadImage's: an unknown fileId is a validation error.
    graph["1"]["inputs"]["image"] = "file_doesnotexist"
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    assert response.json()["error"]["nodeErrors"]["1"]["errors"][0]["type"] == "value_not_in_list"
