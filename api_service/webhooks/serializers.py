"""Request and response shapes for webhooks and triggers; no logic lives here."""

from __future__ import annotations

from rest_framework import serializers

from api_service.webhooks.models import EVENT_TYPES
from api_service.webhooks.signing import secret_hint

EVENT_CHOICES = list(EVENT_TYPES)


class EndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2048)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), required=False, min_length=1
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    workflowId = serializers.CharField(max_length=40, required=False, allow_null=True, default=None)


class EndpointUpdateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2048, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), required=False, min_length=1
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    workflowId = serializers.CharField(max_length=40, required=False, allow_null=True)


class RotateSecretInput(serializers.Serializer):
    expiresInSeconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="How long the old secret keeps signing (default 24 h).",
    )


class EndpointOutput(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    workflowId = serializers.CharField(source="workflow_id", allow_null=True)
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(source="disabled_reason")
    secretHint = serializers.SerializerMethodField()
    previousSecretExpiresAt = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_secretHint(self, endpoint) -> str:
        return secret_hint(endpoint.secret)


class EndpointCreatedOutput(EndpointOutput):
    secret = serializers.CharField(help_text="Shown once: store it now.")


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField(allow_null=True, help_text="Shown once, then null.")


class SigningSecretOutput(serializers.Serializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="The full secret once: on the first GET by a key with webhooks:write, or on rotate; "
        "otherwise null.",
    )
    revealed = serializers.BooleanField(
        help_text="Whether the current secret has been shown already (a webhooks:read key never uses it up)."
    )
    secretHint = serializers.CharField()
    createdAt = serializers.DateTimeField()
    rotatedAt = serializers.DateTimeField(allow_null=True)
    previousSecretExpiresAt = serializers.DateTimeField(allow_null=True)


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField(source="started_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    errorClass = serializers.CharField(source="error_class")
    error = serializers.CharField()
    latencyMs = serializers.IntegerField(source="latency_ms", allow_null=True)
    response = serializers.CharField(source="response_excerpt", help_text="The first KiB of the answer.")
    succeeded = serializers.BooleanField()
    retryInSeconds = serializers.FloatField(source="retry_in_seconds", allow_null=True)


class DeliveryOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The webhook-id header of every attempt.")
    type = serializers.CharField(source="event_type")
    url = serializers.CharField()
    endpointId = serializers.CharField(source="endpoint_id", allow_null=True)
    status = serializers.CharField()
    attemptCount = serializers.IntegerField(source="attempt_count")
    nextAttemptAt = serializers.SerializerMethodField()
    lastError = serializers.CharField(source="last_error")
    createdAt = serializers.DateTimeField(source="created_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    attempts = AttemptOutput(many=True)

    def get_nextAttemptAt(self, delivery) -> str | None:
        return delivery.next_attempt_at.isoformat() if delivery.status == "PENDING" else None


class TriggerCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    inputMapping = serializers.DictField(
        child=serializers.CharField(max_length=500),
        required=False,
        default=dict,
        help_text='Named input <- dotted path in the body: {"prompt": "data.text"}.',
    )
    requireSignature = serializers.BooleanField(required=False, default=False)
    eventIdField = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A dotted path in the body used as the event id when no Idempotency-Key is sent.",
    )
    requestsPerMinute = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=10000
    )


class TriggerUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    inputMapping = serializers.DictField(child=serializers.CharField(max_length=500), required=False)
    requireSignature = serializers.BooleanField(required=False)
    eventIdField = serializers.CharField(max_length=200, required=False, allow_blank=True)
    requestsPerMinute = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=10000
    )
    enabled = serializers.BooleanField(required=False)


class TriggerOutput(serializers.Serializer):
    id = serializers.CharField()
    workflowId = serializers.CharField(source="workflow_id")
    name = serializers.CharField()
    inputMapping = serializers.JSONField(source="input_mapping")
    requireSignature = serializers.BooleanField(source="require_signature")
    eventIdField = serializers.CharField(source="event_id_field")
    requestsPerMinute = serializers.IntegerField(source="requests_per_minute", allow_null=True)
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField(source="created_at")
    lastFiredAt = serializers.DateTimeField(source="last_fired_at", allow_null=True)


class TriggerCreatedOutput(TriggerOutput):
    url = serializers.CharField(help_text="Shown once: the token in it is stored hashed.")
    signingSecret = serializers.CharField(
        required=False, help_text="Shown once, when requireSignature is set."
    )


class TriggerUpdatedOutput(TriggerOutput):
    signingSecret = serializers.CharField(
        required=False, help_text="Shown once, when this change turned requireSignature on."
    )


class HookAcceptedOutput(serializers.Serializer):
    executionId = serializers.CharField(source="id")
    status = serializers.CharField()
