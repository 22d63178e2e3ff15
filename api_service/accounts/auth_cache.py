"""Keys the api process has just authenticated, kept a few seconds so a hot key skips the database.

Every request still reads one Redis counter, the auth generation, which any write to keys, tenants or
plans bumps (`auth_cache_invalidate`): an entry from an older generation is never used, so revoking a
key or deactivating a tenant takes effect on the next request in every process. An entry also expires
after AUTH_CACHE_SECONDS, and with Redis unreachable nothing is cached: each request reads the key row.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict

from django.conf import settings

from api_service.accounts.models import ApiKey
from api_service.core.redis import redis_client

log = logging.getLogger(__name__)
GENERATION_KEY = "crucible:auth:generation"
MAX_ENTRIES = 4096

_lock = threading.Lock()
_entries: OrderedDict[str, tuple[ApiKey, bytes, float]] = OrderedDict()


def auth_generation() -> bytes | None:
    """The current generation, or None when the cache must not be used (disabled, or Redis is down)."""
    if settings.AUTH_CACHE_SECONDS <= 0:
        return None
    try:
        value = redis_client().get(GENERATION_KEY)
    except Exception:
        return None
    return value if value is not None else b"0"


def cached_key(key_hash: str, generation: bytes | None) -> ApiKey | None:
    """A private copy of the key (with its tenant and plan) if one of this generation is fresh."""
    if generation is None:
        return None
    with _lock:
        entry = _entries.get(key_hash)
        if entry is None:
            return None
        api_key, seen_generation, fetched = entry
        if seen_generation != generation or time.monotonic() - fetched > settings.AUTH_CACHE_SECONDS:
            del _entries[key_hash]
            return None
        _entries.move_to_end(key_hash)
    # Requests run in threads: each gets its own instance, never the shared one.
    return copy.deepcopy(api_key)


def remember_key(key_hash: str, api_key: ApiKey, generation: bytes | None) -> None:
    if generation is None:
        return
    with _lock:
        _entries[key_hash] = (copy.deepcopy(api_key), generation, time.monotonic())
        _entries.move_to_end(key_hash)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def auth_cache_invalidate() -> None:
    """After any change to keys, tenants or plans: every process reads them afresh.

    If Redis cannot be told, entries still lapse after AUTH_CACHE_SECONDS (and none is used meanwhile
    by a process that cannot read the generation either)."""
    with _lock:
        _entries.clear()
    try:
        redis_client().incr(GENERATION_KEY)
    except Exception:
        log.warning(
            "could not bump the auth generation; cached keys lapse within %s s", settings.AUTH_CACHE_SECONDS
        )
