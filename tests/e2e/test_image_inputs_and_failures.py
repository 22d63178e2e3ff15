"""Image-to-image from an uploaded file, plain image nodes, and a node that fails at run time."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support.graphs import BROKEN_CHECKPOINT, IMAGE_TO_IMAGE, TEXT_TO_IMAGE, text_to_image

pytestmark = pytest.mark.e2e


def png_bytes(size: tuple[int, int], color: tuple[int, ...], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(api, data: bytes, name: str = "input.png") -> dict:
    response = api.post("/v1/files", files={"file": (name, data, "image/png")})
    assert response.status_code == 201, response.text
    return response.json()


def fetch(url: str) -> Image.Image:
    image = Image.open(io.BytesIO(requests.get(url, timeout=30).content))
    image.load()
    return image


def test_image_to_image_from_an_uploaded_file(api) -> None:
    uploaded = upload(api, png_bytes((64, 40), (200, 30, 30)))
    assert uploaded["fileId"].startswith("file_")
    assert (uploaded["width"], uploaded["height"], uploaded["contentType"]) == (64, 40, "image/png")
    graph = copy.deepcopy(IMAGE_TO_IMAGE)
    graph["1"]["inputs"]["image"] = uploaded["fileId"]
    workflow = api.create_workflow(graph, {"image": {"node": "1", "input": "image"}})

    result = api.wait(api.execute(workflow["id"]))
    assert result["status"] == "COMPLETED", result
    image = result["outputs"]["9"]["images"][0]
    assert (image["width"], image["height"]) == (64, 40)
    assert fetch(image["url"]).size == (64, 40)

    # The named input takes another upload; the same seed and input give the same pixels.
    second = upload(api, png_bytes((64, 40), (30, 30, 200)))
    runs = [api.execute(workflow["id"], {"image": second["fileId"]}) for _ in range(2)]
    pixels = [fetch(api.wait(r)["outputs"]["9"]["images"][0]["url"]).tobytes() for r in runs]
    assert pixels[0] == pixels[1]


def test_a_file_of_another_tenant_or_unknown_is_a_validation_error(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_world

    theirs = upload(
        ApiClient(stack.base_url, make_world().key), png_bytes((16, 16), (1, 2, 3)), name="theirs-only.png"
    )
    graph = copy.deepcopy(IMAGE_TO_IMAGE)
    # By id or by upload name, another tenant's file does not exist for this one.
    for file_id in (theirs["fileId"], "theirs-only.png", "file_doesnotexist"):
        graph["1"]["inputs"]["image"] = file_id
        response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
        assert response.status_code == 400
        assert response.json()["error"]["nodeErrors"]["1"]["errors"][0]["type"] == "value_not_in_list"
        assert theirs["fileId"] not in response.text or file_id == theirs["fileId"]


def test_comfyui_style_names_find_their_upload(api) -> None:
    upload(api, png_bytes((16, 16), (9, 9, 9)), name="my photo (1).png")
    graph = copy.deepcopy(IMAGE_TO_IMAGE)
    # As ComfyUI writes them: the plain name, with its folder annotation, under a subfolder.
    for reference in ("my photo (1).png", "my photo (1).png [input]", "clipspace/my photo (1).png"):
        graph["1"]["inputs"]["image"] = reference
        response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
        assert response.status_code == 201, (reference, response.text)
    upload(api, png_bytes((16, 16), (9, 9, 9)), name="...")  # no usable name: stored as "upload"
    for nameless in ("", "???", "/", " [input]"):
        graph["1"]["inputs"]["image"] = nameless
        response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
        assert response.status_code == 400, (nameless, response.text)


def test_uploads_are_checked_by_content(api) -> None:
    response = api.post("/v1/files", files={"file": ("cat.png", b"GIF89a not really", "image/png")})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_file"
    response = api.post("/v1/files", files={"file": ("empty.png", b"", "image/png")})
    assert response.status_code == 400
    response = api.post("/v1/files", files={"other": ("a.png", b"x", "image/png")})
    assert response.status_code == 400
    assert "file" in response.json()["error"]["message"]


def test_load_image_mask_and_plain_image_nodes(api) -> None:
    rgba = png_bytes((40, 30), (10, 20, 30, 0), mode="RGBA")
    file_id = upload(api, rgba)["fileId"]
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": file_id}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "ImageCrop",
            "inputs": {"image": ["2", 0], "width": 20, "height": 10, "x": 5, "y": 5},
        },
        "4": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["3", 0],
                "upscale_method": "nearest-exact",
                "width": 40,
                "height": 0,
                "crop": "disabled",
            },
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "plain"}},
    }
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    out = result["outputs"]["5"]["images"][0]
    assert (out["width"], out["height"]) == (40, 20)
    pixels = np.asarray(fetch(out["url"]).convert("RGB"))
    assert pixels.shape == (20, 40, 3)
    assert (pixels == [245, 235, 225]).all()


def test_a_failing_node_fails_the_execution_and_the_worker_keeps_working(api) -> None:
    workflow = api.create_workflow(text_to_image(**{"4": {"ckpt_name": BROKEN_CHECKPOINT}}))
    failed = api.wait(api.execute(workflow["id"]))
    assert failed["status"] == "FAILED"
    assert failed["outputs"] == {}
    assert failed["error"]["nodeId"] == "4"
    assert failed["error"]["classType"] == "CheckpointLoaderSimple"
    assert failed["error"]["type"] == "invalid_node_input"
    assert BROKEN_CHECKPOINT in failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]

    healthy = api.wait(api.execute(api.create_workflow(TEXT_TO_IMAGE)["id"]))
    assert healthy["status"] == "COMPLETED", healthy
