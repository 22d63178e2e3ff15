"""Sending one webhook attempt: claim the row, build and sign the body, POST it through the SSRF guard,
log the attempt, then settle the delivery (done, retry later, or give up).

A worker claims a delivery by a conditional UPDATE of `locked_until`, so two workers never send the same
attempt; one that dies mid-send lets the claim lapse and the sweeper sends it again (same webhook-id).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from api_service.core.outbound import OutboundFailed, OutboundRefused, OutboundResponse, outbound_request
from api_service.webhooks import dispatch, slots
from api_service.webhooks.models import DeliveryStatus, SigningSecret, WebhookAttempt, WebhookDelivery
from api_service.webhooks.services import secrets_in_use
from api_service.webhooks.signing import signature_header

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_BYTES = 1024
MAX_RETRY_AFTER_SECONDS = 24 * 3600
# Longer waits are left to the beat sweeper rather than held as broker ETAs.
MAX_COUNTDOWN_SECONDS = 900


def attempt_time_limits() -> tuple[int, int, int]:
    """(soft, hard, hold) seconds for one attempt, all derived from WEBHOOK_TIMEOUT_SECONDS.

    The deliver task runs under soft/hard; the claim and the receiver slot are held for `hold`,
    which outlasts the hard limit, so no second worker can take a row whose attempt may still run.
    """
    soft = settings.WEBHOOK_TIMEOUT_SECONDS + 30
    hard = soft + 15
    return soft, hard, hard + 30


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    error_class: str = ""
    error: str = ""
    latency_ms: int | None = None
    excerpt: str = ""
    retry_after: float | None = None
    gone: bool = False


def delivery_attempt(*, delivery_id: str) -> str:
    """One attempt of one delivery, if it is due and nobody else holds it. Returns what happened."""
    now = timezone.now()
    hold = timedelta(seconds=attempt_time_limits()[2])
    claim = now + hold  # the claim's token: only the worker that set this value may settle the row
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + timedelta(seconds=1)
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=claim)
    )
    if not claimed:
        return "not_due"
    delivery = WebhookDelivery.objects.select_related("endpoint", "execution").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if endpoint is not None and (endpoint.deleted_at or not endpoint.enabled):
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.SKIPPED,
            completed_at=now,
            locked_until=None,
            last_error=f"the endpoint is disabled: {endpoint.disabled_reason or 'by its owner'}",
        )
        return "skipped"
    slot_key = slots.slot_target(endpoint_id=endpoint.id if endpoint is not None else None, url=delivery.url)
    slot = slots.slot_acquire(target=slot_key, hold_seconds=int(hold.total_seconds()))
    if slot is None:
        # The receiver already has its share of in-flight requests: try again shortly, not an attempt.
        wait = 1 + random.random() * 2
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            locked_until=None, next_attempt_at=now + timedelta(seconds=wait)
        )
        dispatch.delivery_publish(delivery_id=delivery_id, countdown=wait)
        return "deferred"
    started = timezone.now()
    try:
        outcome = _send(delivery, at=started)
    except SoftTimeLimitExceeded:
        # Building the body or sending overran the task's limit: a failed attempt like any other timeout.
        outcome = Outcome(succeeded=False, error_class="timeout", error="The attempt overran its time limit.")
    finally:
        slots.slot_release(slot)
    return _settle(delivery, outcome, started=started, claim=claim)


def delivery_body(delivery: WebhookDelivery) -> str:
    """`{"type", "timestamp", "data"}`; data is the poll answer as it is now, with fresh presigned URLs."""
    from api_service.workflows.serializers import ExecutionPollOutput

    payload = {
        "type": delivery.event_type,
        "timestamp": delivery.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": ExecutionPollOutput(delivery.execution).data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _signing_secrets(delivery: WebhookDelivery) -> list[str]:
    source = delivery.endpoint or SigningSecret.objects.get(tenant_id=delivery.tenant_id)
    return secrets_in_use(
        current=source.secret,
        previous=source.previous_secret,
        previous_expires_at=source.previous_secret_expires_at,
    )


def _send(delivery: WebhookDelivery, *, at: datetime) -> Outcome:
    body = delivery_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature_header(
            secrets_in_use=_signing_secrets(delivery), message_id=delivery.id, at=at, body=body
        ),
        "User-Agent": "Crucible-Webhooks/1",
    }
    try:
        response = outbound_request(
            method="POST",
            url=delivery.url,
            headers=headers,
            body=body.encode(),
            timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
            max_bytes=MAX_RESPONSE_BYTES,
        )
    except OutboundRefused as exc:
        return Outcome(succeeded=False, error_class=exc.reason, error=str(exc))
    except OutboundFailed as exc:
        return Outcome(succeeded=False, error_class=exc.error_class, error=str(exc))
    return _judge(response)


def _judge(response: OutboundResponse) -> Outcome:
    excerpt = response.body[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    code = response.status
    common: dict[str, Any] = {"status_code": code, "latency_ms": response.latency_ms, "excerpt": excerpt}
    if 200 <= code < 300:
        return Outcome(succeeded=True, **common)
    if 300 <= code < 400:
        return Outcome(succeeded=False, error_class="redirect", error="Redirects are not followed.", **common)
    retry_after = _retry_after(response.headers.get("retry-after")) if code in (429, 503) else None
    return Outcome(
        succeeded=False,
        error_class=f"http_{code}",
        error=f"HTTP {code}",
        retry_after=retry_after,
        gone=code == 410,
        **common,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_SECONDS)


def _next_wait(delivery: WebhookDelivery, outcome: Outcome) -> float | None:
    """Seconds before the next attempt, or None when the round of retries is over."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE_SECONDS
    done_in_round = delivery.attempt_count + 1 - delivery.round_start
    if outcome.gone or done_in_round > len(schedule):
        return None
    if outcome.retry_after is not None:
        return outcome.retry_after
    base = float(schedule[done_in_round - 1])
    return base * (1 + random.random() * 0.2)


