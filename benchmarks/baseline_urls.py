"""A plain DRF view with token auth that reads one execution row: what poll is compared with."""

from __future__ import annotations

from django.urls import path
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class PlainExecutionView(APIView):
    authentication_classes = (TokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request, execution_id: str) -> Response:
        from api_service.workflows.models import Execution

        row = (
            Execution.objects.filter(pk=execution_id).values("id", "status", "created_at", "outputs").first()
        )
        return Response(row)


urlpatterns = [path("plain/<str:execution_id>", PlainExecutionView.as_view())]
