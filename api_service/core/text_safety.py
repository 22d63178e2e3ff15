"""Rejects JSON that PostgreSQL cannot store: NUL characters and lone surrogates."""

from __future__ import annotations

from typing import Any

from api_service.core.errors import ApiError


def _bad_text(text: str) -> bool:
    return "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text)


def _find(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _bad_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _bad_text(str(key)):
                return f"a key in {path}"
            found = _find(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, f"{path}[{index}]")
            if found:
                return found
    return None


def reject_unstorable_text(value: Any, *, field: str) -> None:
    where = _find(value, field)
    if where:
        raise ApiError(
            f"{where} contains a NUL character or an unpaired surrogate, which cannot be stored; remove it.",
            type="invalid_text",
        )
