"""End to end: LoadImage -> LoadBackgroundRemovalModel -> RemoveBackground -> SaveImage on a real worker,
with tiny ONNX models of rembg's and BRIA's signatures; RGBA PNGs out, the mask as their alpha."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.test_image_inputs_and_failures import upload
from tests.e2e.test_text_to_image import download_png
from tests.e2e.test_upscale_models_e2e import gradient_png, run
from tests.support.background_models import BACKGROUND_MODELS, COMFY_BIREFNET, remove_background_graph

pytestmark = pytest.mark.e2e


def test_remove_background_saves_rgba_and_comfyui_s_own_wiring_agrees(api) -> None:
    loader = api.get("/v1/nodes/LoadBackgroundRemovalModel").json()
    assert set(BACKGROUND_MODELS) | {COMFY_BIREFNET} <= set(loader["inputs"][0]["choices"])
    image = upload(api, gradient_png(40, 30), name="product.png")["fileId"]
    execution = run(api, remove_background_graph(image, "isnet-general-use.onnx"))
    (cutout,) = execution["outputs"]["4"]["images"]
    (joined,) = execution["outputs"]["7"]["images"]
    assert (cutout["width"], cutout["height"]) == (40, 30)
    ours, comfy = download_png(cutout["url"]), download_png(joined["url"])
    assert ours.mode == comfy.mode == "RGBA" and ours.size == (40, 30)
    rgba = np.asarray(ours)
    # The colour is the upload's, untouched; the alpha is the model's soft mask (not flat).
    assert np.array_equal(rgba[..., :3], np.asarray(download_png_rgb(gradient_png(40, 30))))
    assert rgba[..., 3].std() > 1.0
    # RemoveBackground's mask -> InvertMask -> JoinImageWithAlpha gives ComfyUI's users the same cut-out.
    assert np.abs(rgba.astype(int) - np.asarray(comfy).astype(int)).max() <= 1


def test_a_threshold_gives_a_hard_cut_out(api) -> None:
    image = upload(api, gradient_png(32, 32))["fileId"]
    execution = run(api, remove_background_graph(image, "u2net.onnx", threshold=0.5))
    alpha = np.asarray(download_png(execution["outputs"]["4"]["images"][0]["url"]))[..., 3]
    assert set(np.unique(alpha).tolist()) <= {0, 255}


def test_comfyui_s_torch_birefnet_file_is_refused_at_validation(api) -> None:
    image = upload(api, gradient_png(8, 8))["fileId"]
    response = api.post(
        "/v1/workflows", json={"name": "x", "graph": remove_background_graph(image, COMFY_BIREFNET)}
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["error"]["nodeErrors"]["2"]["errors"]
    assert (error["type"], error["input"]) == ("model_not_loadable", "bg_removal_name")
    assert "background removal runs ONNX exports" in error["message"]


def download_png_rgb(data: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def test_rebatched_images_run_downstream_once_per_batch(api) -> None:
    graph = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 12, "batch_size": 3, "color": 0x336699},
        },
        "2": {"class_type": "RebatchImages", "inputs": {"images": ["1", 0], "batch_size": 2}},
        "3": {"class_type": "LoadBackgroundRemovalModel", "inputs": {"bg_removal_name": "u2netp.onnx"}},
        "4": {"class_type": "RemoveBackground", "inputs": {"bg_removal_model": ["3", 0], "image": ["2", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 1], "filename_prefix": "rebatched"}},
    }
    images = run(api, graph)["outputs"]["5"]["images"]
    assert [(i["width"], i["height"]) for i in images] == [(16, 12)] * 3
    assert len({i["url"] for i in images}) == 3
    assert all(download_png(i["url"]).mode == "RGBA" for i in images)


def test_string_nodes_feed_a_prompt_and_the_picture_is_cut_out(api) -> None:
    """Text made by the string nodes is the prompt; the decoded image goes on through background removal."""
    from tests.support.graphs import text_to_image

    graph = text_to_image(**{"3": {"steps": 2}})
    graph["20"] = {"class_type": "PrimitiveString", "inputs": {"value": "a red fox"}}
    graph["21"] = {
        "class_type": "StringConcatenate",
        "inputs": {"string_a": ["20", 0], "string_b": "studio light", "delimiter": ", "},
    }
    graph["22"] = {
        "class_type": "RegexReplace",
        "inputs": {"string": ["21", 0], "regex_pattern": "red", "replace": "grey"},
    }
    graph["6"]["inputs"]["text"] = ["22", 0]
    graph["23"] = {
        "class_type": "LoadBackgroundRemovalModel",
        "inputs": {"bg_removal_name": "RMBG-1.4/model.onnx"},
    }
    graph["24"] = {
        "class_type": "RemoveBackground",
        "inputs": {"bg_removal_model": ["23", 0], "image": ["8", 0]},
    }
    graph["25"] = {"class_type": "SaveImage", "inputs": {"images": ["24", 1], "filename_prefix": "fox"}}
    execution = run(api, graph)
    (plain,) = execution["outputs"]["9"]["images"]
    (cutout,) = execution["outputs"]["25"]["images"]
    assert (cutout["width"], cutout["height"]) == (plain["width"], plain["height"])
    assert download_png(cutout["url"]).mode == "RGBA"
