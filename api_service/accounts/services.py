"""Writes for tenants and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from api_service.accounts import keys
from api_service.accounts.models import ApiKey, Tenant
from api_service.accounts.scopes import ALL_SCOPES, invalid_scopes


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def tenant_create(*, name: str, slug: str | None = None) -> Tenant:
    return Tenant.objects.create(name=name, slug=slug or slugify(name))


def tenant_get_or_create(*, slug: str, name: str | None = None) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return tenant


def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    scopes = list(ALL_SCOPES) if scopes is None else scopes
    bad = invalid_scopes(scopes)
    if bad:
        raise ValueError(f"Unknown scope(s): {', '.join(bad)}. Valid scopes: {', '.join(ALL_SCOPES)}.")
    secret = keys.generate_key()
    prefix, last4 = keys.display_parts(secret)
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        key_hash=keys.hash_key(secret),
        prefix=prefix,
        last4=last4,
        scopes=scopes,
        expires_at=expires_at,
    )
    return CreatedKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
