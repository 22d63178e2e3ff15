"""The client's address as the api sees it, also behind proxies (admin login lockouts key on it)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front the address the outermost one saw.

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so the
    client is that many entries from the right; anything further left was written by the client and
    is not trusted. A header shorter than expected (a request that bypassed a proxy) falls back to
    REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    return forwarded[-count]
