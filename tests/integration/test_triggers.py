"""Trigger URLs through the live api: mapping, signatures, idempotency, rotation, limits."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import requests
from standardwebhooks import Webhook

from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS


def make_trigger(api, workflow_id: str, **fields) -> dict:
    body = {"name": "zap", "inputMapping": {"prompt": "data.text", "seed": "data.seed"}, **fields}
    response = api.post(f"/v1/workflows/{workflow_id}/triggers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def fire(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=30, **kwargs)


def execution_inputs(execution_id: str) -> dict:
    from api_service.workflows.models import Execution

    return Execution.objects.get(pk=execution_id).inputs


def test_create_list_get_reveal_nothing_and_the_token_is_stored_hashed(api) -> None:
    from api_service.webhooks.models import Trigger

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    created = make_trigger(api, workflow["id"])
    assert created["id"].startswith("trg_") and "/v1/hooks/hk_" in created["url"]
    assert "signingSecret" not in created
    token = created["url"].rsplit("/", 1)[1]
    assert len(token) > 40 and workflow["id"] not in token
    row = Trigger.objects.get(pk=created["id"])
    assert token not in row.token_hash and len(row.token_hash) == 64
    fetched = api.get(f"/v1/workflows/{workflow['id']}/triggers/{created['id']}").json()
    assert "url" not in fetched and token not in json.dumps(fetched)
    listed = api.get(f"/v1/workflows/{workflow['id']}/triggers").json()["items"]
    assert [t["id"] for t in listed] == [created["id"]]
    bad = api.post(
        f"/v1/workflows/{workflow['id']}/triggers", json={"name": "x", "inputMapping": {"colour": "data.c"}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "unknown_input"
    assert api.delete(f"/v1/workflows/{workflow['id']}/triggers/{created['id']}").status_code == 204
    assert fire(created["url"], json={}).status_code == 404


def test_a_body_is_mapped_onto_named_inputs_and_missing_or_bad_fields_are_named(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = make_trigger(api, workflow["id"])["url"]
    missing = fire(url, json={"data": {"text": "a dog"}})
    assert missing.status_code == 400
    assert missing.json()["error"] | {"message": ""} == {
        "type": "missing_field",
        "field": "data.seed",
        "input": "seed",
        "message": "",
    }
    nested = fire(url, json={"data": {"text": {"a": 1}, "seed": 3}})
    assert nested.status_code == 400 and nested.json()["error"]["type"] == "invalid_field"
    assert fire(url, data=b"[1, 2", headers={"Content-Type": "application/json"}).status_code == 400
    assert fire(url, data=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    accepted = fire(url, json={"data": {"text": "a dog", "seed": 7}, "other": "ignored"})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "QUEUED" and set(body) == {"executionId", "status"}
    assert execution_inputs(body["executionId"]) == {"prompt": "a dog", "seed": 7}
    assert api.wait(body["executionId"])["status"] == "COMPLETED"


def test_form_fields_work_too(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = make_trigger(api, workflow["id"], inputMapping={"prompt": "text"})["url"]
    accepted = fire(url, data={"text": "a form cat"}, headers={"Idempotency-Key": "form-1"})
    assert accepted.status_code == 202, accepted.text
    assert execution_inputs(accepted.json()["executionId"]) == {"prompt": "a form cat"}


def test_get_and_unknown_tokens_reveal_nothing(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = make_trigger(api, workflow["id"])["url"]
    unknown = url.rsplit("/", 1)[0] + "/hk_" + "A" * 43
    assert requests.get(url, timeout=10).status_code == requests.get(unknown, timeout=10).status_code == 405
    assert fire(unknown, json={}).status_code == 404
    assert fire(url.rsplit("/", 1)[0] + "/" + workflow["id"], json={}).status_code == 404


def test_rotation_and_disabling_make_the_old_url_404_at_once(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    trigger = make_trigger(api, workflow["id"], inputMapping={})
    rotated = api.post(f"/v1/workflows/{workflow['id']}/triggers/{trigger['id']}/rotate")
    assert rotated.status_code == 200 and rotated.json()["url"] != trigger["url"]
    assert fire(trigger["url"], json={}).status_code == 404
    disabled = api.patch(f"/v1/workflows/{workflow['id']}/triggers/{trigger['id']}", json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert fire(rotated.json()["url"], json={}).status_code == 404


def test_a_required_signature_is_checked_both_ways_and_a_retried_event_runs_once(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    trigger = make_trigger(api, workflow["id"], requireSignature=True)
    secret, url = trigger["signingSecret"], trigger["url"]
    assert secret.startswith("whsec_")
    body = json.dumps({"data": {"text": "signed", "seed": 1}}).encode()
    plain = {"Content-Type": "application/json"}
    unsigned = fire(url, data=body, headers=plain)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["type"] == "invalid_signature"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("evt_1", now, body.decode())
    standard = {**plain, "webhook-id": "evt_1", "webhook-timestamp": str(int(now.timestamp()))}
    forged = fire(url, data=body, headers={**standard, "webhook-signature": "v1,AAAA"})
    assert forged.status_code == 401
    tampered = fire(url, data=body + b" ", headers={**standard, "webhook-signature": signature})
    assert tampered.status_code == 401
    first = fire(url, data=body, headers={**standard, "webhook-signature": signature})
    assert first.status_code == 202, first.text
    # The same event again (a retry): its webhook-id is its event id, so nothing new runs.
    again = fire(url, data=body, headers={**standard, "webhook-signature": signature})
    assert again.status_code == 202 and again.json()["executionId"] == first.json()["executionId"]
    hub = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    wrong_hub = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert fire(url, data=body, headers={**plain, "X-Hub-Signature-256": wrong_hub}).status_code == 401
    github = fire(url, data=body, headers={**plain, "X-Hub-Signature-256": hub, "Idempotency-Key": "evt_2"})
    assert github.status_code == 202 and github.json()["executionId"] != first.json()["executionId"]


def test_idempotency_key_or_a_body_field_makes_a_retry_run_once(api) -> None:
    from api_service.workflows.models import Execution

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = make_trigger(api, workflow["id"], eventIdField="id")["url"]
    event = {"id": "zap-42", "data": {"text": "once", "seed": 2}}
    first, second = fire(url, json=event), fire(url, json=event)
    assert first.status_code == second.status_code == 202
    assert first.json()["executionId"] == second.json()["executionId"]
    keyed = [
        fire(url, json={"data": {"text": "k", "seed": 3}}, headers={"Idempotency-Key": "k-1"})
        for _ in range(2)
    ]
    assert keyed[0].json()["executionId"] == keyed[1].json()["executionId"] != first.json()["executionId"]
    assert Execution.objects.filter(workflow_id=workflow["id"]).count() == 2


def test_body_limit_rate_limit_and_quota(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_key, make_tenant

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = make_trigger(api, workflow["id"], requestsPerMinute=3)["url"]
    too_big = fire(
        url, data=b'{"x": "' + b"a" * (256 * 1024) + b'"}', headers={"Content-Type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "payload_too_large"
    assert too_big.headers["RateLimit-Policy"] == '"trigger";q=3;w=60'  # the per-key headers' shape
    answers = [fire(url, json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]  # the 413 counted too; no fields (400)
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    limited = fire(url, json={})
    assert limited.json()["error"]["type"] == "rate_limit_exceeded" and "Retry-After" in limited.headers
    assert limited.json()["error"]["limit"] == 3 and limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["RateLimit"].startswith('"trigger";r=0;t=')

    spent = make_tenant(executions_per_day_override=0)
    owner = ApiClient(stack.base_url, make_key(spent))
    other = owner.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    spent_url = make_trigger(owner, other["id"], inputMapping={})["url"]
    quota = fire(spent_url, json={})
    assert quota.status_code == 429 and quota.json()["error"]["type"] == "quota_exceeded"


def test_malformed_signatures_are_401s_and_a_signed_form_body_fires(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    trigger = make_trigger(api, workflow["id"], requireSignature=True, inputMapping={"prompt": "text"})
    secret, url = trigger["signingSecret"], trigger["url"]
    now = datetime.now(UTC)
    standard = {"webhook-id": "evt_m", "webhook-timestamp": str(int(now.timestamp()))}
    json_body = {"Content-Type": "application/json"}
    cases = [
        (b'{"text": "x"}', {**json_body, **standard, "webhook-signature": "junk"}),  # no comma
        (b'{"text": "x"}', {**json_body, **standard, "webhook-signature": "v1,a,b"}),
        (b'{"text": "x"}', {**json_body, **standard, "webhook-signature": "v1,A"}),  # bad base64
        (b'{"text": "\xff"}', {**json_body, **standard, "webhook-signature": "v1,AAAA"}),  # not UTF-8
        (b'{"text": "x"}', {**json_body, "X-Hub-Signature-256": "sha256=\u00e9t\u00e9".encode()}),
    ]
    for body, headers in cases:
        answer = fire(url, data=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "invalid_signature" and error["message"], error
    form = b"text=a+signed+form"
    signature = Webhook(secret).sign("evt_form", now, form.decode())
    signed_form = fire(
        url,
        data=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "webhook-id": "evt_form",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )
    assert signed_form.status_code == 202, signed_form.text
    assert execution_inputs(signed_form.json()["executionId"]) == {"prompt": "a signed form"}


def test_signing_turned_on_in_admin_gets_a_secret_and_an_empty_secret_never_verifies(api) -> None:
    import secrets

    from django.contrib.auth import get_user_model
    from django.test import Client

    from api_service.webhooks.models import Trigger

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    trigger = make_trigger(api, workflow["id"], inputMapping={})
    user = get_user_model().objects.create_superuser(username=f"ops-{secrets.token_hex(4)}", password="pw")
    admin = Client()
    admin.force_login(user)
    form = {"name": "zap", "input_mapping": "{}", "require_signature": "on", "event_id_field": ""}
    page = f"/admin/webhooks/trigger/{trigger['id']}/change/"
    bad = admin.post(page, {**form, "input_mapping": '{"colour": "c"}', "enabled": "on"})
    assert bad.status_code == 200 and "unknown input" in bad.content.decode()  # the form, with the error
    saved = admin.post(page, {**form, "enabled": "on"}, follow=True)
    assert saved.status_code == 200
    row = Trigger.objects.get(pk=trigger["id"])
    assert row.require_signature and row.signing_secret.startswith("whsec_")
    assert row.signing_secret in saved.content.decode()  # shown once to whoever turned it on

    # A row left without a key (say, from before this fix) refuses every signature, the empty-key one too.
    Trigger.objects.filter(pk=row.pk).update(signing_secret="")
    body = b"{}"
    empty_key = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": empty_key}
    refused = fire(trigger["url"], data=body, headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "signing_secret_missing"
    now = datetime.now(UTC)
    standard = {
        "webhook-id": "e",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": "v1,AA",
    }
    refused = fire(trigger["url"], data=body, headers={**headers, **standard})
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "signing_secret_missing"
    patched = api.patch(
        f"/v1/workflows/{workflow['id']}/triggers/{trigger['id']}", json={"requireSignature": True}
    )
    assert patched.json()["signingSecret"].startswith("whsec_")


def test_a_captured_signed_request_replayed_under_a_fresh_idempotency_key_runs_once(api) -> None:
    from api_service.workflows.models import Execution

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    trigger = make_trigger(api, workflow["id"], requireSignature=True, eventIdField="id")
    secret, url = trigger["signingSecret"], trigger["url"]
    body = json.dumps({"id": "hub-1", "data": {"text": "replayed", "seed": 1}}).encode()
    now = datetime.now(UTC)
    standard = {
        "Content-Type": "application/json",
        "webhook-id": "evt_replay",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("evt_replay", now, body.decode()),
    }
    runs = {
        fire(url, data=body, headers={**standard, "Idempotency-Key": key}).json()["executionId"]
        for key in "ab"
    }
    assert len(runs) == 1
    # X-Hub-Signature-256 signs only the body: its signed eventIdField, not the header, names the event.
    hub = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    plain = {"Content-Type": "application/json", "X-Hub-Signature-256": hub}
    hub_runs = {
        fire(url, data=body, headers={**plain, "Idempotency-Key": key}).json()["executionId"] for key in "cd"
    }
    assert len(hub_runs) == 1 and hub_runs != runs
    assert Execution.objects.filter(workflow_id=workflow["id"]).count() == 2


def test_event_ids_older_than_the_retention_are_purged_by_the_beat_task(world) -> None:
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from api_service.celery import app
    from api_service.webhooks import triggers
    from api_service.webhooks.models import TriggerEvent
    from tests.support.webhooks import quiet_execution

    execution = quiet_execution(world.tenant)
    trigger, _, _ = triggers.trigger_create(tenant=world.tenant, workflow=execution.workflow, name="zap")
    for event_id in ("old-1", "old-2", "old-3", "fresh"):
        TriggerEvent.objects.create(trigger=trigger, event_id=event_id, execution=execution)
    TriggerEvent.objects.exclude(event_id="fresh").update(created_at=timezone.now() - timedelta(hours=25))
    TriggerEvent.objects.filter(event_id="fresh").update(created_at=timezone.now() - timedelta(hours=23))
    mine = TriggerEvent.objects.filter(trigger=trigger)
    with override_settings(TRIGGER_EVENT_RETENTION_HOURS=26):
        triggers.trigger_events_purge()
    assert mine.count() == 4
    with override_settings(TRIGGER_EVENT_RETENTION_HOURS=24):
        assert triggers.trigger_events_purge(batch=2) >= 3  # more rows than one batch
        assert list(mine.values_list("event_id", flat=True)) == ["fresh"]
        assert triggers.trigger_events_purge() == 0
    app.loader.import_default_modules()
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "crucible.control.purge_trigger_events" in schedule & set(app.tasks)
