"""HTTP endpoints for trigger URLs: managing them (API key) and calling them (the secret URL)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_READ, WORKFLOWS_WRITE
from api_service.http.schema import PAGE_PARAMETERS, ErrorOutput, paginated
from api_service.http.views import ApiView, id_or_404
from api_service.webhooks import selectors, triggers
from api_service.webhooks.models import Trigger
from api_service.webhooks.serializers import (
    HookAcceptedOutput,
    TriggerCreatedOutput,
    TriggerCreateInput,
    TriggerOutput,
    TriggerUpdatedOutput,
    TriggerUpdateInput,
)

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


TRIGGER_PAGE = paginated(TriggerOutput, "TriggerPage")


def _created(request: Request, trigger, token: str, secret: str | None, status: int = 201) -> Response:
    body = {**TriggerOutput(trigger).data, "url": hook_url(request, token)}
    if secret:
        body["signingSecret"] = secret
    return Response(body, status=status)


class TriggerApiView(ApiView):
    def get_trigger(self, workflow_id: str, trigger_id: str) -> Trigger:
        """A trigger of a workflow this key may use; a malformed trigger id names nothing."""
        workflow = self.get_workflow(workflow_id)
        return selectors.trigger_get(
            tenant=self.principal.tenant,
            workflow_id=workflow.id,
            trigger_id=id_or_404(trigger_id, prefix="trg", noun="trigger"),
        )


class TriggerCollectionView(TriggerApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "POST": WORKFLOWS_WRITE}

    @extend_schema(responses=TRIGGER_PAGE, parameters=PAGE_PARAMETERS, operation_id="triggers_list")
    def get(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        return self.paginate(
            selectors.trigger_list(tenant=self.principal.tenant, workflow_id=workflow.id), TriggerOutput
        )

    @extend_schema(
        request=TriggerCreateInput,
        responses={
            201: TriggerCreatedOutput,
            400: OpenApiResponse(description="`unknown_input`: inputMapping names no input of the workflow"),
            409: OpenApiResponse(description="`too_many_triggers`"),
        },
        operation_id="triggers_create",
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        data = TriggerCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = {FIELDS[k]: v for k, v in data.validated_data.items()}
        trigger, token, secret = triggers.trigger_create(
            tenant=self.principal.tenant, workflow=workflow, **values
        )
        return _created(request, trigger, token, secret)


class TriggerDetailView(TriggerApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "PATCH": WORKFLOWS_WRITE, "DELETE": WORKFLOWS_WRITE}

    @extend_schema(responses=TriggerOutput, operation_id="triggers_retrieve")
    def get(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        return Response(TriggerOutput(self.get_trigger(workflow_id, trigger_id)).data)

    @extend_schema(
        request=TriggerUpdateInput,
        responses={
            200: TriggerUpdatedOutput,
            400: OpenApiResponse(description="`unknown_input`: inputMapping names no input of the workflow"),
        },
        operation_id="triggers_update",
    )
    def patch(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        trigger = self.get_trigger(workflow_id, trigger_id)
        data = TriggerUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = {FIELDS[k]: v for k, v in data.validated_data.items()}
        trigger, secret = triggers.trigger_update(trigger=trigger, **changes)
        body: dict[str, Any] = dict(TriggerOutput(trigger).data)
        if secret:
            body = {**body, "signingSecret": secret}
        return Response(body)

    @extend_schema(responses={204: None}, operation_id="triggers_delete")
    def delete(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        triggers.trigger_delete(trigger=self.get_trigger(workflow_id, trigger_id))
        return Response(status=204)


class TriggerRotateView(TriggerApiView):
    required_scopes = {"POST": WORKFLOWS_WRITE}

    @extend_schema(request=None, responses=TriggerCreatedOutput, operation_id="triggers_rotate")
    def post(self, request: Request, workflow_id: str, trigger_id: str) -> Response:
        trigger = self.get_trigger(workflow_id, trigger_id)
        token = triggers.trigger_rotate(trigger=trigger)
        trigger.refresh_from_db()
        return _created(request, trigger, token, None, status=200)


HOOK_ERRORS = {
    400: "`missing_field`, `invalid_field`, `invalid_json`, `invalid_request`, `unknown_input`, "
    "`invalid_graph` and the other execution errors (docs/api.md)",
    401: "`invalid_signature`, `signing_secret_missing` (a signed trigger without a key)",
    404: "`not_found`: no such trigger URL (unknown, rotated or disabled)",
    406: "`not_acceptable`",
    413: "`payload_too_large`: over TRIGGER_MAX_BODY_BYTES (256 KiB by default)",
    415: "`unsupported_media_type`: send JSON or form fields",
    429: "`rate_limit_exceeded` (the trigger's per-minute limit), `quota_exceeded`, "
    "`queue_full` (with `Retry-After`)",
    500: "`internal_error`",
}


class HookView(ApiView):
    """POST /v1/hooks/{token}: no API key, the token is the credential. Other methods: 405 for any token."""

    authentication_classes: list = []
    permission_classes: list = []
    required_scopes = None
    public_rate_limited = True  # the schema documents the trigger's rate-limit headers
    idempotent_post = False  # the trigger keeps its own event ids
    http_method_names = ["post"]

    @extend_schema(
        request={
            "application/json": {"type": "object"},
            "application/x-www-form-urlencoded": {"type": "object"},
        },
        responses={
            202: HookAcceptedOutput,
            **{
                code: OpenApiResponse(response=ErrorOutput, description=description)
                for code, description in HOOK_ERRORS.items()
            },
        },
        operation_id="hooks_fire",
        description="Start the trigger's workflow. Any other method answers 405, whatever the token.",
        auth=[],
    )
    def post(self, request: Request, token: str) -> Response:
        # An unknown token is a 404 whatever the body; the trigger's limit gives every answer its headers.
        trigger, decision = triggers.trigger_admit(token=token)
        request.rate_decision = decision  # type: ignore[attr-defined]  # read by the base's finalize_response
        triggers.trigger_body_check(size=request.META.get("CONTENT_LENGTH"))  # before the body is read
        execution = triggers.trigger_fire(
            trigger=trigger,
            body=request.body,
            content_type=request.content_type or "",
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        return Response(HookAcceptedOutput(execution).data, status=202)
