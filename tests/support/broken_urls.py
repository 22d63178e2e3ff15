"""A URLconf with one API view that has a bug, to see what a 500 answer looks like."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_READ, WORKFLOWS_WRITE
from api_service.http.views import ApiView


class BuggyView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "POST": WORKFLOWS_WRITE}

    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug in a view")

    def post(self, request: Request) -> Response:
        raise RuntimeError("a bug in a view")


urlpatterns = [path("v1/buggy", BuggyView.as_view())]
