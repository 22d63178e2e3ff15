from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from api_service.accounts.views import UsageView
from api_service.catalog.views import ModelListView, NodeDetailView, NodeListView
from api_service.files.views import FileUploadView
from api_service.fleet.admin_views import fleet_page
from api_service.fleet.views import PoolListView
from api_service.webhooks.trigger_views import (
    HookView,
    TriggerCollectionView,
    TriggerDetailView,
    TriggerRotateView,
)
from api_service.webhooks.views import (
    DeliveryRedeliverView,
    EndpointCollectionView,
    EndpointDetailView,
    EndpointRotateSecretView,
    ExecutionWebhooksView,
    SigningSecretRotateView,
    SigningSecretView,
)
from api_service.workflows.event_stream import execution_events
from api_service.workflows.views import (
    ExecutionCancelView,
    ExecutionListView,
    ExecutionPollView,
    WorkflowCollectionView,
    WorkflowDetailView,
    WorkflowExecuteView,
    WorkflowExecutionsView,
)

handler404 = "api_service.core.errors.json_404"
handler500 = "api_service.core.errors.json_500"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class PublicSchemaView(SpectacularJSONAPIView):
    authentication_classes = []


class PublicDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its init script served as a file: the page runs under a CSP with no inline script."""

    authentication_classes = []


urlpatterns = [
    path("healthz", healthz),
    path("admin/fleet/", admin.site.admin_view(fleet_page), name="admin-fleet"),
    path("admin/", admin.site.urls),
    path("v1/openapi.json", PublicSchemaView.as_view(), name="openapi"),
    path("docs", PublicDocsView.as_view(url_name="openapi"), name="docs"),
    path("v1/workflows", WorkflowCollectionView.as_view()),
    path("v1/workflows/executions/<str:execution_id>/poll", ExecutionPollView.as_view()),
    path("v1/workflows/executions/<str:execution_id>/events", execution_events),
    path("v1/workflows/executions/<str:execution_id>/cancel", ExecutionCancelView.as_view()),
    path("v1/workflows/executions/<str:execution_id>/webhooks", ExecutionWebhooksView.as_view()),
    path("v1/workflows/<str:workflow_id>", WorkflowDetailView.as_view()),
    path("v1/workflows/<str:workflow_id>/execute", WorkflowExecuteView.as_view()),
    path("v1/workflows/<str:workflow_id>/executions", WorkflowExecutionsView.as_view()),
    path("v1/workflows/<str:workflow_id>/triggers", TriggerCollectionView.as_view()),
    path("v1/workflows/<str:workflow_id>/triggers/<str:trigger_id>", TriggerDetailView.as_view()),
    path("v1/workflows/<str:workflow_id>/triggers/<str:trigger_id>/rotate", TriggerRotateView.as_view()),
    path("v1/hooks/<str:token>", HookView.as_view()),
    path("v1/executions", ExecutionListView.as_view()),
    path("v1/files", FileUploadView.as_view()),
    path("v1/nodes", NodeListView.as_view()),
    path("v1/nodes/<str:class_type>", NodeDetailView.as_view()),
    path("v1/models", ModelListView.as_view()),
    path("v1/pools", PoolListView.as_view()),
    path("v1/usage", UsageView.as_view()),
    path("v1/webhook-endpoints", EndpointCollectionView.as_view()),
    path("v1/webhook-endpoints/<str:endpoint_id>", EndpointDetailView.as_view()),
    path("v1/webhook-endpoints/<str:endpoint_id>/rotate-secret", EndpointRotateSecretView.as_view()),
    path("v1/webhook-secret", SigningSecretView.as_view()),
    path("v1/webhook-secret/rotate", SigningSecretRotateView.as_view()),
    path("v1/webhook-deliveries/<str:delivery_id>/redeliver", DeliveryRedeliverView.as_view()),
]
