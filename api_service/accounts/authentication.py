"""Bearer API key authentication: format and checksum first, then one indexed hash lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api_service.accounts import keys
from api_service.accounts.auth_cache import auth_generation, cached_key, remember_key
from api_service.accounts.models import ApiKey, Tenant

LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyRejected(exceptions.AuthenticationFailed):
    def __init__(self, message: str, error_type: str = "invalid_api_key") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class ApiPrincipal:
    """request.user for API calls: the tenant acting through one key."""

    api_key: ApiKey

    @property
    def tenant(self) -> Tenant:
        return self.api_key.tenant

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.api_key.scopes)

    @property
    def workflow_ids(self) -> list[str] | None:
        """The workflows this key is restricted to, or None for all of the tenant's."""
        return list(self.api_key.allowed_workflow_ids) or None

    is_authenticated = True
    is_anonymous = False


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != b"bearer" or len(header) != 2:
            raise KeyRejected("Send the API key as 'Authorization: Bearer sk_live_...'.")
        secret = header[1].decode("ascii", errors="replace")
        if not keys.is_well_formed(secret):
            raise KeyRejected("The API key is malformed (wrong format or checksum). Check for a copy error.")
        key_hash = keys.hash_key(secret)
        generation = auth_generation()  # read before the row, so a change in between is never cached
        api_key = cached_key(key_hash, generation)
        if api_key is None:
            api_key = ApiKey.objects.select_related("tenant__plan").filter(key_hash=key_hash).first()
            if api_key is not None:
                remember_key(key_hash, api_key, generation)
        if api_key is None or api_key.revoked_at is not None or not api_key.tenant.is_active:
            raise KeyRejected("The API key is not valid.")
        now = timezone.now()
        if api_key.expires_at is not None and api_key.expires_at <= now:
            raise KeyRejected("The API key has expired.", "key_expired")
        if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
            # At most one write a minute per key, so hot keys do not hammer the row.
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
            remember_key(key_hash, api_key, generation)
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="crucible"'
