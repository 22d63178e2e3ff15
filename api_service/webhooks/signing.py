"""Webhook secrets and Standard Webhooks signatures (https://www.standardwebhooks.com/)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    """`whsec_` + base64 of 32 random bytes, the form every Standard Webhooks library reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_hint(secret: str) -> str:
    return f"{secret[:10]}…" if secret else ""


def signature_header(*, secrets_in_use: list[str], message_id: str, at: datetime, body: str) -> str:
    """`v1,<sig>` per secret, space-separated: during a rotation window both the new and old secret sign."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_in_use if secret)
