from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_READ
from api_service.fleet import selectors
from api_service.http.views import ApiView


class PoolListView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="pools_list")
    def get(self, request: Request) -> Response:
        """The gpu pools a workflow may name, with their workers (null while the fleet registry is
        unreachable) and queued executions."""
        return Response({"items": selectors.pool_list()})
