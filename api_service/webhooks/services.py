"""Writes for outgoing webhooks: endpoints, the tenant's signing secret, and recording deliveries.

Sending lives in delivery.py; trigger URLs in triggers.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from api_service.accounts.models import Tenant
from api_service.core.errors import ApiError, Conflict
from api_service.core.outbound import OutboundRefused, outbound_check_url
from api_service.webhooks import dispatch
from api_service.webhooks.models import (
    DEFAULT_EVENTS,
    EVENT_TYPES,
    DeliveryStatus,
    SigningSecret,
    WebhookDelivery,
    WebhookEndpoint,
)
from api_service.webhooks.signing import secret_new

MAX_ROTATION_WINDOW = timedelta(days=7)
DEFAULT_ROTATION_WINDOW = timedelta(hours=24)
MAX_ENDPOINTS_PER_TENANT = 50


def webhook_url_check(*, url: str, field: str = "url") -> str:
    """The SSRF guard at registration: the same checks run again before every attempt."""
    try:
        outbound_check_url(url)
    except OutboundRefused as exc:
        raise ApiError(
            f"{field}: {exc}", type="webhook_url_not_allowed", details={"field": field, "reason": exc.reason}
        ) from None
    return url


def webhook_events_check(*, events: list[str] | None, field: str = "events") -> list[str]:
    if events is None:
        return list(DEFAULT_EVENTS)
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ApiError(
            f"{field}: unknown event type(s) {unknown} (or none given); choose from {list(EVENT_TYPES)}.",
            type="invalid_event_type",
            details={"field": field},
        )
    return list(dict.fromkeys(events))


def workflow_restricted(message: str) -> ApiError:
    return ApiError(message, type="workflow_restricted", status=403)


def endpoint_workflow_check(*, workflow: Any, only: list[str] | None) -> None:
    """A key restricted to some workflows may only point endpoints at those: an all-workflows
    endpoint (workflow None) would receive every workflow's outputs and presigned URLs."""
    if only is None:
        return
    if workflow is None:
        raise workflow_restricted(
            "This key is restricted to some workflows: set workflowId to one of them "
            "(an endpoint for all workflows needs an unrestricted key)."
        )
    if workflow.pk not in only:
        raise workflow_restricted(f"This key may not use workflow {workflow.pk!r}.")


def endpoint_create(
    *,
    tenant: Tenant,
    url: str,
    events: list[str] | None = None,
    description: str = "",
    workflow: Any = None,
    only: list[str] | None = None,
) -> WebhookEndpoint:
    endpoint_workflow_check(workflow=workflow, only=only)
    webhook_url_check(url=url)
    events = webhook_events_check(events=events)
    if (
        WebhookEndpoint.objects.filter(tenant=tenant, deleted_at__isnull=True).count()
        >= MAX_ENDPOINTS_PER_TENANT
    ):
        raise ApiError(
            f"A tenant may register at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one first.",
            type="too_many_endpoints",
            status=409,
        )
    return WebhookEndpoint.objects.create(
        tenant=tenant, url=url, events=events, description=description, workflow=workflow, secret=secret_new()
    )


def endpoint_update(
    *, endpoint: WebhookEndpoint, only: list[str] | None = None, **changes: Any
) -> WebhookEndpoint:
    allowed = {"url", "events", "description", "enabled", "workflow"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    # Checked on the row as it is and as it would be: no widening to all workflows, nor moving
    # another workflow's endpoint.
    endpoint_workflow_check(workflow=endpoint.workflow, only=only)
    if "workflow" in changes:
        endpoint_workflow_check(workflow=changes["workflow"], only=only)
    if "url" in changes:
        webhook_url_check(url=changes["url"])
    if "events" in changes:
        changes["events"] = webhook_events_check(events=changes["events"])
    if changes.get("enabled") is True:
        changes["disabled_reason"] = ""  # a customer re-enabling it has dealt with the reason
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The unsubscribe: nothing more is sent, pending deliveries are skipped; history stays."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
        deleted_at=now, enabled=False, disabled_reason="deleted"
    )
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SKIPPED, completed_at=now, last_error="the endpoint was deleted"
    )


def _rotation_window(seconds: int | None) -> timedelta:
    if seconds is None:
        return DEFAULT_ROTATION_WINDOW
    window = timedelta(seconds=seconds)
    if window < timedelta(0) or window > MAX_ROTATION_WINDOW:
        raise ApiError(
            f"expiresInSeconds must be from 0 to {int(MAX_ROTATION_WINDOW.total_seconds())}, got {seconds}.",
            type="invalid_request",
            details={"field": "expiresInSeconds"},
        )
    return window


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, old_secret_valid_seconds: int | None = None) -> str:
    """A new secret; the old one keeps signing (beside it) for the window, so receivers can switch."""
    window = _rotation_window(old_secret_valid_seconds)
    new = secret_new()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret if window else ""
        locked.previous_secret_expires_at = timezone.now() + window if window else None
        locked.secret = new
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return new


def signing_secret_ensure(*, tenant: Tenant) -> SigningSecret:
    secret, _ = SigningSecret.objects.get_or_create(tenant=tenant, defaults={"secret": secret_new()})
    return secret


def signing_secret_access_check(*, only: list[str] | None) -> None:
    """The tenant's secret signs every workflow's per-execution and per-workflow deliveries."""
    if only is not None:
        raise workflow_restricted(
            "The tenant's signing secret covers every workflow; use an unrestricted key to read or rotate it."
        )


