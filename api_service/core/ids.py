"""Public ids with a type prefix (`wf_`, `exe_`, `key_`...): sortable by creation time."""

from __future__ import annotations

import secrets
import string
import time

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # base62, ASCII-sorted


def base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """prefix + 8 chars of milliseconds + 14 random chars: unique and roughly time-ordered."""
    millis = int(time.time() * 1000)
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(14))
    return f"{prefix}_{base62(millis, 8)}{random_part}"


def is_well_formed_id(value: str, prefix: str) -> bool:
    """Whether `value` could be an id made by new_id(prefix): anything else names nothing (a 404)."""
    body = value.removeprefix(f"{prefix}_")
    return body != value and 0 < len(body) <= 40 and all(char in _ALPHABET_SET for char in body)


_ALPHABET_SET = frozenset(ALPHABET)
