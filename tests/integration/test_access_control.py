"""Keys and tenants: 401 without a valid key, 403 without the scope, 404 across tenants, on every endpoint."""

from __future__ import annotations

import pytest

from api_service.accounts.scopes import (
    EXECUTIONS_READ,
    USAGE_READ,
    WORKFLOWS_EXECUTE,
    WORKFLOWS_READ,
    WORKFLOWS_WRITE,
)
from tests.support.api import ApiClient
from tests.support.factories import make_key, make_world
from tests.support.graphs import TEXT_TO_IMAGE

# (method, path template, required scope); {wf} and {exe} are filled in with real ids.
ENDPOINTS = [
    ("GET", "/v1/workflows", WORKFLOWS_READ),
    ("POST", "/v1/workflows", WORKFLOWS_WRITE),
    ("GET", "/v1/workflows/{wf}", WORKFLOWS_READ),
    ("PUT", "/v1/workflows/{wf}", WORKFLOWS_WRITE),
    ("PATCH", "/v1/workflows/{wf}", WORKFLOWS_WRITE),
    ("DELETE", "/v1/workflows/{wf}", WORKFLOWS_WRITE),
    ("POST", "/v1/workflows/{wf}/execute", WORKFLOWS_EXECUTE),
    ("GET", "/v1/workflows/{wf}/executions", EXECUTIONS_READ),
    ("GET", "/v1/workflows/executions/{exe}/poll", EXECUTIONS_READ),
    ("POST", "/v1/workflows/executions/{exe}/cancel", WORKFLOWS_EXECUTE),
    ("GET", "/v1/executions", EXECUTIONS_READ),
    ("POST", "/v1/files", WORKFLOWS_EXECUTE),
    ("GET", "/v1/nodes", WORKFLOWS_READ),
    ("GET", "/v1/nodes/KSampler", WORKFLOWS_READ),
    ("GET", "/v1/models", WORKFLOWS_READ),
    ("GET", "/v1/usage", USAGE_READ),
]
TENANT_SCOPED = [e for e in ENDPOINTS if "{" in e[1]]


@pytest.fixture
def owned(api) -> dict:
    workflow = api.create_workflow(TEXT_TO_IMAGE)
    execution_id = api.execute(workflow["id"])
    api.wait(execution_id)
    return {"wf": workflow["id"], "exe": execution_id}


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_missing_and_unknown_keys_are_401(stack, owned, method, path, scope) -> None:
    url = path.format(**owned)
    for key, error_type in [(None, "authentication_required"), ("sk_live_" + "a" * 38, "invalid_api_key")]:
        response = ApiClient(stack.base_url, key).request(method, url, json={})
        assert response.status_code == 401, (method, url, response.text)
        assert response.json()["error"]["type"] == error_type
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_a_key_without_the_scope_is_403(stack, world, owned, method, path, scope) -> None:
    others = [
        s
        for s in (WORKFLOWS_READ, WORKFLOWS_WRITE, WORKFLOWS_EXECUTE, EXECUTIONS_READ, "usage:read")
        if s != scope
    ]
    client = ApiClient(stack.base_url, make_key(world.tenant, others))
    response = client.request(method, path.format(**owned), json={})
    assert response.status_code == 403, (method, path, response.text)
    assert response.json()["error"]["type"] == "insufficient_scope"
    assert scope in response.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path", "scope"), TENANT_SCOPED)
def test_another_tenants_objects_are_404(stack, owned, method, path, scope) -> None:
    stranger = ApiClient(stack.base_url, make_world().key)
    response = stranger.request(method, path.format(**owned), json={"name": "x", "graph": TEXT_TO_IMAGE})
    assert response.status_code == 404, (method, path, response.text)
    assert response.json()["error"]["type"] == "not_found"


def test_malformed_and_revoked_keys(stack, world) -> None:
    from api_service.accounts.models import ApiKey
    from api_service.accounts.services import api_key_revoke

    good = make_key(world.tenant)
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    for key in (tampered, "sk_live_short", "not-a-key"):
        response = ApiClient(stack.base_url, key).get("/v1/workflows")
        assert response.status_code == 401
        assert "malformed" in response.json()["error"]["message"]
    assert ApiClient(stack.base_url, good).get("/v1/workflows").status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(last4=good[-4:], tenant=world.tenant))
    assert ApiClient(stack.base_url, good).get("/v1/workflows").status_code == 401


def test_unknown_paths_are_json_404(anonymous) -> None:
    response = anonymous.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_a_restricted_key_sees_only_its_workflows_in_usage(stack, world, api) -> None:
    from api_service.accounts import services
    from api_service.accounts.models import ApiKey

    mine = api.create_workflow(TEXT_TO_IMAGE, name="mine")
    other = api.create_workflow(TEXT_TO_IMAGE, name="secret-project")
    api.wait(api.execute(mine["id"]))
    api.wait(api.execute(other["id"]))
    restricted = services.api_key_create(tenant=world.tenant, name="only mine", scopes=[USAGE_READ])
    ApiKey.objects.filter(pk=restricted.api_key.pk).update(allowed_workflow_ids=[mine["id"]])

    narrow = ApiClient(stack.base_url, restricted.secret).get("/v1/usage")
    assert narrow.status_code == 200, narrow.text
    assert [(w["workflowId"], w["name"]) for w in narrow.json()["workflows"]] == [(mine["id"], "mine")]
    assert "secret-project" not in narrow.text
    full = api.get("/v1/usage").json()
    assert {w["workflowId"] for w in full["workflows"]} == {mine["id"], other["id"]}
