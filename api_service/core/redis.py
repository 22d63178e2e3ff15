"""The api's Redis connection (live progress, rate limits)."""

from __future__ import annotations

from functools import cache

from django.conf import settings


@cache
def redis_client():  # redis-py clients are untyped enough
    import redis

    # Short timeouts: a Redis outage must degrade requests, not hang them.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
