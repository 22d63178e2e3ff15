"""Outgoing webhooks (endpoints, the tenant's signing secret, deliveries, attempts) and trigger URLs."""

from __future__ import annotations

from django.db import models

from api_service.core.ids import new_id

EXECUTION_STARTED = "execution.started"
EXECUTION_COMPLETED = "execution.completed"
EXECUTION_FAILED = "execution.failed"
EXECUTION_CANCELLED = "execution.cancelled"
EVENT_TYPES = (EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_CANCELLED)
DEFAULT_EVENTS = [EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_CANCELLED]


def new_endpoint_id() -> str:
    return new_id("whe")


def new_delivery_id() -> str:
    return new_id("msg")  # also the Standard Webhooks `webhook-id`


def new_trigger_id() -> str:
    return new_id("trg")


class WebhookEndpoint(models.Model):
    """A URL registered by a tenant (Zapier's REST hooks subscribe this way); signed with its own secret."""

    id = models.CharField(primary_key=True, max_length=40, default=new_endpoint_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True, default="")
    events = models.JSONField(default=list)
    # Only this workflow's executions when set.
    workflow = models.ForeignKey(
        "workflows.Workflow",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    # Needed in clear to sign; it is shown to the customer once, when made.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


class SigningSecret(models.Model):
    """The tenant's secret for per-execution and per-workflow webhook URLs."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=100)
    revealed = models.BooleanField(default=False)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"signing secret of {self.tenant_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"  # waiting for its next attempt
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # every attempt failed, or the endpoint said 410 Gone
    SKIPPED = "SKIPPED"  # the endpoint was disabled or deleted before it was sent


class WebhookDelivery(models.Model):
    """One event for one URL. Its id is the `webhook-id` header of every attempt."""

    id = models.CharField(primary_key=True, max_length=40, default=new_delivery_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="webhook_deliveries")
    execution = models.ForeignKey(
        "workflows.Execution", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    # Null for a per-execution or per-workflow URL (signed with the tenant's secret).
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    url = models.CharField(max_length=2048)
    event_type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker holds the row while it sends; a worker that died lets it go when this passes.
    locked_until = models.DateTimeField(null=True, blank=True)
    # attempt_count when the current round of retries began (a redelivery starts a new round).
    round_start = models.PositiveIntegerField(default=0)
    # When the last published message became deliverable; the sweeper republishes only long after it.
    published_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["execution", "created_at"]),
            models.Index(
                fields=["next_attempt_at"], name="whd_pending_idx", condition=models.Q(status="PENDING")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.event_type} {self.status}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    # Why it failed when there was no usable answer: timeout, connection_refused, address_not_allowed...
    error_class = models.CharField(max_length=60, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")  # the first KiB
    succeeded = models.BooleanField(default=False)
    # The wait chosen before the next attempt (the schedule with jitter, or Retry-After); null if none.
    retry_in_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("delivery", "number")
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="whatt_unique_number")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"


class Trigger(models.Model):
    """A secret URL that starts one workflow without an API key."""

    id = models.CharField(primary_key=True, max_length=40, default=new_trigger_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="triggers")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="triggers")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True)
    # {"prompt": "data.text"}: named input <- dotted path in the body.
    input_mapping = models.JSONField(default=dict, blank=True)
    require_signature = models.BooleanField(default=False)
    signing_secret = models.CharField(max_length=100, blank=True, default="")
    # A body field used as the event id when no Idempotency-Key header is sent.
    event_id_field = models.CharField(max_length=200, blank=True, default="")
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["workflow", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class TriggerEvent(models.Model):
    """An event id seen on a trigger: a retried delivery of the same event runs once."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=255)
    execution = models.ForeignKey("workflows.Execution", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trigger", "event_id"], name="trgevt_unique_event")]

    def __str__(self) -> str:
        return f"{self.trigger_id} {self.event_id}"
