"""End to end: ComfyUI's upscale-with-model workflow and an upscaled text-to-image batch, live API."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_image_inputs_and_failures import png_bytes, upload
from tests.e2e.test_text_to_image import download_png
from tests.support.upscale_models import (
    ESRGAN_OLD_X4,
    NOT_AN_UPSCALER,
    REALESRGAN_X2,
    REALESRGAN_X4,
    text_to_image_then_upscale,
    upscale_with_model,
)

pytestmark = pytest.mark.e2e


def gradient_png(width: int, height: int) -> bytes:
    xs = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    array = np.concatenate([xs + 0 * ys, ys + 0 * xs, (xs + ys) / 2], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def run(api, graph: dict) -> dict:
    execution = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert execution["status"] == "COMPLETED", execution
    return execution


def test_comfyui_upscale_workflow_runs_unchanged(api) -> None:
    loader = api.get("/v1/nodes/UpscaleModelLoader").json()
    assert {REALESRGAN_X4, REALESRGAN_X2, ESRGAN_OLD_X4, NOT_AN_UPSCALER} <= set(
        loader["inputs"][0]["choices"]
    )
    # The exported graph loads "example.png": upload a small picture under that name, post the graph as is.
    upload(api, gradient_png(32, 24), name="example.png")
    execution = run(api, upscale_with_model())
    (saved,) = execution["outputs"]["4"]["images"]
    assert (saved["width"], saved["height"]) == (128, 96)
    upscaled = download_png(saved["url"])
    assert upscaled.size == (128, 96) and upscaled.mode == "RGB"
    assert np.asarray(upscaled).std() > 1.0  # the random model draws something, not a flat fill


@pytest.mark.parametrize(("model_name", "size"), [(REALESRGAN_X2, (64, 48)), (ESRGAN_OLD_X4, (128, 96))])
def test_other_layouts_and_scales_through_the_same_workflow(api, model_name: str, size: tuple) -> None:
    uploaded = upload(api, gradient_png(32, 24), name="gradient.png")
    execution = run(api, upscale_with_model(uploaded["fileId"], model_name))
    assert download_png(execution["outputs"]["4"]["images"][0]["url"]).size == size


def test_upscaling_a_text_to_image_batch_of_two(api) -> None:
    execution = run(api, text_to_image_then_upscale(REALESRGAN_X2, batch_size=2))
    originals = execution["outputs"]["9"]["images"]
    upscaled = execution["outputs"]["22"]["images"]
    assert [(i["width"], i["height"]) for i in originals] == [(64, 48)] * 2
    assert [(i["width"], i["height"]) for i in upscaled] == [(128, 96)] * 2
    first, second = (np.asarray(download_png(image["url"])) for image in upscaled)
    assert first.shape == (96, 128, 3) and not np.array_equal(first, second)


def test_an_unknown_model_name_is_a_validation_error(api) -> None:
    image = upload(api, png_bytes((8, 8), (1, 2, 3)))["fileId"]
    graph = upscale_with_model(image, "no-such-upscaler.pth")
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    (error,) = response.json()["error"]["nodeErrors"]["2"]["errors"]
    assert error["type"] == "value_not_in_list"
    assert "no-such-upscaler.pth" in str(error)


def test_a_file_that_is_no_upscaler_fails_with_a_clear_message(api) -> None:
    image = upload(api, png_bytes((8, 8), (10, 20, 30)))["fileId"]
    failed = api.wait(api.execute(api.create_workflow(upscale_with_model(image, NOT_AN_UPSCALER))["id"]))
    assert failed["status"] == "FAILED"
    assert failed["error"]["nodeId"] == "2"
    assert failed["error"]["classType"] == "UpscaleModelLoader"
    assert NOT_AN_UPSCALER in failed["error"]["message"]
    assert "no architecture" in failed["error"]["message"]
