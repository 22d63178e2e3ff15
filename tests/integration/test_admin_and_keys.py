"""Ops in Django admin, and key checks that need no database."""

from __future__ import annotations

import re

import pytest

from tests.support.graphs import TEXT_TO_IMAGE


@pytest.fixture
def admin_client(db):
    import secrets

    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(
        username=f"ops-{secrets.token_hex(4)}", password="pw-ops-123"
    )
    client = Client()
    client.force_login(user)
    return client


def test_a_malformed_key_is_rejected_without_a_query(db) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.test import APIRequestFactory

    from api_service.accounts.authentication import ApiKeyAuthentication
    from api_service.accounts.keys import generate_key, is_well_formed

    key = generate_key()
    assert is_well_formed(key)
    typo = key[:20] + ("x" if key[20] != "x" else "y") + key[21:]
    request = APIRequestFactory().get("/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {typo}")
    with CaptureQueriesContext(connection) as queries, pytest.raises(AuthenticationFailed):
        ApiKeyAuthentication().authenticate(request)
    assert len(queries) == 0


def test_admin_pages_and_actions(admin_client, world) -> None:
    from api_service.accounts.models import ApiKey
    from api_service.workflows import services
    from api_service.workflows.models import Execution, Workflow

    for path in (
        "/admin/accounts/tenant/",
        "/admin/accounts/plan/",
        "/admin/accounts/apikey/",
        "/admin/accounts/dailyusage/",
        "/admin/workflows/workflow/",
        "/admin/workflows/execution/?status__exact=QUEUED",
        f"/admin/accounts/tenant/{world.tenant.pk}/change/",
    ):
        assert admin_client.get(path).status_code == 200, path

    key = ApiKey.objects.filter(tenant=world.tenant).first()
    assert key is not None
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "rotate", "_selected_action": [key.pk], "grace_hours": "2"},
        follow=True,
    )
    assert response.status_code == 200
    shown = re.findall(r"sk_live_[0-9A-Za-z]{38}", response.content.decode())
    assert len(shown) == 1
    key.refresh_from_db()
    assert key.expires_at is not None
    assert ApiKey.objects.get(rotated_from=key).prefix == shown[0][:12]

    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    execution = Execution.objects.create(tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE)
    admin_client.post(
        "/admin/workflows/execution/", {"action": "cancel", "_selected_action": [execution.pk]}, follow=True
    )
    execution.refresh_from_db()
    assert execution.status == "CANCELLED"
    assert not services.execution_cancel(execution=execution)  # already terminal