def _settle(delivery: WebhookDelivery, outcome: Outcome, *, started: datetime, claim: datetime) -> str:
    now = timezone.now()
    with transaction.atomic():
        # Fenced on the claim: if it lapsed and another worker claimed the row, that worker records.
        current = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=delivery.pk, status=DeliveryStatus.PENDING, locked_until=claim)
            .only("attempt_count", "round_start")
            .first()
        )
        if current is None:
            log.warning("webhook %s: claim lost before the attempt was recorded; not recording", delivery.id)
            return "claim_lost"
        delivery.attempt_count, delivery.round_start = current.attempt_count, current.round_start
        wait = None if outcome.succeeded else _next_wait(delivery, outcome)
        number = delivery.attempt_count + 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started,
            status_code=outcome.status_code,
            error_class=outcome.error_class,
            error=outcome.error[:500],
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            succeeded=outcome.succeeded,
            retry_in_seconds=wait,
        )
        fields: dict = {"attempt_count": number, "locked_until": None, "last_error": outcome.error[:500]}
        if outcome.succeeded:
            fields.update(status=DeliveryStatus.SUCCEEDED, completed_at=now, last_error="")
            result = "succeeded"
        elif wait is None:
            fields.update(status=DeliveryStatus.FAILED, completed_at=now)
            result = "gone" if outcome.gone else "gave_up"
        else:
            fields.update(next_attempt_at=now + timedelta(seconds=wait))
            result = "retry"
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**fields)
        endpoint = delivery.endpoint
        if endpoint is not None:
            _endpoint_after(endpoint, delivery, outcome, result=result, now=now)
    log.info(
        "webhook %s %s attempt %s to %s: %s (%s)",
        delivery.id,
        delivery.event_type,
        number,
        delivery.url,
        result,
        outcome.status_code or outcome.error_class,
    )
    if result == "retry" and wait is not None and wait <= MAX_COUNTDOWN_SECONDS:
        transaction.on_commit(lambda: dispatch.delivery_publish(delivery_id=delivery.pk, countdown=wait))
    return result


def _endpoint_after(
    endpoint, delivery: WebhookDelivery, outcome: Outcome, *, result: str, now: datetime
) -> None:
    from api_service.webhooks.models import WebhookEndpoint

    rows = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if outcome.succeeded:
        rows.update(last_success_at=now)
    elif result == "gone":
        rows.update(
            enabled=False, disabled_reason=f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC."
        )
    elif result == "gave_up" and (
        endpoint.last_success_at is None or endpoint.last_success_at < delivery.created_at
    ):
        # Nothing has reached it since this event: it has been failing for the whole retry schedule.
        rows.filter(enabled=True).update(
            enabled=False,
            disabled_reason=(
                f"Every attempt of {delivery.id} failed and nothing has succeeded since "
                f"{delivery.created_at:%Y-%m-%d %H:%M} UTC; last: {outcome.error or outcome.error_class}"
            )[:500],
        )