def signing_secret_reveal(
    *, tenant: Tenant, may_reveal: bool = True, only: list[str] | None = None
) -> tuple[SigningSecret, str | None]:
    """The tenant's secret; its value only the first time it is fetched by a caller allowed to
    reveal it (a webhooks:write key), so a read-only key cannot use up the one showing."""
    signing_secret_access_check(only=only)
    signing_secret_ensure(tenant=tenant)
    with transaction.atomic():
        secret = SigningSecret.objects.select_for_update().get(tenant=tenant)
        if secret.revealed or not may_reveal:
            return secret, None
        secret.revealed = True
        secret.save(update_fields=["revealed"])
    return secret, secret.secret


def signing_secret_rotate(
    *, tenant: Tenant, old_secret_valid_seconds: int | None = None, only: list[str] | None = None
) -> tuple[SigningSecret, str]:
    signing_secret_access_check(only=only)
    window = _rotation_window(old_secret_valid_seconds)
    signing_secret_ensure(tenant=tenant)
    with transaction.atomic():
        secret = SigningSecret.objects.select_for_update().get(tenant=tenant)
        secret.previous_secret = secret.secret if window else ""
        secret.previous_secret_expires_at = timezone.now() + window if window else None
        secret.secret = secret_new()
        secret.revealed = True
        secret.rotated_at = timezone.now()
        secret.save()
    return secret, secret.secret


def secrets_in_use(*, current: str, previous: str, previous_expires_at: Any) -> list[str]:
    if previous and previous_expires_at and previous_expires_at > timezone.now():
        return [current, previous]
    return [current]


def deliveries_record(*, execution_id: str, event_type: str) -> list[str]:
    """Record the deliveries an execution's state change causes, inside the caller's transaction.

    Sent on commit; the sweeper sends any whose publish was lost. Targets: the tenant's enabled
    endpoints subscribed to the event (and to the workflow, when filtered), plus the execution's
    webhookUrl, or else its workflow's default webhookUrl.
    """
    from api_service.workflows.models import Execution

    live_endpoints = WebhookEndpoint.objects.filter(enabled=True, deleted_at__isnull=True)
    execution = (
        Execution.objects.select_related("workflow")
        .only("id", "tenant_id", "workflow_id", "webhook_url", "webhook_events", "workflow__webhook_url")
        # Most tenants have no endpoint: one query tells, instead of a second one per state change.
        .annotate(has_endpoints=Exists(live_endpoints.filter(tenant_id=OuterRef("tenant_id"))))
        .get(pk=execution_id)
    )
    now = timezone.now()
    rows: list[WebhookDelivery] = []
    endpoints = (
        live_endpoints.filter(tenant_id=execution.tenant_id).only("id", "url", "events", "workflow_id")
        if execution.has_endpoints
        else []
    )
    for endpoint in endpoints:
        if event_type in endpoint.events and endpoint.workflow_id in (None, execution.workflow_id):
            rows.append(_delivery(execution, event_type, endpoint.url, now, endpoint=endpoint))
    if execution.webhook_url:
        if event_type in (execution.webhook_events or DEFAULT_EVENTS):
            rows.append(_delivery(execution, event_type, execution.webhook_url, now))
    elif execution.workflow.webhook_url and event_type in DEFAULT_EVENTS:
        rows.append(_delivery(execution, event_type, execution.workflow.webhook_url, now))
    if not rows:
        return []
    if any(row.endpoint is None for row in rows):
        SigningSecret.objects.get_or_create(tenant_id=execution.tenant_id, defaults={"secret": secret_new()})
    WebhookDelivery.objects.bulk_create(rows)
    ids = [row.id for row in rows]
    transaction.on_commit(lambda: [dispatch.delivery_publish(delivery_id=i) for i in ids])
    return ids


def _delivery(execution: Any, event_type: str, url: str, now: Any, endpoint: Any = None) -> WebhookDelivery:
    return WebhookDelivery(
        tenant_id=execution.tenant_id,
        execution_id=execution.id,
        endpoint=endpoint,
        url=url,
        event_type=event_type,
        occurred_at=now,
        next_attempt_at=now,
    )


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send it again now, with the same webhook-id, and a fresh round of retries."""
    endpoint = delivery.endpoint
    if endpoint is not None and (endpoint.deleted_at or not endpoint.enabled):
        raise Conflict(
            f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason or 'by its owner'}); "
            "enable it (PATCH enabled=true) before redelivering.",
            type="endpoint_disabled",
        )
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if (
            locked.status == DeliveryStatus.PENDING
            and locked.locked_until
            and locked.locked_until > timezone.now()
        ):
            raise Conflict(f"Delivery {delivery.pk} is being sent right now.", type="delivery_in_progress")
        locked.status = DeliveryStatus.PENDING
        locked.round_start = locked.attempt_count
        locked.next_attempt_at = timezone.now()
        locked.locked_until = None
        locked.completed_at = None
        locked.save()
        transaction.on_commit(lambda: dispatch.delivery_publish(delivery_id=locked.pk))
    return locked


def deliveries_sweep(*, grace_seconds: int = 30, limit: int = 500) -> int:
    """Publish pending deliveries that are due but that no worker took: a lost publish, a long retry wait.

    A row whose last message became deliverable less than a claim's hold ago is left alone: that
    message is most likely still queued behind others, and a copy would only lengthen the queue.
    """
    from api_service.webhooks.delivery import attempt_time_limits

    now = timezone.now()
    republish_before = now - timedelta(seconds=max(grace_seconds, attempt_time_limits()[2]))
    ids = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=grace_seconds)
        )
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=republish_before))
        .exclude(locked_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in ids:
        dispatch.delivery_publish(delivery_id=delivery_id)
    return len(ids)
