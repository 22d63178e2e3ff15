from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import USAGE_READ
from api_service.accounts.selectors import usage_summary
from api_service.http.views import ApiView


class UsageView(ApiView):
    required_scopes = {"GET": USAGE_READ}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="usage_retrieve")
    def get(self, request: Request) -> Response:
        return Response(usage_summary(tenant=self.principal.tenant, only=self.principal.workflow_ids))
