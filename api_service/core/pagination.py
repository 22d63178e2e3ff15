"""Cursor pagination, newest first: stable under inserts, O(1) per page.

A cursor is opaque to clients; one that this server did not make, or a
`limit` outside 1..100, is a 400 that says so, never a database error.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.core.errors import ApiError


class NewestFirstCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:  # DRF: a cursor it cannot decode
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or _is_datetime(str(cursor.position))
        if not valid:
            raise ApiError(
                "The cursor is not one this API made; use the `next`/`previous` links as they are.",
                type="invalid_cursor",
            )
        return cursor

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ApiError(
                f"`limit` must be a whole number from 1 to {self.max_page_size} (got {raw[:40]!r}).",
                type="invalid_limit",
            )
        return int(raw)

    def get_paginated_response(self, data: list) -> Response:
        return Response({"items": data, "next": self.get_next_link(), "previous": self.get_previous_link()})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["items", "next", "previous"],
            "properties": {
                "items": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


def _is_datetime(text: str) -> bool:
    try:
        return parse_datetime(text) is not None
    except ValueError:
        return False
