"""Per-key request limits: a sliding one-minute window in Redis, checked atomically by a Lua script.

Every api process shares the same Redis state, so the limit holds across
processes. If Redis does not answer, requests are let through (fail open)
and the response carries no rate-limit headers: the daily quota, enforced
in PostgreSQL, still holds exactly.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

from api_service.core.errors import ApiError

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60

# KEYS[1] = window key; ARGV = now (ms), window (ms), limit, member id.
# Returns {allowed (0/1), count in window after this request, ms until the oldest entry leaves}.
SLIDING_WINDOW = """
local key, member = KEYS[1], ARGV[4]
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, member)
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', key, window)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, count, reset}
"""


class RateLimited(ApiError):
    status = 429
    type = "rate_limit_exceeded"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + self.reset_seconds),
            # IETF httpapi-ratelimit-headers: quota per window, remaining and seconds to reset.
            "RateLimit-Policy": f'"per-key";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"per-key";r={self.remaining};t={self.reset_seconds}',
        }


def rate_limit_hit(*, redis, key_id: str, limit: int) -> RateDecision | None:
    """Count one request for this key; None when Redis is unavailable (fail open)."""
    now_ms = int(time.time() * 1000)
    try:
        allowed, count, reset_ms = redis.eval(
            SLIDING_WINDOW, 1, f"crucible:rl:{key_id}", now_ms, WINDOW_SECONDS * 1000, limit, uuid.uuid4().hex
        )
    except Exception:
        log.warning("rate limiter unavailable (Redis did not answer); letting the request through")
        return None
    return RateDecision(
        allowed=bool(allowed),
        limit=limit,
        remaining=max(0, limit - int(count)),
        reset_seconds=max(1, math.ceil(int(reset_ms) / 1000)),
    )
