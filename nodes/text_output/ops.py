"""PreviewAny and SaveText: a value as text, stored as a file and reported inline (size-capped)."""

from __future__ import annotations

import json
import math
from typing import Any

from nodes.context import NodeContext
from nodes.schema import NodeResult

INLINE_TEXT_BYTES = 64 * 2**10  # what poll carries inline; the whole text is in the stored file
CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}


def inline_text(text: str) -> tuple[str, bool]:
    """The text cut to INLINE_TEXT_BYTES of UTF-8 (never inside a character), and whether it was cut."""
    data = text.encode()
    if len(data) <= INLINE_TEXT_BYTES:
        return text, False
    return data[:INLINE_TEXT_BYTES].decode(errors="ignore"), True


def render(value: Any) -> tuple[str, str]:
    """(text, format) for any node value: strings as they are, numbers and booleans as ComfyUI shows
    them, JSON-able values as indented JSON, anything else (a tensor, a model) as its repr."""
    if isinstance(value, str):
        return value, "txt"
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value), "txt"
    try:
        return json.dumps(value, indent=4, ensure_ascii=False, allow_nan=False), "json"
    except (TypeError, ValueError):
        return str(value), "txt"


def _text_output(ctx: NodeContext, text: str, fmt: str, prefix: str) -> dict[str, Any]:
    data = text.encode()
    shown, truncated = inline_text(text)
    return ctx.save_artifact(
        lambda: data,
        content_type=CONTENT_TYPES[fmt],
        extension=fmt,
        prefix=prefix,
        meta={"text": shown, "truncated": truncated, "sizeBytes": len(data)},
    )


def preview_any(ctx: NodeContext, source: Any) -> NodeResult:
    text, fmt = render(source)
    return NodeResult(ui={"text": [_text_output(ctx, text, fmt, "ComfyUI_temp")]})


def save_text(ctx: NodeContext, text: str, filename_prefix: str, format: str) -> NodeResult:
    if format not in CONTENT_TYPES:
        raise ValueError(f"format must be one of {sorted(CONTENT_TYPES)}, got {format!r}.")
    if format == "json":
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"text is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                "fix it or save it with format 'txt'."
            ) from None
    return NodeResult(outputs=(text,), ui={"text": [_text_output(ctx, text, format, filename_prefix)]})
