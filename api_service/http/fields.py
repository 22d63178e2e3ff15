"""A JSON serializer field held to the parsers' depth bound, for JSON sent inside a multipart form too."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api_service.http.parsers import (
    InvalidJson,
    JsonTooDeep,
    exceeds_depth,
    json_loads_bounded,
    max_json_depth,
)


class BoundedJSONField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, (str, bytes)) and (self.binary or getattr(data, "is_json_string", False)):
            try:
                return json_loads_bounded(data, what=f"`{self.field_name}`")
            except JsonTooDeep:
                raise
            except InvalidJson:
                self.fail("invalid")
        if exceeds_depth(data, max_json_depth()):
            raise JsonTooDeep(f"`{self.field_name}` nests deeper than {max_json_depth()} levels; flatten it.")
        return super().to_internal_value(data)
