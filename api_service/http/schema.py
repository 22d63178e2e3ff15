"""The OpenAPI document tells the truth: every error an operation can answer, in the one error shape.

The errors come from the policy each view declares (key, scope, rate limit,
Idempotency-Key, body parsing, path ids), so they are added here for every
operation instead of being repeated, and possibly forgotten, on each view.
A view lists only its own particular answers (a cancel's 409, say).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from api_service.core.pagination import NewestFirstCursor
from api_service.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from api_service.http.idempotency import MAX_KEY_LENGTH


class ErrorDetail(serializers.Serializer):
    type = serializers.CharField(help_text="Stable, machine-readable: see docs/api.md.")
    message = serializers.CharField(help_text="What went wrong and what to change, for a person.")


class ErrorOutput(serializers.Serializer):
    """{"error": {"type", "message", ...}}; some types add fields (`fields`, `nodeErrors`, `limit`)."""

    error = ErrorDetail()


def paginated(item: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """A cursor page of `item`: {"items": [...], "next": url|null, "previous": url|null}."""
    return inline_serializer(
        name=name,
        fields={
            "items": item(many=True),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter(
        NewestFirstCursor.cursor_query_param,
        str,
        description="The cursor of a `next` or `previous` link, as it is.",
    ),
    OpenApiParameter(
        NewestFirstCursor.page_size_query_param,
        {"type": "integer", "minimum": 1, "maximum": NewestFirstCursor.max_page_size},
        description=f"Items per page, 1 to {NewestFirstCursor.max_page_size} "
        f"(default {NewestFirstCursor.page_size}).",
    ),
]

RATE_LIMIT_HEADERS = {
    name: {"schema": {"type": "string"}, "description": description}
    for name, description in [
        ("X-RateLimit-Limit", "Requests per minute this key may make."),
        ("X-RateLimit-Remaining", "Requests left in the current window."),
        ("X-RateLimit-Reset", "Unix time at which the window has room again."),
        ("RateLimit-Policy", "The same limit, as the IETF RateLimit header fields."),
        ("RateLimit", "Remaining and seconds to reset, as the IETF RateLimit header fields."),
    ]
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
}


def _errors_for(*, method: str, has_path_ids: bool, has_query: bool, idempotent: bool) -> dict[str, str]:
    """Status code -> the error types that policy can give it."""
    has_body = method in ("POST", "PUT", "PATCH")
    errors = {
        "401": "`authentication_required`, `invalid_api_key`, `key_expired`",
        "403": "`insufficient_scope`",
        "406": "`not_acceptable`",
        "429": "`rate_limit_exceeded` (with `Retry-After`)",
        "500": "`internal_error`",
    }
    bad_request = []
    if has_body:
        bad_request += ["`invalid_request`", "`invalid_json`", "`json_too_deep`", "`invalid_multipart`"]
        errors["413"] = "`request_too_large`"
        errors["415"] = "`unsupported_media_type`"
    if has_query:
        bad_request += ["`invalid_cursor`", "`invalid_limit`"]
    if idempotent:
        bad_request += ["`invalid_idempotency_key`", "`json_too_deep`"]
        errors["409"] = "`idempotency_in_progress`, `idempotency_conflict` (with `Retry-After`)"
        errors["422"] = "`idempotency_key_reused`"
        errors.setdefault("413", "`request_too_large`")
    if bad_request:
        errors["400"] = ", ".join(dict.fromkeys(bad_request))
    if has_path_ids:
        errors["404"] = "`not_found`: no such id for this key (or a malformed one)"
    return errors


class ApiAutoSchema(AutoSchema):
    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return operation
        if getattr(self.view, "required_scopes", None) is None:
            if getattr(self.view, "public_rate_limited", False):  # a trigger URL: its own errors
                _add_headers(operation["responses"])
            return operation  # the public schema and docs pages
        parameters = operation.setdefault("parameters", [])
        idempotent = method.upper() == "POST" and getattr(self.view, "idempotent_post", False)
        if idempotent:
            parameters.append(
                {
                    "name": IDEMPOTENCY_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Retry safely: the first answer is replayed for 24 hours.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                }
            )
        errors = _errors_for(
            method=method.upper(),
            has_path_ids=any(p["in"] == "path" for p in parameters),
            has_query=any(p["in"] == "query" for p in parameters),
            idempotent=idempotent,
        )
        responses = operation["responses"]
        for code, types in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorOutput, code)
                responses[code]["description"] = types
        _add_headers(responses)
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def _add_headers(responses: dict[str, Any]) -> None:
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.update(RATE_LIMIT_HEADERS)
        if code in ("409", "429"):
            headers.update(RETRY_AFTER)
