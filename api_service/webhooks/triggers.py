"""Trigger URLs: secret URLs that start one workflow without an API key (Zapier, CI, forms).

The token is 256 random bits, stored only as a keyed hash, so the database alone cannot
rebuild a URL. A trigger fires through the same execution_submit as the API (quota, plan
limits, validation); an event id (Idempotency-Key, a body field, or the Standard Webhooks
`webhook-id`) makes a retried delivery run once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from api_service.accounts.keys import hash_key
from api_service.core.errors import ApiError, NotFound
from api_service.core.redis import redis_client
from api_service.http.throttling import RateDecision, rate_limit_hit, rate_limited
from api_service.webhooks.models import Trigger, TriggerEvent
from api_service.webhooks.signing import secret_new

TOKEN_PREFIX = "hk_"
MAX_EVENT_ID_LENGTH = 255
MAX_TRIGGERS_PER_WORKFLOW = 50
SCALARS = (str, int, float, bool)
UPDATABLE_FIELDS = frozenset(
    {"name", "input_mapping", "require_signature", "event_id_field", "requests_per_minute", "enabled"}
)


class PayloadTooLarge(ApiError):
    status = 413
    type = "payload_too_large"


class SignatureInvalid(ApiError):
    status = 401
    type = "invalid_signature"


def token_new() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _check_mapping(*, workflow: Any, mapping: dict[str, str]) -> dict[str, str]:
    names = set((workflow.inputs or {}).keys())
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ApiError(
            f"inputMapping names unknown input(s) {unknown}; the workflow's inputs are {sorted(names)}.",
            type="unknown_input",
            details={"field": "inputMapping", "unknownInputs": unknown},
        )
    for name, path in mapping.items():
        if not isinstance(path, str) or not path.strip() or any(not part for part in path.split(".")):
            raise ApiError(
                f"inputMapping.{name}: {path!r} is not a dotted path such as 'data.prompt'.",
                type="invalid_request",
                details={"field": f"inputMapping.{name}"},
            )
    return mapping


def trigger_create(
    *,
    tenant: Any,
    workflow: Any,
    name: str,
    input_mapping: dict[str, str] | None = None,
    require_signature: bool = False,
    event_id_field: str = "",
    requests_per_minute: int | None = None,
) -> tuple[Trigger, str, str | None]:
    """The trigger, its token and its signing secret (when required): both shown once."""
    mapping = _check_mapping(workflow=workflow, mapping=input_mapping or {})
    if Trigger.objects.filter(workflow=workflow).count() >= MAX_TRIGGERS_PER_WORKFLOW:
        raise ApiError(
            f"A workflow may have at most {MAX_TRIGGERS_PER_WORKFLOW} triggers; delete one first.",
            type="too_many_triggers",
            status=409,
        )
    token = token_new()
    signing_secret = secret_new() if require_signature else ""
    trigger = Trigger.objects.create(
        tenant=tenant,
        workflow=workflow,
        name=name,
        token_hash=hash_key(token),
        input_mapping=mapping,
        require_signature=require_signature,
        signing_secret=signing_secret,
        event_id_field=event_id_field,
        requests_per_minute=requests_per_minute,
    )
    return trigger, token, signing_secret or None


def trigger_update(*, trigger: Trigger, **changes: Any) -> tuple[Trigger, str | None]:
    """Returns the trigger and a signing secret when this change made one (requireSignature turned on)."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    if "input_mapping" in changes:
        _check_mapping(workflow=trigger.workflow, mapping=changes["input_mapping"])
    new_secret = None
    # Whoever turns signing on (the API or admin), a signed trigger always has a key: an empty one
    # would make the X-Hub HMAC forgeable by anyone.
    if changes.get("require_signature", trigger.require_signature) and not trigger.signing_secret:
        new_secret = changes["signing_secret"] = secret_new()
    for field, value in changes.items():
        setattr(trigger, field, value)
    trigger.save()
    return trigger, new_secret


