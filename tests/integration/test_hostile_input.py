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


def nested(depth: int) -> str:
    """A JSON text `depth` containers deep, alternating objects and arrays."""
    return '{"a":[' * (depth // 2) + "1" + "]}" * (depth // 2)


def deep_meta_graph(depth: int) -> str:
    """TEXT_TO_IMAGE with one node's `_meta` nested `depth` levels, as JSON text."""
    graph = text_to_image()
    graph["3"]["_meta"] = "DEEP"
    return json.dumps({"name": "deep", "graph": graph}).replace('"DEEP"', nested(depth))


def test_json_nested_too_deep_is_400_on_every_route(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    execution = api.execute(workflow["id"])
    deep = nested(5000)
    json_routes = [
        ("POST", "/v1/workflows"),
        ("PUT", f"/v1/workflows/{workflow['id']}"),
        ("PATCH", f"/v1/workflows/{workflow['id']}"),
        ("POST", f"/v1/workflows/{workflow['id']}/execute"),
        ("POST", f"/v1/workflows/executions/{execution}/cancel"),
        ("POST", "/v1/files"),
    ]
    for idempotency in ({}, {"Idempotency-Key": "deep-1"}):
        for method, path in json_routes:
            response = api.request(
                method, path, data=deep, headers={"Content-Type": "application/json", **idempotency}
            )
            if path.endswith("/cancel") and not idempotency:
                assert response.status_code < 500, response.text  # cancel takes no body: it is not read
                continue
            if path == "/v1/files" and not idempotency:
                assert error_type(response) == "unsupported_media_type"  # it takes multipart only
                continue
            assert error_type(response) == "json_too_deep", (method, path, idempotency)
            assert "64" in response.json()["error"]["message"]
    multipart = api.post("/v1/workflows", files={"name": (None, "deep"), "graph": (None, deep)})
    assert error_type(multipart) == "json_too_deep"
    upload = api.post("/v1/files", files={"graph": (None, deep)}, headers={"Idempotency-Key": "deep-2"})
    assert upload.status_code == 400, upload.text


def test_a_graph_too_deep_to_run_is_never_stored(api) -> None:
    for depth in (500, 800):
        response = api.post(
            "/v1/workflows", data=deep_meta_graph(depth), headers={"Content-Type": "application/json"}
        )
        assert error_type(response) == "json_too_deep"
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    response = api.put(
        f"/v1/workflows/{workflow['id']}",
        data=deep_meta_graph(600),
        headers={"Content-Type": "application/json"},
    )
    assert error_type(response) == "json_too_deep"
    # Within the bound, deep `_meta` is stored and runs.
    response = api.post(
        "/v1/workflows", data=deep_meta_graph(60), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert api.wait(api.execute(response.json()["id"]))["status"] == "COMPLETED"


def test_a_too_deep_workflow_stored_earlier_is_a_400_at_execute(api, world) -> None:
    from api_service.workflows.models import Workflow

    graph = json.loads(deep_meta_graph(700))["graph"]  # as a row written before the bound existed
    workflow = Workflow.objects.create(tenant=world.tenant, name="legacy", graph=graph, inputs={})
    response = api.post(f"/v1/workflows/{workflow.pk}/execute", json={})
    assert error_type(response) == "json_too_deep"
    assert "PUT" in response.json()["error"]["message"]
    assert api.get(f"/v1/workflows/{workflow.pk}").status_code == 200
    fixed = api.put(f"/v1/workflows/{workflow.pk}", json={"name": "fixed", "graph": TEXT_TO_IMAGE})
    assert fixed.status_code == 200, fixed.text


def test_malformed_ids_in_the_path_are_404(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    for bad in ("%00", "wf_%00", f"{workflow['id']}%00", "%C0%80", "x" * 300, "%F0%9F%92%A9"):
        for method, path in [
            ("GET", f"/v1/workflows/{bad}"),
            ("PUT", f"/v1/workflows/{bad}"),
            ("PATCH", f"/v1/workflows/{bad}"),
            ("DELETE", f"/v1/workflows/{bad}"),
            ("POST", f"/v1/workflows/{bad}/execute"),
            ("GET", f"/v1/workflows/{bad}/executions"),
            ("GET", f"/v1/workflows/executions/{bad}/poll"),
            ("POST", f"/v1/workflows/executions/{bad}/cancel"),
            ("GET", f"/v1/nodes/{bad}"),
        ]:
            body = {"name": "w", "graph": TEXT_TO_IMAGE} if method in ("PUT", "PATCH") else {}
            response = api.request(method, path, json=body)
            assert error_type(response) == "not_found", (method, path, response.status_code)


def test_forged_cursors_and_bad_limits_are_400(api) -> None:
    api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    for path in ("/v1/workflows", "/v1/executions"):
        for cursor in ("cD1ub3QtYS1kYXRl", "not base64!", "cj0xJnA9MjAyNi0wMS0wMQ", "cD0lMDA"):
            response = api.get(path, params={"cursor": cursor})
            assert error_type(response) == "invalid_cursor", (path, cursor)
        for limit in ("abc", "0", "-3", "101", "1e3"):
            response = api.get(path, params={"limit": limit})
            assert error_type(response) == "invalid_limit", (path, limit)
            assert "100" in response.json()["error"]["message"]
        assert api.get(path, params={"limit": "100"}).status_code == 200


def test_oversized_bodies_get_the_json_413(api) -> None:
    from django.conf import settings

    too_big = b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    for idempotency in ({}, {"Idempotency-Key": "big"}):
        response = api.post(
            "/v1/workflows", data=too_big, headers={"Content-Type": "application/json", **idempotency}
        )
        assert response.status_code == 413, response.text[:200]
        assert response.json()["error"]["type"] == "request_too_large"
        response = api.post("/v1/files", files={"file": ("a.png", too_big, "image/png")}, headers=idempotency)
        assert response.status_code == 413, response.text[:200]
        assert response.json()["error"]["type"] in {"request_too_large", "file_too_large"}
        fields = api.post("/v1/workflows", files={"name": (None, "w"), "graph": (None, too_big)})
        assert fields.status_code == 413, fields.text[:200]


def test_multipart_parse_errors_have_their_own_type(api) -> None:
    for content_type, body in [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n"),
    ]:
        response = api.post("/v1/files", data=body, headers={"Content-Type": content_type})
        assert error_type(response) == "invalid_multipart", (content_type, body, response.text)
    response = api.post("/v1/workflows", data=b"{", headers={"Content-Type": "application/json"})
    assert error_type(response) == "invalid_json"
