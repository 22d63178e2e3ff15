"""Odd and hostile input gets a clear 4xx, never a 500."""

from __future__ import annotations

import io
import json

from PIL import Image

from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS, text_to_image


def error_type(response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    return response.json()["error"]["type"]


def test_strange_graphs_are_400(api) -> None:
    cases = [
        {"1": {"class_type": [], "inputs": {}}},
        {"1": {"class_type": {"x": 1}, "inputs": {}}},
        {"²": {"class_type": "SaveImage", "inputs": {"images": ["1" * 5000, 0]}}},
        text_to_image(**{"3": {"cfg": 10**400}}),
        text_to_image(**{"3": {"steps": 2.0}}),
        text_to_image(**{"3": {"seed": 1.5e19}}),
        text_to_image(**{"6": {"text": "a\u0000b"}}),
    ]
    for graph in cases:
        response = api.post("/v1/workflows", json={"name": "odd", "graph": graph})
        assert error_type(response) in {"invalid_graph", "invalid_text"}, graph


def test_deep_and_huge_graphs(api) -> None:
    chain = {
        str(i): {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}} for i in range(1, 1500)
    }
    chain["0"] = {"class_type": "LoadImage", "inputs": {"image": "file_missing"}}
    chain["save"] = {"class_type": "SaveImage", "inputs": {"images": ["1499", 0]}}
    chain["1499"] = {"class_type": "ImageInvert", "inputs": {"image": ["1498", 0]}}
    response = api.post("/v1/workflows", json={"name": "deep", "graph": chain})
    assert error_type(response) == "invalid_graph"  # only the missing file: no recursion limit hit
    assert list(response.json()["error"]["nodeErrors"]) == ["0"]

    huge = {str(i): {"class_type": "ImageInvert", "inputs": {}} for i in range(2500)}
    response = api.post("/v1/workflows", json={"name": "huge", "graph": huge})
    assert response.json()["error"]["errors"][0]["type"] == "graph_too_large"


def test_unstorable_text_in_execute_inputs(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    for prompt in ("nul\u0000here", "lone \udc00 surrogate"):
        response = api.post(
            f"/v1/workflows/{workflow['id']}/execute",
            data=json.dumps({"inputs": {"prompt": prompt}}),
            headers={"Content-Type": "application/json"},
        )
        assert error_type(response) == "invalid_text"


def test_bad_idempotency_keys(api) -> None:
    for key in ("k" * 256,):  # non-ASCII bytes never reach Django intact through gunicorn
        response = api.post(
            "/v1/workflows",
            json={"name": "w", "graph": TEXT_TO_IMAGE},
            headers={"Idempotency-Key": key.encode().decode("latin-1")},
        )
        assert error_type(response) == "invalid_idempotency_key"


def test_retried_upload_with_a_new_multipart_boundary_is_replayed(api) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    first = api.post(
        "/v1/files",
        files={"file": ("a.png", buffer.getvalue(), "image/png")},
        headers={"Idempotency-Key": "u1"},
    )
    again = api.post(
        "/v1/files",
        files={"file": ("a.png", buffer.getvalue(), "image/png")},
        headers={"Idempotency-Key": "u1"},
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    other = api.post(
        "/v1/files",
        files={"file": ("b.png", buffer.getvalue(), "image/png")},
        headers={"Idempotency-Key": "u1"},
    )
    assert error_type(other) == "idempotency_key_reused"
