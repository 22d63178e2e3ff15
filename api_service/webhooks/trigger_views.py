"""HTTP endpoints for trigger URLs: managing them (API key) and calling them (the secret URL)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_READ, WORKFLOWS_WRITE
from api_service.http.views import ApiView
from api_service.webhooks import selectors, triggers
from api_service.webhooks.serializers import (
    HookAcceptedOutput,
    TriggerCreatedOutput,
    TriggerCreateInput,
    TriggerOutput,
    TriggerUpdateInput,
)
from api_service.workflows import selectors as workflow_selectors

FIELDS = {
    "name": "name",
    "inputMapping": "input_mapping",
    "requireSignature": "require_signature",
    "eventIdField": "event_id_field",
    "requestsPerMinute": "requests_per_minute",
    "enabled": "enabled",
}


def hook_url(request: Request, token: str) -> str:
    path = f"/v1/hooks/{token}"
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def _workflow(request: Request, workflow_id: str):
    return workflow_selectors.workflow_get(
        tenant=request.user.tenant, workflow_id=workflow_id, only=request.user.workflow_ids
    )


def _created(request: Request, trigger, token: str, secret: str | None, status: int = 201) -> Response:
    body = {**TriggerOutput(trigger).data, "url": hook_url(request, token)}
    if secret:
        body["signingSecret"] = secret
    return Response(body, status=status)


class TriggerCollectionView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "POST": WORKFLOWS_WRITE}

    @extend_schema(responses=TriggerOutput(many=True), operation_id="triggers_list")
    def get(self, request: Request, workflow_id: str) -> Response:
        workflow = _workflow(request, workflow_id)
        rows = selectors.trigger_list(tenant=request.user.tenant, workflow_id=workflow.id)
        return Response({"items": TriggerOutput(rows, many=True).data})

    @extend_schema(
        request=TriggerCreateInput, responses={201: TriggerCreatedOutput}, operation_id="triggers_create"
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = _workflow(request, workflow_id)
        data = TriggerCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = {FIELDS[k]: v for k, v in data.validated_data.items()}
        trigger, token, secret = triggers.trigger_create(
            tenant=request.user.tenant, workflow=workflow, **values
        )
        return _created(request, trigger, token, secret)


class TriggerDetailView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "PATCH": WORKFLOWS_WRITE, "DELETE": WORKFLOWS_WRITE}

    def _trigger(self, request: Request, workflow_id: str, trigger_id: str):
        workflow = _workflow(request, workflow_id)
        return selectors.trigger_get(
            tenant=request.user.tenant, workflow_id=workflow.id, trigger_id=trigger_id
        )

    @extend_schema(responses=TriggerOutput, operation_id="triggers_retrieve")
    def get(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        return Response(TriggerOutput(self._trigger(request, workflow_id, trigger_id)).data)

    @extend_schema(request=TriggerUpdateInput, responses=TriggerOutput, operation_id="triggers_update")
    def patch(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        trigger = self._trigger(request, workflow_id, trigger_id)
        data = TriggerUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = {FIELDS[k]: v for k, v in data.validated_data.items()}
        trigger, secret = triggers.trigger_update(trigger=trigger, **changes)
        body = TriggerOutput(trigger).data
        if secret:
            body = {**body, "signingSecret": secret}
        return Response(body)

    @extend_schema(responses={204: None}, operation_id="triggers_delete")
    def delete(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        triggers.trigger_delete(trigger=self._trigger(request, workflow_id, trigger_id))
        return Response(status=204)


class TriggerRotateView(ApiView):
    required_scopes = {"POST": WORKFLOWS_WRITE}

    @extend_schema(request=None, responses=TriggerCreatedOutput, operation_id="triggers_rotate")
    def post(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        workflow = _workflow(request, workflow_id)
        trigger = selectors.trigger_get(
            tenant=request.user.tenant, workflow_id=workflow.id, trigger_id=trigger_id
        )
        token = triggers.trigger_rotate(trigger=trigger)
        trigger.refresh_from_db()
        return _created(request, trigger, token, None, status=200)


class HookView(ApiView):
    """POST /v1/hooks/{token}: no API key, the token is the credential. Other methods: 405 for any token."""

    authentication_classes: list = []
    permission_classes: list = []
    required_scopes = None
    idempotent_post = False  # the trigger keeps its own event ids
    http_method_names = ["post"]

    @extend_schema(
        request={
            "application/json": {"type": "object"},
            "application/x-www-form-urlencoded": {"type": "object"},
        },
        responses={
            202: HookAcceptedOutput,
            400: OpenApiResponse(
                description="`missing_field`, `invalid_field`, `invalid_json`, `invalid_graph`"
            ),
            401: OpenApiResponse(description="`invalid_signature`"),
            404: OpenApiResponse(description="No such trigger URL (unknown, rotated or disabled)."),
            413: OpenApiResponse(description="`payload_too_large`: over 256 KiB"),
            429: OpenApiResponse(description="`rate_limit_exceeded`, `quota_exceeded`"),
        },
        operation_id="hooks_fire",
        auth=[],
    )
    def post(self, request: Request, token: str) -> Response:
        trigger = triggers.trigger_admit(token=token)  # an unknown token is a 404 whatever the body
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit():
            triggers.trigger_body_check(size=int(declared))  # before the body is read
        execution = triggers.trigger_fire(
            trigger=trigger,
            body=request.body,
            content_type=request.content_type or "",
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        return Response(HookAcceptedOutput(execution).data, status=202)
