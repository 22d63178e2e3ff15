"""LLM endpoints as ops configure them (admin, write-only key, SSRF check), as tenants see them
(shadowing, validation naming the endpoints that exist) and as a run spec carries them."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.support.llm_graphs import chat_node, expanded_text_to_image

API_KEY = "sk-admin-typed-SECRET-value-77"


@pytest.fixture
def admin_client(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(username=f"ops-{secrets.token_hex(4)}", password="pw")
    client = Client()
    client.force_login(user)
    return client


def endpoint(name: str, tenant=None, **fields):
    from api_service.llm_endpoints.models import LlmEndpoint

    values = {"base_url": "http://127.0.0.1:9/v1", "default_model": "tiny", **fields}
    return LlmEndpoint.objects.create(name=name, tenant=tenant, **values)


def test_the_admin_stores_the_key_encrypted_and_never_shows_it_again(admin_client, world) -> None:
    from api_service.llm_endpoints.models import LlmEndpoint
    from api_service.llm_endpoints.services import credential_box

    name = f"ollama-{secrets.token_hex(3)}"
    form = {
        "name": name,
        "tenant": world.tenant.pk,
        "base_url": "http://127.0.0.1:11434/v1/",
        "default_model": "llama3.2",
        "enabled": "on",
        "timeout_seconds": "30",
        "max_tokens": "1024",
        "api_key": API_KEY,
    }
    created = admin_client.post("/admin/llm_endpoints/llmendpoint/add/", form)
    assert created.status_code == 302, created.content.decode()[:2000]
    row = LlmEndpoint.objects.get(name=name)
    assert row.base_url == "http://127.0.0.1:11434/v1"  # stored without its trailing slash
    assert API_KEY not in row.api_key_encrypted
    assert credential_box().decrypt(row.api_key_encrypted) == API_KEY
    for page in ("/admin/llm_endpoints/llmendpoint/", f"/admin/llm_endpoints/llmendpoint/{row.pk}/change/"):
        html = admin_client.get(page).content.decode()
        assert API_KEY not in html and row.api_key_encrypted not in html
    change = admin_client.get(f"/admin/llm_endpoints/llmendpoint/{row.pk}/change/").content.decode()
    assert re.search(r'<input type="password" name="api_key"[^>]*>', change)
    assert 'name="api_key" value=' not in change

    # Saving without a key keeps the stored one; clearing removes it.
    kept = admin_client.post(
        f"/admin/llm_endpoints/llmendpoint/{row.pk}/change/", {**form, "api_key": "", "default_model": "qwen"}
    )
    assert kept.status_code == 302
    row.refresh_from_db()
    assert row.default_model == "qwen" and credential_box().decrypt(row.api_key_encrypted) == API_KEY
    history = admin_client.get(f"/admin/llm_endpoints/llmendpoint/{row.pk}/history/").content.decode()
    assert API_KEY not in history
    admin_client.post(
        f"/admin/llm_endpoints/llmendpoint/{row.pk}/change/", {**form, "api_key": "", "clear_api_key": "on"}
    )
    row.refresh_from_db()
    assert row.api_key_encrypted == ""


def test_the_admin_refuses_a_private_address_not_allowed(admin_client) -> None:
    from api_service.llm_endpoints.models import LlmEndpoint

    name = f"lan-{secrets.token_hex(3)}"
    refused = admin_client.post(
        "/admin/llm_endpoints/llmendpoint/add/",
        {
            "name": name,
            "base_url": "http://10.1.2.3/v1",
            "default_model": "m",
            "enabled": "on",
            "timeout_seconds": "30",
            "max_tokens": "100",
        },
    )
    assert refused.status_code == 200  # the form again, with the error
    assert "private address" in refused.content.decode()
    assert not LlmEndpoint.objects.filter(name=name).exists()


def test_tenant_endpoints_shadow_global_ones_and_other_tenants_are_invisible(world) -> None:
    from api_service.llm_endpoints.selectors import llm_endpoints_for_tenant
    from tests.support.factories import make_tenant

    suffix = secrets.token_hex(3)
    shared = endpoint(f"shared-{suffix}", default_model="global-model")
    own = endpoint(f"shared-{suffix}", tenant=world.tenant, default_model="tenant-model")
    endpoint(f"off-{suffix}", enabled=False)
    other = make_tenant()
    endpoint(f"theirs-{suffix}", tenant=other)
    visible = llm_endpoints_for_tenant(tenant=world.tenant)
    assert visible[f"shared-{suffix}"].pk == own.pk
    assert f"off-{suffix}" not in visible and f"theirs-{suffix}" not in visible
    assert llm_endpoints_for_tenant(tenant=other)[f"shared-{suffix}"].pk == shared.pk


def test_validation_names_the_endpoints_that_exist_and_the_cap(world) -> None:
    from django.test import Client

    name = f"mine-{secrets.token_hex(3)}"
    endpoint(name, tenant=world.tenant, max_tokens=32)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.key}")
    graph = expanded_text_to_image("nope")
    answer = client.post("/v1/workflows", {"name": "x", "graph": graph}, content_type="application/json")
    assert answer.status_code == 400, answer.content
    (error,) = answer.json()["error"]["nodeErrors"]["20"]["errors"]
    assert error["type"] == "value_not_in_list" and error["input"] == "endpoint"
    assert name in error["message"]
    over = expanded_text_to_image(name, max_tokens=33)
    answer = client.post("/v1/workflows", {"name": "x", "graph": over}, content_type="application/json")
    assert answer.status_code == 400
    (error,) = answer.json()["error"]["nodeErrors"]["20"]["errors"]
    assert (error["type"], error["input"]) == ("value_out_of_range", "max_tokens")
    assert "cap of 32" in error["message"]


def test_the_run_spec_carries_the_endpoint_with_its_key_still_encrypted(world) -> None:
    from api_service.llm_endpoints.services import (
        credential_box,
        llm_endpoint_ids_resolve,
        llm_endpoint_key_set,
        llm_endpoints_spec,
    )
    from protocol.messages import RunSpec, spec_version
    from tests.support.factories import make_tenant
    from tests.support.webhooks import quiet_execution

    row = endpoint(f"keyed-{secrets.token_hex(3)}", tenant=world.tenant, max_tokens=100)
    llm_endpoint_key_set(endpoint=row, api_key=API_KEY)
    row.save()
    graph = {"1": chat_node(row.name), "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    pinned = llm_endpoint_ids_resolve(tenant=world.tenant, names={row.name, "unknown"})
    assert pinned == {row.name: row.pk}
    assert llm_endpoint_ids_resolve(tenant=make_tenant(), names={row.name}) == {}
    execution = quiet_execution(world.tenant, llm_endpoint_ids=pinned)
    spec = llm_endpoints_spec(endpoint_ids=execution.llm_endpoint_ids)
    entry = spec[row.name]
    assert (entry["baseUrl"], entry["model"], entry["maxTokens"]) == (row.base_url, "tiny", 100)
    assert entry["apiKeyEncrypted"] and API_KEY not in str(spec)
    assert credential_box().decrypt(entry["apiKeyEncrypted"]) == API_KEY
    assert spec_version(llm_endpoints=spec) == 2 and spec_version(llm_endpoints={}) == 1
    wire = RunSpec("exe_x", 1, "t", graph, ["2"], "p/", llm_endpoints=spec, protocol_version=2).to_dict()
    assert RunSpec.from_dict(wire).llm_endpoints == spec
    # Disabled after the submit: the next attempt's spec leaves it out (the worker then fails the node).
    type(row).objects.filter(pk=row.pk).update(enabled=False)
    assert llm_endpoints_spec(endpoint_ids=execution.llm_endpoint_ids) == {}


def test_usage_from_the_terminal_event_is_kept_to_known_counters(world) -> None:
    from api_service.workflows.models import Execution
    from api_service.workflows.services import execution_apply_event
    from tests.support.webhooks import quiet_execution

    execution = quiet_execution(world.tenant)
    applied = execution_apply_event(
        event={
            "type": "completed",
            "executionId": execution.id,
            "attempt": execution.attempt,
            "at": "2026-01-01T00:00:00+00:00",
            "outputs": {},
            "usage": {
                "llm": {
                    "requests": 2,
                    "promptTokens": 10,
                    "completionTokens": 5,
                    "totalTokens": 15,
                    "evil": "x" * 100,
                    "negative": -1,
                }
            },
        }
    )
    assert applied
    execution = Execution.objects.get(pk=execution.pk)
    assert execution.usage == {
        "llm": {"requests": 2, "promptTokens": 10, "completionTokens": 5, "totalTokens": 15}
    }


def test_the_catalogue_lists_the_endpoints_the_tenant_may_name(world) -> None:
    from django.test import Client

    name = f"listed-{secrets.token_hex(3)}"
    endpoint(name, tenant=world.tenant)
    endpoint(f"hidden-{secrets.token_hex(3)}", tenant=None, enabled=False)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.key}")
    node = client.get("/v1/nodes/OpenAICompatibleChat").json()
    choices = next(i for i in node["inputs"] if i["name"] == "endpoint")["choices"]
    assert name in choices and not any(c.startswith("hidden-") for c in choices)


def test_no_key_is_stored_without_llm_credentials_key(admin_client) -> None:
    from django.test import override_settings

    from api_service.llm_endpoints.models import LlmEndpoint

    name = f"nokey-{secrets.token_hex(3)}"
    form = {
        "name": name,
        "base_url": "http://127.0.0.1/v1",
        "default_model": "m",
        "enabled": "on",
        "timeout_seconds": "30",
        "max_tokens": "100",
        "api_key": API_KEY,
    }
    with override_settings(LLM_CREDENTIALS_KEY=""):
        refused = admin_client.post("/admin/llm_endpoints/llmendpoint/add/", form)
        assert refused.status_code == 200 and "LLM_CREDENTIALS_KEY is not set" in refused.content.decode()
        assert API_KEY not in refused.content.decode()
        keyless = admin_client.post("/admin/llm_endpoints/llmendpoint/add/", {**form, "api_key": ""})
        assert keyless.status_code == 302
    assert LlmEndpoint.objects.get(name=name).api_key_encrypted == ""


def test_a_linked_or_object_endpoint_is_a_400_not_a_500(world) -> None:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {world.key}")
    for value in (["6", 0], {"name": "x"}, 7):
        graph = expanded_text_to_image("nope")
        graph["20"]["inputs"]["endpoint"] = value
        answer = client.post("/v1/workflows", {"name": "x", "graph": graph}, content_type="application/json")
        assert answer.status_code == 400, (value, answer.content)
        assert "20" in answer.json()["error"]["nodeErrors"]


def test_moving_an_endpoint_to_another_url_or_tenant_drops_its_key(admin_client, world) -> None:
    """Whoever may edit the URL must not be able to have the stored key sent to a server of theirs."""
    from api_service.llm_endpoints.models import LlmEndpoint
    from api_service.llm_endpoints.services import credential_box, llm_endpoint_key_set

    row = endpoint(f"moved-{secrets.token_hex(3)}", tenant=world.tenant)
    llm_endpoint_key_set(endpoint=row, api_key=API_KEY)
    row.save()
    form = {
        "name": row.name,
        "tenant": world.tenant.pk,
        "base_url": row.base_url,
        "default_model": "tiny",
        "enabled": "on",
        "timeout_seconds": "30",
        "max_tokens": "1024",
        "api_key": "",
    }
    page = f"/admin/llm_endpoints/llmendpoint/{row.pk}/change/"
    assert admin_client.post(page, {**form, "default_model": "other"}).status_code == 302
    assert credential_box().decrypt(LlmEndpoint.objects.get(pk=row.pk).api_key_encrypted) == API_KEY
    moved = admin_client.post(page, {**form, "base_url": "http://127.0.0.1:8/v1"}, follow=True)
    assert "was cleared" in moved.content.decode()
    assert LlmEndpoint.objects.get(pk=row.pk).api_key_encrypted == ""
    # A new key typed with the move is kept.
    admin_client.post(page, {**form, "base_url": "http://127.0.0.1:7/v1", "api_key": "sk-new-key-123"})
    assert credential_box().decrypt(LlmEndpoint.objects.get(pk=row.pk).api_key_encrypted) == "sk-new-key-123"
