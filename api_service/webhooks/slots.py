"""Bounded concurrency per receiver: a few Redis slot keys per endpoint (or ad-hoc origin), by SET NX.

A slot expires by itself, so a worker that died never keeps one. Without Redis, sending goes on
unbounded rather than stopping (the delivery rows stay the source of truth).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from api_service.core.redis import redis_client

log = logging.getLogger(__name__)

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Slot:
    key: str | None
    token: str


def slot_target(*, endpoint_id: str | None, url: str) -> str:
    """Whose slots a delivery takes: its endpoint's, or for an ad-hoc URL its receiver's (scheme, host, port).

    Keyed by origin, not by the whole URL: otherwise a new query string would be a new receiver each time.
    """
    if endpoint_id is not None:
        return endpoint_id
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        port = 0
    return f"origin:{scheme}://{(parts.hostname or '').lower()}:{port}"


def slot_keys(target: str) -> list[str]:
    """The Redis keys of `target`'s slots, one per request it may have in flight."""
    return [
        f"crucible:webhook-slot:{target}:{index}"
        for index in range(max(1, settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT))
    ]


def slot_acquire(*, target: str, hold_seconds: int) -> Slot | None:
    """A slot for one in-flight request to `target`, or None when all of them are taken."""
    token = uuid.uuid4().hex
    try:
        client = redis_client()
        for key in slot_keys(target):
            if client.set(key, token, nx=True, ex=hold_seconds):
                return Slot(key=key, token=token)
    except Exception:
        log.warning("webhook concurrency slots unavailable (Redis did not answer); sending anyway")
        return Slot(key=None, token=token)
    return None


def slot_release(slot: Slot) -> None:
    if slot.key is None:
        return
    try:
        redis_client().eval(RELEASE, 1, slot.key, slot.token)
    except Exception:
        log.warning("could not release webhook slot %s; it expires by itself", slot.key)
