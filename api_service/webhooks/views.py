"""HTTP endpoints for outgoing webhooks: parse, call a service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WEBHOOKS_READ, WEBHOOKS_WRITE
from api_service.http.schema import PAGE_PARAMETERS, paginated
from api_service.http.views import ApiView, id_or_404
from api_service.webhooks import selectors, services
from api_service.webhooks.models import WebhookEndpoint
from api_service.webhooks.serializers import (
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
from api_service.workflows.models import Workflow

ENDPOINT_PAGE = paginated(EndpointOutput, "WebhookEndpointPage")
DELIVERY_PAGE = paginated(DeliveryOutput, "WebhookDeliveryPage")
# A body may name a workflow: one the key cannot see is a 404, as in the workflow routes.
NO_WORKFLOW = {404: OpenApiResponse(description="`not_found`: no such workflow (`workflowId`) for this key")}
RESTRICTED = OpenApiResponse(
    description="`insufficient_scope`; `workflow_restricted`: a key restricted to some workflows "
    "must set `workflowId` to one of them"
)
RESTRICTED_SECRET = OpenApiResponse(
    description="`insufficient_scope`; `workflow_restricted`: the tenant-wide secret needs an "
    "unrestricted key"
)


class WebhookApiView(ApiView):
    """Lookups of this app's rows, by well-formed id only, in the key's tenant."""

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        return selectors.endpoint_get(
            tenant=self.principal.tenant,
            endpoint_id=id_or_404(endpoint_id, prefix="whe", noun="webhook endpoint"),
            only=self.principal.workflow_ids,
        )

    def get_optional_workflow(self, workflow_id: str | None) -> Workflow | None:
        return None if workflow_id is None else self.get_workflow(workflow_id)


class EndpointCollectionView(WebhookApiView):
    required_scopes = {"GET": WEBHOOKS_READ, "POST": WEBHOOKS_WRITE}

    @extend_schema(responses=ENDPOINT_PAGE, parameters=PAGE_PARAMETERS, operation_id="webhook_endpoints_list")
    def get(self, request: Request) -> Response:
        rows = selectors.endpoint_list(tenant=self.principal.tenant, only=self.principal.workflow_ids)
        return self.paginate(rows, EndpointOutput)

    @extend_schema(
        request=EndpointCreateInput,
        responses={
            201: EndpointCreatedOutput,
            400: OpenApiResponse(description="`webhook_url_not_allowed`"),
            403: RESTRICTED,
            **NO_WORKFLOW,
        },
        operation_id="webhook_endpoints_create",
    )
    def post(self, request: Request) -> Response:
        data = EndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        endpoint = services.endpoint_create(
            tenant=self.principal.tenant,
            url=values["url"],
            events=values.get("events"),
            description=values["description"],
            workflow=self.get_optional_workflow(values["workflowId"]),
            only=self.principal.workflow_ids,
        )
        return Response(EndpointCreatedOutput(endpoint).data, status=201)


class EndpointDetailView(WebhookApiView):
    required_scopes = {"GET": WEBHOOKS_READ, "PATCH": WEBHOOKS_WRITE, "DELETE": WEBHOOKS_WRITE}

    @extend_schema(responses=EndpointOutput, operation_id="webhook_endpoints_retrieve")
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointOutput(self.get_endpoint(endpoint_id)).data)

    @extend_schema(
        request=EndpointUpdateInput,
        responses={
            200: EndpointOutput,
            400: OpenApiResponse(description="`webhook_url_not_allowed`"),
            403: RESTRICTED,
        },
        operation_id="webhook_endpoints_update",
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = self.get_endpoint(endpoint_id)
        data = EndpointUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "workflowId" in changes:
            changes["workflow"] = self.get_optional_workflow(changes.pop("workflowId"))
        endpoint = services.endpoint_update(endpoint=endpoint, only=self.principal.workflow_ids, **changes)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(responses={204: None}, operation_id="webhook_endpoints_delete")
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(endpoint=self.get_endpoint(endpoint_id))
        return Response(status=204)


class EndpointRotateSecretView(WebhookApiView):
    required_scopes = {"POST": WEBHOOKS_WRITE}

    @extend_schema(
        request=RotateSecretInput, responses=SecretOutput, operation_id="webhook_endpoints_rotate_secret"
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = self.get_endpoint(endpoint_id)
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
            "revealed": secret.revealed,
            "secretHint": secret_hint(secret.secret),
            "createdAt": secret.created_at,
            "rotatedAt": secret.rotated_at,
            "previousSecretExpiresAt": secret.previous_secret_expires_at,
        }
    ).data


class SigningSecretView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ}

    @extend_schema(
        responses={200: SigningSecretOutput, 403: RESTRICTED_SECRET}, operation_id="webhook_secret_retrieve"
    )
    def get(self, request: Request) -> Response:
        principal = self.principal
        secret, shown = services.signing_secret_reveal(
            tenant=principal.tenant,
            may_reveal=WEBHOOKS_WRITE in principal.scopes,
            only=principal.workflow_ids,
        )
        return Response(_signing_secret_body(secret, shown))


class SigningSecretRotateView(ApiView):
    required_scopes = {"POST": WEBHOOKS_WRITE}

    @extend_schema(
        request=RotateSecretInput,
        responses={200: SigningSecretOutput, 403: RESTRICTED_SECRET},
        operation_id="webhook_secret_rotate",
    )
    def post(self, request: Request) -> Response:
        data = RotateSecretInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret, shown = services.signing_secret_rotate(
            tenant=self.principal.tenant,
            old_secret_valid_seconds=data.validated_data["expiresInSeconds"],
            only=self.principal.workflow_ids,
        )
        return Response(_signing_secret_body(secret, shown))


class ExecutionWebhooksView(ApiView):
    required_scopes = {"GET": WEBHOOKS_READ}

    @extend_schema(
        responses=DELIVERY_PAGE, parameters=PAGE_PARAMETERS, operation_id="executions_webhooks_list"
    )
    def get(self, request: Request, execution_id: str) -> Response:
        execution = self.get_execution(execution_id)
        rows = selectors.delivery_list_for_execution(tenant=self.principal.tenant, execution_id=execution.id)
        return self.paginate(rows, DeliveryOutput)


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
        delivery = selectors.delivery_get(
            tenant=self.principal.tenant,
            delivery_id=id_or_404(delivery_id, prefix="msg", noun="webhook delivery"),
            only=self.principal.workflow_ids,
        )
        delivery = services.delivery_redeliver(delivery=delivery)
        return Response(DeliveryOutput(delivery).data, status=202)
