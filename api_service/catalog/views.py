from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_READ
from api_service.catalog import selectors
from api_service.http.views import ApiView


class NodeListView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="nodes_list")
    def get(self, request: Request) -> Response:
        return Response({"items": selectors.node_list(tenant=self.principal.tenant)})


class NodeDetailView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="nodes_retrieve")
    def get(self, request: Request, class_type: str) -> Response:
        return Response(selectors.node_get(class_type=class_type, tenant=self.principal.tenant))


class ModelListView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="models_list")
    def get(self, request: Request) -> Response:
        return Response(selectors.model_list())
