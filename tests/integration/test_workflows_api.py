"""Workflows over HTTP: CRUD, named inputs, validation errors, history."""

from __future__ import annotations

import copy

from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS, TINY_CHECKPOINT, text_to_image


def test_create_get_list_update_delete(api) -> None:
    created = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS, name="fox")
    assert created["id"].startswith("wf_")
    assert created["graph"] == TEXT_TO_IMAGE
    assert created["inputs"]["prompt"] == {
        "node": "6",
        "input": "text",
        "type": "STRING",
        "default": "a photo of a cat",
    }
    assert created["inputs"]["seed"]["type"] == "INT"
    assert created["inputs"]["seed"]["min"] == 0

    fetched = api.get(f"/v1/workflows/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created

    listed = api.get("/v1/workflows").json()
    assert [w["id"] for w in listed["items"]] == [created["id"]]

    patched = api.patch(f"/v1/workflows/{created['id']}", json={"description": "foxes"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "foxes"
    assert patched.json()["name"] == "fox"

    replaced = api.put(
        f"/v1/workflows/{created['id']}", json={"name": "cat", "graph": text_to_image(**{"3": {"steps": 2}})}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["graph"]["3"]["inputs"]["steps"] == 2
    assert replaced.json()["inputs"] == {}
    assert replaced.json()["description"] == ""

    assert api.delete(f"/v1/workflows/{created['id']}").status_code == 204
    assert api.get(f"/v1/workflows/{created['id']}").status_code == 404
    assert api.get("/v1/workflows").json()["items"] == []


def test_list_is_newest_first_and_cursor_paginated(api) -> None:
    ids = [api.create_workflow(TEXT_TO_IMAGE, name=f"w{i}")["id"] for i in range(5)]
    page = api.get("/v1/workflows", params={"limit": 2}).json()
    seen = [w["id"] for w in page["items"]]
    while page["next"]:
        page = api.session.get(page["next"], timeout=10).json()
        seen += [w["id"] for w in page["items"]]
    assert seen == list(reversed(ids))


def test_invalid_graph_is_400_with_every_node_error(api) -> None:
    graph = text_to_image(**{"3": {"steps": 0, "sampler_name": "nope"}, "5": {"width": "wide"}})
    graph["8"]["class_type"] = "NoSuchNode"
    response = api.post("/v1/workflows", json={"name": "bad", "graph": graph})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_graph"
    assert "steps" in error["message"] or "Unknown" in error["message"]
    node_errors = error["nodeErrors"]
    assert {e["input"]: e["type"] for e in node_errors["3"]["errors"]} == {
        "steps": "value_out_of_range",
        "sampler_name": "value_not_in_list",
    }
    assert node_errors["3"]["classType"] == "KSampler"
    assert node_errors["5"]["errors"] == [
        {
            "type": "invalid_input_type",
            "message": "Input 'width': expected an integer, got 'wide'.",
            "input": "width",
        }
    ]
    assert node_errors["8"]["errors"][0]["type"] == "unknown_node_type"
    assert api.get("/v1/workflows").json()["items"] == []


def test_graph_without_output_node_and_with_cycle(api) -> None:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    del graph["9"]
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["type"] == "no_output_node"

    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["3"]["inputs"]["latent_image"] = ["10", 0]
    graph["10"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["4", 2]}}
    response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
    assert response.status_code == 400
    types = [e["type"] for n in response.json()["error"]["nodeErrors"].values() for e in n["errors"]]
    assert "dependency_cycle" in types


def test_bad_named_inputs_are_rejected_on_save(api) -> None:
    inputs = {
        "prompt": {"node": "66", "input": "text"},
        "model": {"node": "3", "input": "model"},
        "typo": {"node": "3", "input": "stepz"},
        "bad name!": {"node": "3", "input": "steps"},
    }
    response = api.post("/v1/workflows", json={"name": "x", "graph": TEXT_TO_IMAGE, "inputs": inputs})
    assert response.status_code == 400
    errors = response.json()["error"]["errors"]
    assert sorted(e["input"] for e in errors) == ["bad name!", "model", "prompt", "typo"]
    assert {e["type"] for e in errors} == {"invalid_named_input"}


def test_execute_rejects_unknown_and_invalid_inputs_and_queues_nothing(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    response = api.post(f"/v1/workflows/{workflow['id']}/execute", json={"inputs": {"promt": "typo"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "unknown_input"
    assert error["unknownInputs"] == ["promt"]
    assert "prompt" in error["message"]

    response = api.post(f"/v1/workflows/{workflow['id']}/execute", json={"inputs": {"width": 4, "seed": "x"}})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_graph"
    assert {e["input"] for e in response.json()["error"]["nodeErrors"]["5"]["errors"]} == {"width"}
    assert {e["input"] for e in response.json()["error"]["nodeErrors"]["3"]["errors"]} == {"seed"}
    assert api.get(f"/v1/workflows/{workflow['id']}/executions").json()["items"] == []


def test_malformed_bodies_are_clear_4xx(api) -> None:
    response = api.post("/v1/workflows", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"
    response = api.post("/v1/workflows", json={"graph": TEXT_TO_IMAGE})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"
    assert "name" in response.json()["error"]["message"]
    response = api.post("/v1/workflows", json={"name": "x", "graph": "not a graph"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_graph"
    response = api.post("/v1/workflows/wf_missing/execute", json={"inputs": []})
    assert response.status_code == 404


def test_editing_a_workflow_does_not_change_a_queued_snapshot(api, db) -> None:
    from api_service.workflows.models import Execution

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    execution_id = api.execute(workflow["id"], {"prompt": "first"})
    api.put(
        f"/v1/workflows/{workflow['id']}",
        json={"name": "v2", "graph": text_to_image(**{"6": {"text": "v2"}})},
    )
    snapshot = Execution.objects.get(pk=execution_id).graph
    assert snapshot["6"]["inputs"]["text"] == "first"
    assert snapshot["4"]["inputs"]["ckpt_name"] == TINY_CHECKPOINT
    assert api.wait(execution_id)["inputs"] == {"prompt": "first"}


def test_execution_history_newest_first(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    other = api.create_workflow(TEXT_TO_IMAGE)
    ids = [api.execute(workflow["id"], {"seed": s}) for s in (1, 2)]
    other_id = api.execute(other["id"])
    per_workflow = api.get(f"/v1/workflows/{workflow['id']}/executions").json()["items"]
    assert [e["executionId"] for e in per_workflow] == list(reversed(ids))
    everything = api.get("/v1/executions").json()["items"]
    assert [e["executionId"] for e in everything] == [other_id, *reversed(ids)]
    for execution_id in [*ids, other_id]:
        api.wait(execution_id)


def test_ui_widget_values_and_unknown_inputs_are_accepted_with_warnings(api) -> None:
    noisy = text_to_image(**{"3": {"control_after_generate": "fixed", "stepz": 3}})
    response = api.post("/v1/workflows", json={"name": "export", "graph": noisy})
    assert response.status_code == 201, response.text
    created = response.json()
    assert [(w["nodeId"], w["input"], w["type"]) for w in created["warnings"]] == [
        ("3", "control_after_generate", "ignored_input"),
        ("3", "stepz", "ignored_input"),
    ]
    assert api.get(f"/v1/workflows/{created['id']}").json()["warnings"] == created["warnings"]
    cleaned = api.put(f"/v1/workflows/{created['id']}", json={"name": "export", "graph": TEXT_TO_IMAGE})
    assert cleaned.status_code == 200 and cleaned.json()["warnings"] == []
    noisier = api.patch(f"/v1/workflows/{created['id']}", json={"graph": noisy})
    assert [w["input"] for w in noisier.json()["warnings"]] == ["control_after_generate", "stepz"]
    accepted = api.post(f"/v1/workflows/{created['id']}/execute", json={})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["warnings"] == created["warnings"]