def trigger_delete(*, trigger: Trigger) -> None:
    Trigger.objects.filter(pk=trigger.pk).delete()


def trigger_rotate(*, trigger: Trigger) -> str:
    """A new token: the old URL answers 404 from this commit on."""
    token = token_new()
    Trigger.objects.filter(pk=trigger.pk).update(token_hash=hash_key(token), updated_at=timezone.now())
    return token


def trigger_events_purge(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Forget event ids older than TRIGGER_EVENT_RETENTION_HOURS, in batches so no delete holds long locks."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.TRIGGER_EVENT_RETENTION_HOURS)
    deleted = 0
    while True:
        ids = list(TriggerEvent.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += TriggerEvent.objects.filter(pk__in=ids).delete()[0]


def trigger_for_token(*, token: str) -> Trigger:
    """The enabled trigger behind a URL; any other token (unknown, rotated, disabled) is the same 404."""
    trigger = (
        Trigger.objects.filter(token_hash=hash_key(token), enabled=True, workflow__deleted_at__isnull=True)
        .select_related("workflow", "tenant")
        .first()
        if token.startswith(TOKEN_PREFIX) and len(token) < 100
        else None
    )
    if trigger is None:
        raise NotFound("No such trigger URL.")
    return trigger


def trigger_admit(*, token: str) -> tuple[Trigger, RateDecision | None]:
    """The trigger behind a URL, counted against its per-minute limit before its body is read.

    The decision (None when Redis is down: fail open) gives the answer its rate-limit headers.
    """
    trigger = trigger_for_token(token=token)
    limit = trigger.requests_per_minute or settings.TRIGGER_REQUESTS_PER_MINUTE
    decision = rate_limit_hit(
        redis=redis_client(), key_id=f"trigger:{trigger.pk}", limit=limit, policy="trigger"
    )
    if decision is not None and not decision.allowed:
        raise rate_limited(decision, who="This trigger accepts")
    return trigger, decision


def trigger_body_check(*, size: int | str | None) -> None:
    """413 above TRIGGER_MAX_BODY_BYTES; a declared Content-Length (a string) is checked before the body
    is read, and one that is absent or not a number is left to the read body's own check."""
    if isinstance(size, str):
        size = int(size) if size.isdigit() else None
    if size is not None and size > settings.TRIGGER_MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {settings.TRIGGER_MAX_BODY_BYTES} bytes; send less.")


def trigger_fire(*, trigger: Trigger, body: bytes, content_type: str, headers: dict[str, str]) -> Any:
    """Start one execution from a trigger call (or return the one this event id already started)."""
    from api_service.workflows.services import execution_submit

    trigger_body_check(size=len(body))
    signed_id = _verify_signature(trigger, body, headers) if trigger.require_signature else None
    payload = _parse_body(body, content_type)
    event_id = _event_id(trigger, payload, headers, signed_id=signed_id)
    if event_id:
        seen = (
            TriggerEvent.objects.filter(trigger=trigger, event_id=event_id)
            .select_related("execution")
            .first()
        )
        if seen is not None:
            return seen.execution
    inputs = {name: _lookup(payload, path, name) for name, path in trigger.input_mapping.items()}
    try:
        with transaction.atomic():
            execution = execution_submit(tenant=trigger.tenant, workflow=trigger.workflow, inputs=inputs)
            if event_id:
                TriggerEvent.objects.create(trigger=trigger, event_id=event_id, execution=execution)
    except IntegrityError:
        # The same event arrived twice at once: the first one's execution stands, this one rolled back.
        return (
            TriggerEvent.objects.select_related("execution").get(trigger=trigger, event_id=event_id).execution
        )
    Trigger.objects.filter(pk=trigger.pk).update(last_fired_at=timezone.now())
    return execution


def trigger_mapping_check(*, workflow: Any, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping, if every name is an input of the workflow and every path a dotted path (else 400)."""
    return _check_mapping(workflow=workflow, mapping=mapping)


def _verify_signature(trigger: Trigger, body: bytes, headers: dict[str, str]) -> str | None:
    """Raises unless the body is signed; returns the signed event id (Standard Webhooks' webhook-id)."""
    if not trigger.signing_secret:
        # Never verify against an empty key (anyone can compute that HMAC); trigger_update makes one.
        raise SignatureInvalid(
            "This trigger requires a signature but has no signing secret; its owner must PATCH "
            "requireSignature: true to get one.",
            type="signing_secret_missing",
        )
    if headers.get("webhook-signature"):
        try:
            # json_parse=False: a signed form body is as valid as a signed JSON one.
            Webhook(trigger.signing_secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            raise SignatureInvalid(f"The Standard Webhooks signature does not verify: {exc}.") from None
        except ValueError:
            # A malformed header (no comma, bad base64) or a body that is not UTF-8: the client's input.
            raise SignatureInvalid(
                "webhook-signature must be space-separated 'v1,<base64 HMAC-SHA256>' entries over a UTF-8 "
                "body; this one cannot be read."
            ) from None
        return headers["webhook-id"]
    hub = headers.get("x-hub-signature-256", "")
    if hub:
        expected = (
            b"sha256=" + hmac.new(trigger.signing_secret.encode(), body, hashlib.sha256).hexdigest().encode()
        )
        # Bytes on both sides: compare_digest refuses a non-ASCII str instead of answering False.
        given = hub.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise SignatureInvalid(
                "X-Hub-Signature-256 does not match the body: send 'sha256=<hex HMAC-SHA256 of the body>'."
            )
        return None  # no signed id nor timestamp: only an eventIdField guards against replays
    raise SignatureInvalid(
        "This trigger requires a signature: send Standard Webhooks headers "
        "(webhook-id, webhook-timestamp, webhook-signature) or X-Hub-Signature-256."
    )


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    media_type = content_type.split(";")[0].strip().lower()
    if not body.strip():
        return {}
    if media_type in ("application/json", "") or media_type.endswith("+json"):
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError("The body is not valid JSON.", type="invalid_json") from None
        if not isinstance(payload, dict):
            raise ApiError("The JSON body must be an object.", type="invalid_json")
        return payload
    if media_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise ApiError("The form body cannot be read as UTF-8.", type="invalid_request") from None
    raise ApiError(
        f"Send JSON or form fields, not {media_type!r}.", type="unsupported_media_type", status=415
    )


def _lookup(payload: Any, path: str, name: str) -> Any:
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ApiError(
                f"The body has no field {path!r} (mapped to the input {name!r}).",
                type="missing_field",
                details={"field": path, "input": name},
            )
    if not isinstance(value, SCALARS) or value is None:
        raise ApiError(
            f"The field {path!r} (mapped to the input {name!r}) must be a string, number or boolean.",
            type="invalid_field",
            details={"field": path, "input": name},
        )
    return value


def _event_id(
    trigger: Trigger, payload: dict[str, Any], headers: dict[str, str], *, signed_id: str | None
) -> str | None:
    # A verified webhook-id is the event id: were an unsigned Idempotency-Key to replace it, a captured
    # request could be replayed within the timestamp tolerance under a fresh key.
    if signed_id:
        return _event_id_checked(signed_id)
    value: Any = None
    if trigger.event_id_field:
        try:
            value = _lookup(payload, trigger.event_id_field, "event id")
        except ApiError:
            value = None
    key = headers.get("idempotency-key")
    # On a signed trigger the body field is signed and the header is not, so the field wins there.
    value = (value or key) if trigger.require_signature else (key or value)
    return _event_id_checked(value)


def _event_id_checked(value: Any) -> str | None:
    if value is None or value == "":
        return None
    value = str(value)
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise ApiError(
            f"The event id is longer than {MAX_EVENT_ID_LENGTH} characters.", type="invalid_request"
        )
    return value
