"""One error shape for every response: {"error": {"type", "message", ...}}.

Each ApiError carries a stable `type`, an HTTP status and optional headers.
DRF's own exceptions are mapped onto the same shape here, so no view
renders an error by hand and no traceback ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    type = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if type:
            self.type = type
        if status:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message, **self.details}}


class NotFound(ApiError):
    status = 404
    type = "not_found"


class Conflict(ApiError):
    status = 409
    type = "conflict"


class GraphInvalid(ApiError):
    """A graph that cannot run: every problem, node errors keyed by node id."""

    status = 400
    type = "invalid_graph"


class RequestTooLarge(ApiError):
    status = 413
    type = "request_too_large"


def request_too_large() -> RequestTooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return RequestTooLarge(
        f"The request body is larger than {limit} bytes; send less (images go to POST /v1/files).",
        details={"limitBytes": limit},
    )


def django_request_error(exc: Exception) -> ApiError | None:
    """Django's own refusals of a request body, which would otherwise be an HTML 400."""
    if isinstance(exc, RequestDataTooBig):
        return request_too_large()
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return ApiError(f"The request has too many form fields or files: {exc}", type="invalid_multipart")
    if isinstance(exc, SuspiciousOperation):
        return ApiError("The request was refused as malformed.", type="bad_request")
    return None


DRF_TYPES: dict[type[drf.APIException], str] = {
    drf.NotAuthenticated: "authentication_required",
    drf.AuthenticationFailed: "invalid_api_key",
    drf.PermissionDenied: "insufficient_scope",
    drf.ParseError: "invalid_json",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.NotFound: "not_found",
    drf.Throttled: "rate_limited",
    drf.ValidationError: "invalid_request",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = django_request_error(exc) or exc
    if isinstance(exc, ApiError):
        return Response(exc.body(), status=exc.status, headers=exc.headers)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    if isinstance(exc, drf.APIException):
        error_type = getattr(exc, "error_type", None) or next(
            (name for cls, name in DRF_TYPES.items() if isinstance(exc, cls)), "error"
        )
        body: dict[str, Any] = {"type": error_type, "message": _message(exc)}
        if isinstance(exc, drf.ValidationError):
            body["fields"] = exc.detail
            body["message"] = "The request body is invalid: " + _first_field_error(exc.detail)
        headers = {}
        auth_header, wait = getattr(exc, "auth_header", None), getattr(exc, "wait", None)
        if auth_header:
            headers["WWW-Authenticate"] = str(auth_header)
        if wait:
            headers["Retry-After"] = str(int(wait))
        return Response({"error": body}, status=exc.status_code, headers=headers)
    return None  # a real bug: Django logs it and answers 500 via handler500


def _message(exc: drf.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        return "Invalid request."
    return str(detail)


def _first_field_error(detail: Any, path: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_field_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0], path)
    return f"{path}: {detail}" if path else str(detail)


def json_404(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": {"type": "not_found", "message": "No such endpoint."}}, status=404)


def json_500(request: Any) -> JsonResponse:
    return JsonResponse(
        {"error": {"type": "internal_error", "message": "An internal error occurred; it has been logged."}},
        status=500,
    )
