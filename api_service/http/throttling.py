"""Per-key request limits: a DRF throttle over a sliding one-minute window in Redis (one Lua script).

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
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from api_service.accounts.authentication import ApiPrincipal
from api_service.accounts.limits import tenant_limits
from api_service.core.errors import ApiError
from api_service.core.redis import redis_client

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
    policy: str = "per-key"  # the IETF header's policy name: "per-key", "trigger"

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + self.reset_seconds),
            # IETF httpapi-ratelimit-headers: quota per window, remaining and seconds to reset.
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_seconds}',
        }


def rate_limit_hit(*, redis, key_id: str, limit: int, policy: str = "per-key") -> RateDecision | None:
    """Count one request for this key (an API key, a trigger); None when Redis does not answer (fail open)."""
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
        policy=policy,
    )


class PerKeyRateThrottle(BaseThrottle):
    """The plan's requests-per-minute for the calling key; public (keyless) requests are not counted.

    The decision is kept on the request: the view copies its headers onto
    every answer, and words the 429 with the limit.
    """

    decision: RateDecision | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return True
        limit = tenant_limits(principal.tenant).requests_per_minute
        self.decision = rate_limit_hit(redis=redis_client(), key_id=principal.api_key.pk, limit=limit)
        request.rate_decision = self.decision
        return self.decision is None or self.decision.allowed

    def wait(self) -> float | None:
        return self.decision.reset_seconds if self.decision is not None else None


def rate_limited(decision: RateDecision, *, who: str = "This API key may make") -> RateLimited:
    """The 429 for a refused decision: the limit in the body, Retry-After and the rate-limit headers."""
    return RateLimited(
        f"{who} {decision.limit} requests per minute; retry in {decision.reset_seconds} s.",
        details={"limit": decision.limit},
        headers={**decision.headers(), "Retry-After": str(decision.reset_seconds)},
    )
