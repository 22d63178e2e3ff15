"""Endpoint policy: a view declares `required_scopes` by HTTP method; keys without it get 403."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api_service.accounts.authentication import ApiPrincipal


class HasScope(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            return True  # public endpoint (docs, schema)
        scope = scopes.get(request.method)
        if scope is None and request.method in ("HEAD", "OPTIONS"):
            scope = scopes.get("GET")
        if not isinstance(request.user, ApiPrincipal):
            raise exceptions.NotAuthenticated("Send an API key: 'Authorization: Bearer sk_live_...'.")
        if scope is not None and scope not in request.user.scopes:
            raise exceptions.PermissionDenied(f"This API key lacks the {scope!r} scope.")
        return True
