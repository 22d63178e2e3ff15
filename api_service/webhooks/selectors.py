"""Reads for webhooks and triggers, always scoped to one tenant."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from api_service.accounts.models import Tenant
from api_service.core.errors import NotFound
from api_service.webhooks.models import (
    SigningSecret,
    Trigger,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


def endpoint_list(*, tenant: Tenant, only: list[str] | None = None) -> QuerySet[WebhookEndpoint]:
    """`only`: a restricted key's workflows; it sees endpoints filtered to one of them, never the
    all-workflows ones (they carry every workflow's data)."""
    rows = WebhookEndpoint.objects.filter(tenant=tenant, deleted_at__isnull=True)
    if only is not None:
        rows = rows.filter(workflow_id__in=only)
    return rows


def endpoint_get(*, tenant: Tenant, endpoint_id: str, only: list[str] | None = None) -> WebhookEndpoint:
    endpoint = endpoint_list(tenant=tenant, only=only).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    return endpoint


def signing_secret_get(*, tenant: Tenant) -> SigningSecret | None:
    return SigningSecret.objects.filter(tenant=tenant).first()


def delivery_list_for_execution(*, tenant: Tenant, execution_id: str) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(tenant=tenant, execution_id=execution_id)
        .order_by("created_at", "id")
        .prefetch_related(Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("number")))
    )


def delivery_get(*, tenant: Tenant, delivery_id: str, only: list[str] | None = None) -> WebhookDelivery:
    rows = WebhookDelivery.objects.filter(tenant=tenant, pk=delivery_id)
    if only is not None:
        rows = rows.filter(execution__workflow_id__in=only)
    delivery = rows.select_related("endpoint").first()
    if delivery is None:
        raise NotFound(f"No webhook delivery {delivery_id!r}.")
    return delivery


def trigger_list(*, tenant: Tenant, workflow_id: str) -> QuerySet[Trigger]:
    return Trigger.objects.filter(tenant=tenant, workflow_id=workflow_id)


def trigger_get(*, tenant: Tenant, workflow_id: str, trigger_id: str) -> Trigger:
    trigger = trigger_list(tenant=tenant, workflow_id=workflow_id).filter(pk=trigger_id).first()
    if trigger is None:
        raise NotFound(f"No trigger {trigger_id!r} on workflow {workflow_id!r}.")
    return trigger
