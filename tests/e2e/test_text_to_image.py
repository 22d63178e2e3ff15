"""End to end: key -> workflow -> execute -> poll -> COMPLETED -> download the PNG."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS

pytestmark = pytest.mark.e2e


def download_png(url: str) -> Image.Image:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_text_to_image_runs_end_to_end(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    accepted = api.post(f"/v1/workflows/{workflow['id']}/execute", json={"inputs": {"prompt": "a red fox"}})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "QUEUED"
    assert body["executionId"].startswith("exe_")
    assert body["pollUrl"].endswith(f"/v1/workflows/executions/{body['executionId']}/poll")

    result = api.wait(body["executionId"])

    assert result["status"] == "COMPLETED", result
    assert result["workflowId"] == workflow["id"]
    assert result["startedAt"] and result["completedAt"]
    assert result["error"] is None
    assert result["progress"] == {"fraction": 1.0}
    images = result["outputs"]["9"]["images"]
    assert len(images) == 1
    assert images[0]["contentType"] == "image/png"
    assert (images[0]["width"], images[0]["height"]) == (64, 48)
    picture = download_png(images[0]["url"])
    assert picture.size == (64, 48)
    assert picture.mode == "RGB"


def test_same_seed_gives_the_same_image_and_another_seed_does_not(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    runs = [api.execute(workflow["id"], {"seed": seed}) for seed in (11, 11, 12)]
    pixels = []
    for execution_id in runs:
        result = api.wait(execution_id)
        assert result["status"] == "COMPLETED", result
        pixels.append(download_png(result["outputs"]["9"]["images"][0]["url"]).tobytes())
    assert pixels[0] == pixels[1]
    assert pixels[0] != pixels[2]


def test_batch_size_gives_one_png_per_image(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    result = api.wait(api.execute(workflow["id"], {"batch_size": 3, "width": 32, "height": 64}))
    assert result["status"] == "COMPLETED", result
    images = result["outputs"]["9"]["images"]
    assert [(i["width"], i["height"]) for i in images] == [(32, 64)] * 3
    assert len({download_png(i["url"]).tobytes() for i in images}) == 3
