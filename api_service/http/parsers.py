"""Body parsers: JSON nested at most API_MAX_JSON_DEPTH levels, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes.

The depth is bounded once, here, where text becomes data: everything after
(validation, copying, storing, the run spec sent to a worker) may recurse
over what a client sent without ever meeting Python's recursion limit.
The same loader serves JSON bodies, JSON inside multipart fields and the
Idempotency-Key fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, parsers

from api_service.core.errors import request_too_large


class InvalidJson(exceptions.ParseError):
    error_type = "invalid_json"


class JsonTooDeep(InvalidJson):
    error_type = "json_too_deep"


class InvalidMultipart(exceptions.ParseError):
    error_type = "invalid_multipart"


def max_json_depth() -> int:
    return settings.API_MAX_JSON_DEPTH


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def exceeds_depth(value: Any, limit: int) -> bool:
    """Whether objects/arrays nest deeper than `limit`; iterative, so any depth is safe to ask about."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def json_loads_bounded(text: str | bytes, *, what: str = "The request body") -> Any:
    """json.loads, refusing NaN/Infinity and nesting deeper than the bound (JsonTooDeep, a 400)."""
    limit = max_json_depth()
    too_deep = JsonTooDeep(
        f"{what} nests JSON objects/arrays deeper than {limit} levels; flatten it.",
    )
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"{what} is not valid JSON: {exc}") from None
    if exceeds_depth(value, limit):
        raise too_deep
    return value


class BoundedJSONParser(parsers.JSONParser):
    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            raise request_too_large()  # refused before reading a byte of it
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise request_too_large()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise InvalidJson(f"The request body is not valid {encoding} text.") from None
        return json_loads_bounded(text)


class BoundedMultiPartParser(parsers.MultiPartParser):
    """Multipart errors get their own type; too much non-file data is the JSON 413."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except exceptions.ParseError as exc:
            reason = str(exc.detail).removeprefix("Multipart form parse error - ")
            raise InvalidMultipart(f"The multipart body is malformed: {reason}") from None
        except RequestDataTooBig:
            raise request_too_large() from None
        except TooManyFieldsSent:
            raise InvalidMultipart("The form has too many fields.") from None
        except MultiPartParserError as exc:
            raise InvalidMultipart(f"The multipart body is malformed: {exc}") from None
