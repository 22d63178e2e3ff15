"""API key format: `sk_live_` + 32 random base62 characters + a 6-character checksum.

The checksum lets a mistyped or truncated key be rejected without a database
query (and lets secret scanners recognise a leaked one). Keys are stored only
as an HMAC-SHA256 under API_KEY_HASH_SECRET, with a display prefix and the
last four characters.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

from django.conf import settings

from api_service.core.ids import ALPHABET, base62

KEY_PREFIX = "sk_live_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 4


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate_key() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{body}{_checksum(body)}"


def is_well_formed(key: str) -> bool:
    """Format and checksum only: no database query."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    rest = key[len(KEY_PREFIX) :]
    if any(c not in ALPHABET for c in rest):
        return False
    body, checksum = rest[:RANDOM_LENGTH], rest[RANDOM_LENGTH:]
    return hmac.compare_digest(checksum, _checksum(body))


def hash_key(key: str) -> str:
    return hmac.new(settings.API_KEY_HASH_SECRET.encode(), key.encode(), hashlib.sha256).hexdigest()


def display_parts(key: str) -> tuple[str, str]:
    return key[:DISPLAY_PREFIX_LENGTH], key[-4:]
