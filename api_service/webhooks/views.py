"""HTTP endpoints for outgoing webhooks: parse, call a service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WEBHOOKS_READ, WEBHOOKS_WRITE
from api_service.core.pagination import NewestFirstCursor
from api_service.http.views import ApiView
from api_service.webhooks import selectors, services
from api_service.webhooks.serializers import (
    DeliveryListOutput,
    DeliveryOutput,
    EndpointCreatedOutput,
    EndpointCreateInput,
    EndpointOutput,
    EndpointUpdateInput,
    RotateSecretInput,
    SecretOutput,
    SigningSecretOutput,
)
from api_service.webhooks.signing import secret_hint
from api_service.workflows import selectors as workflow_selectors


def _workflow(request: Request, workflow_id: str | None):
    if workflow_id is None:
        return None
    return workflow_selectors.workflow_get(
        tenant=request.user.tenant, workflow_id=workflow_id, only=request.user.workflow_ids
    )


class EndpointCollectionView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ, "POST": WEBHOOKS_WRITE}

    @extend_schema(responses=EndpointOutput(many=True), operation_id="webhook_endpoints_list")
    def get(self, request: Request) -> Response:
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(
            selectors.endpoint_list(tenant=request.user.tenant), request, view=self
        )
        return paginator.get_paginated_response(EndpointOutput(page, many=True).data)

    @extend_schema(
        request=EndpointCreateInput,
        responses={201: EndpointCreatedOutput, 400: OpenApiResponse(description="`webhook_url_not_allowed`")},
        operation_id="webhook_endpoints_create",
    )
    def post(self, request: Request) -> Response:
        data = EndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        endpoint = services.endpoint_create(
            tenant=request.user.tenant,
            url=values["url"],
            events=values.get("events"),
            description=values["description"],
            workflow=_workflow(request, values["workflowId"]),
        )
        return Response(EndpointCreatedOutput(endpoint).data, status=201)


class EndpointDetailView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ, "PATCH": WEBHOOKS_WRITE, "DELETE": WEBHOOKS_WRITE}

    @extend_schema(responses=EndpointOutput, operation_id="webhook_endpoints_retrieve")
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(
            EndpointOutput(selectors.endpoint_get(tenant=request.user.tenant, endpoint_id=endpoint_id)).data
        )

    @extend_schema(
        request=EndpointUpdateInput, responses=EndpointOutput, operation_id="webhook_endpoints_update"
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(tenant=request.user.tenant, endpoint_id=endpoint_id)
        data = EndpointUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "workflowId" in changes:
            changes["workflow"] = _workflow(request, changes.pop("workflowId"))
        return Response(EndpointOutput(services.endpoint_update(endpoint=endpoint, **changes)).data)

    @extend_schema(responses={204: None}, operation_id="webhook_endpoints_delete")
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(
            endpoint=selectors.endpoint_get(tenant=request.user.tenant, endpoint_id=endpoint_id)
        )
        return Response(status=204)


class EndpointRotateSecretView(ApiView):
    required_scopes = {"POST": WEBHOOKS_WRITE}

    @extend_schema(
        request=RotateSecretInput, responses=SecretOutput, operation_id="webhook_endpoints_rotate_secret"
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(tenant=request.user.tenant, endpoint_id=endpoint_id)
        data = RotateSecretInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret = services.endpoint_rotate_secret(
            endpoint=endpoint, old_secret_valid_seconds=data.validated_data["expiresInSeconds"]
        )
        return Response(SecretOutput({"secret": secret}).data)


def _signing_secret_body(secret, shown: str | None) -> dict:
    return SigningSecretOutput(
        {
            "secret": shown,
            "secretHint": secret_hint(secret.secret),
            "createdAt": secret.created_at,
            "rotatedAt": secret.rotated_at,
            "previousSecretExpiresAt": secret.previous_secret_expires_at,
        }
    ).data


class SigningSecretView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ}

    @extend_schema(responses=SigningSecretOutput, operation_id="webhook_secret_retrieve")
    def get(self, request: Request) -> Response:
        secret, shown = services.signing_secret_reveal(tenant=request.user.tenant)
        return Response(_signing_secret_body(secret, shown))


class SigningSecretRotateView(ApiView):
    required_scopes = {"POST": WEBHOOKS_WRITE}

    @extend_schema(
        request=RotateSecretInput, responses=SigningSecretOutput, operation_id="webhook_secret_rotate"
    )
    def post(self, request: Request) -> Response:
        data = RotateSecretInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret, shown = services.signing_secret_rotate(
            tenant=request.user.tenant, old_secret_valid_seconds=data.validated_data["expiresInSeconds"]
        )
        return Response(_signing_secret_body(secret, shown))


class ExecutionWebhooksView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ}

    @extend_schema(responses=DeliveryListOutput, operation_id="executions_webhooks_list")
    def get(self, request: Request, execution_id: str) -> Response:
        execution = workflow_selectors.execution_get(
            tenant=request.user.tenant, execution_id=execution_id, only=request.user.workflow_ids
        )
        rows = selectors.delivery_list_for_execution(tenant=request.user.tenant, execution_id=execution.id)
        return Response({"items": DeliveryOutput(rows, many=True).data})


class DeliveryRedeliverView(ApiView):
    required_scopes = {"POST": WEBHOOKS_WRITE}

    @extend_schema(
        request=None,
        responses={
            202: DeliveryOutput,
            409: OpenApiResponse(description="`endpoint_disabled`, `delivery_in_progress`"),
        },
        operation_id="webhook_deliveries_redeliver",
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        delivery = selectors.delivery_get(tenant=request.user.tenant, delivery_id=delivery_id)
        delivery = services.delivery_redeliver(delivery=delivery)
        return Response(DeliveryOutput(delivery).data, status=202)
